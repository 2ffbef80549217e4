"""SharedGateway: the platform's one external Gateway (GKE's managed global class) that the
environments' routes attach to (`mlops:routing.gateway: gateway-infra/mlops-gateway`), serving
every host one level under the platform's domain with one Google-managed wildcard certificate,
on one reserved address. Its namespace is restricted like the environments'; its HTTPS listener
admits routes only from namespaces labelled for it (the environments that attach label theirs);
plain HTTP is redirected to HTTPS for every host.

The provider is the platform cluster's, passed in (built once by the platform program)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import gateway
from components.custom_objects import custom_resource
from components.edge import Edge, EdgeArgs
from components.gateway import EXTERNAL_CLASS, GATEWAY_NAME, GatewaySite
from components.gcp_names import edge_names
from components.labels import SHARED_GATEWAY_ACCESS, SHARED_GATEWAY_LABEL

NAMESPACE = "gateway-infra"
# What environments put in mlops:routing.gateway to attach to it.
REFERENCE = f"{NAMESPACE}/{GATEWAY_NAME}"
# The platform stack's outputs when it has a shared Gateway (beside components.platform's).
OUTPUT_NAMES = ("gateway", "gateway_domain", "gateway_address", "gateway_dns_records")


def site(project: str, stack: str, domain: str) -> GatewaySite:
    """The shared Gateway as the pure builders see it (names fixed, known offline)."""
    address, certificate_map = edge_names(f"{NAMESPACE}-{stack}")
    return GatewaySite(
        project=project,
        environment=stack,
        namespace=NAMESPACE,
        host=f"*.{domain}",
        gateway_class=EXTERNAL_CLASS,
        certificate_map=certificate_map,
        address=address,
        route_namespaces={
            "from": "Selector",
            "selector": {"matchLabels": {SHARED_GATEWAY_LABEL: SHARED_GATEWAY_ACCESS}},
        },
    )


def namespace_manifest(project: str, stack: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": project, "app.kubernetes.io/managed-by": "pulumi"}
    for mode in ("enforce", "warn", "audit"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}}


@dataclass(frozen=True)
class SharedGatewayArgs:
    project: str  # the platform project's name (labels)
    stack: str
    gcp_project: Any
    domain: str
    labels: dict[str, str]


class SharedGateway(pulumi.ComponentResource):
    reference: str
    address: pulumi.Output[str]
    dns_records: pulumi.Output[list[dict[str, str]]]

    def __init__(self, name: str, args: SharedGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:platform:SharedGateway", name, None, opts)
        shared = site(args.project, args.stack, args.domain)
        # The address is in DNS and the certificate takes a while to issue: never lost to a typo.
        edge = Edge(
            f"{name}-edge",
            EdgeArgs(
                gcp_project=args.gcp_project,
                host=args.domain,
                namespace=f"{NAMESPACE}-{args.stack}",
                labels=args.labels,
                wildcard=True,
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        manifest = namespace_manifest(args.project, args.stack)
        # Deleting the namespace or the Gateway would cut every environment's routes at once.
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=manifest["metadata"], opts=pulumi.ResourceOptions(parent=self, protect=True)
        )
        custom_resource(
            f"{name}-gateway",
            gateway.gateway(shared),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, edge], protect=True),
        )
        custom_resource(
            f"{name}-https-redirect",
            gateway.redirect_route(shared),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        self.reference = REFERENCE
        self.address = edge.address
        self.dns_records = edge.dns_records
        self.register_outputs({"gateway": REFERENCE, "address": self.address, "dns_records": self.dns_records})
