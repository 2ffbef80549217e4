"""Routes: the environment's ingress - one Ingress per component at the DESIGN.md URL
`/api/v1/projects/<project>/environments/<env>/{apps|models}/<name>/`, prefix stripped before the
request reaches the component's Service."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.labels import common_labels


@dataclass(frozen=True)
class Route:
    component: str
    k8s_name: str
    prefix: str  # without trailing slash
    service: pulumi.Input[str]
    port: int


@dataclass(frozen=True)
class RoutesArgs:
    project: str
    environment: str
    namespace: pulumi.Input[str]
    host: str
    class_name: str
    routes: list[Route]
    tls_secret: str | None = None


class Routes(pulumi.ComponentResource):
    ingresses: dict[str, k8s.networking.v1.Ingress]

    def __init__(self, name: str, args: RoutesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:routing:Routes", name, None, opts)
        names = [r.component for r in args.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"routes: component names must be unique, got {names}")
        labels = common_labels(args.project, args.environment)
        self.ingresses = {}
        # One Ingress per component (not one shared object): adding or removing a component
        # touches only its own route.
        for route in sorted(args.routes, key=lambda r: r.component):
            self.ingresses[route.component] = k8s.networking.v1.Ingress(
                f"{name}-{route.component}",
                metadata={
                    "name": route.k8s_name,
                    "namespace": args.namespace,
                    "labels": {**labels, "app.kubernetes.io/name": route.k8s_name},
                    "annotations": {
                        # ingress-nginx: match the prefix, forward only what follows it.
                        "nginx.ingress.kubernetes.io/use-regex": "true",
                        "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                        # Tell the component where it is mounted, so its UI can build links.
                        "nginx.ingress.kubernetes.io/x-forwarded-prefix": route.prefix,
                    },
                },
                spec={
                    "ingressClassName": args.class_name,
                    **({"tls": [{"hosts": [args.host], "secretName": args.tls_secret}]} if args.tls_secret else {}),
                    "rules": [
                        {
                            "host": args.host,
                            "http": {
                                "paths": [
                                    {
                                        "path": f"{route.prefix}(/|$)(.*)",
                                        "pathType": "ImplementationSpecific",
                                        "backend": {"service": {"name": route.service, "port": {"number": route.port}}},
                                    }
                                ]
                            },
                        }
                    ],
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
