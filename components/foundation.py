"""Foundation: what one environment shares - its namespace (Pod Security Admission `restricted`),
environment config (a ConfigMap, or a Secret when it holds secrets), API key Secret and the
default-deny network policy under which each component allows only its own traffic."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import environment_manifests as manifests
from components.environment_manifests import EnvironmentSite
from components.manifests import resource_args


@dataclass(frozen=True)
class FoundationArgs:
    site: EnvironmentSite
    # YAML text of the environment config: a plain string, or a secret Output when it holds secrets.
    environment_config: pulumi.Input[str]
    environment_config_secret: bool
    api_key: pulumi.Input[str]


class Foundation(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    namespace_name: pulumi.Output[str]
    environment_config: k8s.core.v1.ConfigMap | k8s.core.v1.Secret
    api_key: k8s.core.v1.Secret

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:environment:Foundation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        site = args.site

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", **resource_args(manifests.namespace(site)), opts=child
        )
        self.namespace_name = self.namespace.metadata.name
        if args.environment_config_secret:
            secret_text = pulumi.Output.secret(args.environment_config)
            self.environment_config = k8s.core.v1.Secret(
                f"{name}-environment-config",
                **resource_args(manifests.environment_config_secret(site, self.namespace_name, secret_text)),
                opts=child,
            )
        else:
            if isinstance(args.environment_config, pulumi.Output):
                raise ValueError("environment config: an Output would hide whether it is secret; pass its text")
            self.environment_config = k8s.core.v1.ConfigMap(
                f"{name}-environment-config",
                **resource_args(manifests.environment_config_map(site, self.namespace_name, args.environment_config)),
                opts=child,
            )
        self.api_key = k8s.core.v1.Secret(
            f"{name}-api-key",
            **resource_args(manifests.api_key_secret(site, self.namespace_name, pulumi.Output.secret(args.api_key))),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy", **resource_args(manifests.network_policy(site, self.namespace_name)), opts=child
        )
        self.register_outputs({"namespace": self.namespace_name})
