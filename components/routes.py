"""Routes: how requests reach the environment's components at the DESIGN.md URL
`/api/v1/projects/<project>/environments/<env>/{apps|models}/<name>/`, prefix stripped before the
request reaches the component's Service. By default the Gateway API on GKE's Gateway controller
(one Gateway, its HTTP -> HTTPS redirect, an HTTPRoute and a health check policy per component);
or one Ingress per component. The objects come from `components.render` (`routing_objects`,
`component_routes`): this component only declares them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.custom_objects import custom_resource
from components.manifests import resource_args


@dataclass(frozen=True)
class RoutesArgs:
    # Logical name -> manifest; each component's objects are named after it, so adding or
    # removing a component touches only its own.
    objects: dict[str, dict[str, Any]]
    # Objects whose loss is an outage (production's Gateway: its address is in DNS).
    protected: frozenset[str] = field(default_factory=frozenset)


class Routes(pulumi.ComponentResource):
    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: RoutesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:routing:Routes", name, None, opts)
        self.objects = {}
        for logical, manifest in sorted(args.objects.items()):
            child = pulumi.ResourceOptions(parent=self, protect=True if logical in args.protected else None)
            if manifest["kind"] == "Ingress":
                self.objects[logical] = k8s.networking.v1.Ingress(logical, **resource_args(manifest), opts=child)
            else:
                # Gateway API and GKE policy kinds are custom resources (their CRDs ship with GKE).
                self.objects[logical] = custom_resource(logical, manifest, child)
        self.register_outputs({})
