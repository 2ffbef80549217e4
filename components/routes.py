"""Routes: the environment's ingress - one Ingress per component at the DESIGN.md URL
`/api/v1/projects/<project>/environments/<env>/{apps|models}/<name>/`, prefix stripped before the
request reaches the component's Service."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import manifests
from components.manifests import IngressSite, Route, resource_args


@dataclass(frozen=True)
class RoutesArgs:
    site: IngressSite
    routes: list[Route]


class Routes(pulumi.ComponentResource):
    ingresses: dict[str, k8s.networking.v1.Ingress]

    def __init__(self, name: str, args: RoutesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:routing:Routes", name, None, opts)
        names = [r.component for r in args.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"routes: component names must be unique, got {names}")
        self.ingresses = {}
        # One Ingress per component (not one shared object): adding or removing a component
        # touches only its own route.
        for route in sorted(args.routes, key=lambda r: r.component):
            manifest = manifests.ingress(route, args.site)
            self.ingresses[route.component] = k8s.networking.v1.Ingress(
                f"{name}-{route.component}", **resource_args(manifest), opts=pulumi.ResourceOptions(parent=self)
            )
        self.register_outputs({})
