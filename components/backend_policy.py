"""Pure builder of a component's GCPBackendPolicy (no Pulumi import): how GKE's Gateway configures
the load balancer's backend of one Service - the Cloud Armor security policy that rate-limits it
(`rate_limit`), and cookie session affinity, so a client keeps reaching the same backend. One
policy per component, whichever of the two it needs; none when it needs neither."""

from __future__ import annotations

from typing import Any

from components.gateway import GKE_NETWORKING, GatewayRoute, GatewaySite
from components.labels import common_labels


def backend_policy(
    route: GatewayRoute,
    site: GatewaySite,
    security_policy: str | None = None,
    session_affinity_ttl: int | None = None,
) -> dict[str, Any] | None:
    """`security_policy`: the Cloud Armor policy's name (`components.security_policy`);
    `session_affinity_ttl`: seconds a load balancer cookie keeps a client on its backend."""
    default: dict[str, Any] = {}
    if security_policy is not None:
        default["securityPolicy"] = security_policy
    if session_affinity_ttl is not None:
        default["sessionAffinity"] = {"type": "GENERATED_COOKIE", "cookieTtlSec": session_affinity_ttl}
    if not default:
        return None
    return {
        "apiVersion": GKE_NETWORKING,
        "kind": "GCPBackendPolicy",
        "metadata": {
            "name": f"{route.k8s_name}-backend",
            "namespace": site.namespace,
            "labels": common_labels(site.project, site.environment),
        },
        "spec": {"default": default, "targetRef": {"group": "", "kind": "Service", "name": route.service}},
    }
