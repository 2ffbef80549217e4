"""Foundation: what one environment shares - its namespace, environment config, API key and the
network policy that keeps its components private to the namespace and the ingress controller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.labels import common_labels
from components.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET_NAME,
    ENVIRONMENT_CONFIG_KEY,
    ENVIRONMENT_CONFIG_NAME,
    to_yaml,
)


@dataclass(frozen=True)
class FoundationArgs:
    project: str
    environment: str
    namespace: str
    environment_config: dict[str, Any]
    api_key: pulumi.Input[str]
    ingress_controller_namespace: str


class Foundation(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    namespace_name: pulumi.Output[str]
    environment_config: k8s.core.v1.ConfigMap
    api_key: k8s.core.v1.Secret

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:environment:Foundation", name, None, opts)
        labels = common_labels(args.project, args.environment)
        child = pulumi.ResourceOptions(parent=self)

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={
                    **labels,
                    # Pod Security Admission: reject any pod that is not "restricted".
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
            opts=child,
        )
        self.namespace_name = self.namespace.metadata.name
        meta = lambda object_name: k8s.meta.v1.ObjectMetaArgs(  # noqa: E731
            name=object_name, namespace=self.namespace_name, labels=labels
        )

        self.environment_config = k8s.core.v1.ConfigMap(
            f"{name}-environment-config",
            metadata=meta(ENVIRONMENT_CONFIG_NAME),
            data={ENVIRONMENT_CONFIG_KEY: to_yaml(args.environment_config)},
            opts=child,
        )
        self.api_key = k8s.core.v1.Secret(
            f"{name}-api-key",
            metadata=meta(API_KEY_SECRET_NAME),
            type="Opaque",
            string_data={API_KEY_KEY: pulumi.Output.secret(args.api_key)},
            opts=child,
        )
        # Default deny for ingress: only pods of this namespace and the ingress controller reach
        # the components. Kubelet probes are not subject to NetworkPolicy.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=meta("mlops-allow-namespace-and-ingress"),
            spec={
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"podSelector": {}},
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": args.ingress_controller_namespace}
                                }
                            },
                        ]
                    }
                ],
            },
            opts=child,
        )
        self.register_outputs({"namespace": self.namespace_name})
