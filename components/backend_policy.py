"""Pure builder of a component's GCPBackendPolicy (no Pulumi import): how GKE's Gateway configures
the load balancer's backend of one Service - the Cloud Armor security policy that rate-limits it
(`rate_limit`). None when it needs none. (A sticky canary's cookie is on its route's split:
`gateway.session_affinity_filter`.)"""

from __future__ import annotations

from typing import Any

from components.gateway import GKE_NETWORKING, GatewayRoute, GatewaySite
from components.labels import common_labels


def backend_policy(route: GatewayRoute, site: GatewaySite, security_policy: str | None = None) -> dict[str, Any] | None:
    """`security_policy`: the Cloud Armor policy's name (`components.gcp_names`)."""
    if security_policy is None:
        return None
    default: dict[str, Any] = {"securityPolicy": security_policy}
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
