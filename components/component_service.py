"""ComponentService: one pinned app or model - its ServiceAccount, Deployment, Service, app-config
ConfigMap, NetworkPolicy, with two or more replicas (or an autoscaling minimum of two) a
PodDisruptionBudget, and with `autoscale` a HorizontalPodAutoscaler.

Child names derive from the component's name, never from a list position, so reordering pins
changes no URN. The Deployment's selector never contains the version, so a version change rolls
the pods in place instead of replacing the Deployment.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import manifests
from components.autoscaling import horizontal_pod_autoscaler
from components.manifests import ComponentServiceArgs, resource_args
from components.network_policy import network_policy


class ComponentService(pulumi.ComponentResource):
    service_account: k8s.core.v1.ServiceAccount | None
    service_account_name: Any  # its own account's name, or the stable track's for a canary
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    app_config: k8s.core.v1.ConfigMap
    network_policy: k8s.networking.v1.NetworkPolicy
    disruption_budget: k8s.policy.v1.PodDisruptionBudget | None
    autoscaler: k8s.autoscaling.v2.HorizontalPodAutoscaler | None

    def __init__(self, name: str, args: ComponentServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:workloads:ComponentService", name, None, opts)
        if args.replicas < 1:
            raise ValueError(f"component '{args.component}': replicas must be at least 1, got {args.replicas}")
        # A built image's digest (an Output) comes from the registry: it is a digest by construction.
        if isinstance(args.image, str) and not args.image.split("@", 1)[-1].startswith("sha256:"):
            raise ValueError(f"component '{args.component}': image must be pinned by digest, got {args.image}")
        # Built first: it refuses an ingress class other than gce without the controller's namespace.
        policy = network_policy(args)
        child = pulumi.ResourceOptions(parent=self)

        # The component's identity: the Workload Identity binding of its artifact reads names it.
        # A canary track runs as its stable track's account (the same identity, the same access).
        self.service_account = None
        service_account_name: Any = args.shared_service_account
        if args.shared_service_account is None:
            self.service_account = k8s.core.v1.ServiceAccount(
                f"{name}-service-account", **resource_args(manifests.service_account(args)), opts=child
            )
            service_account_name = self.service_account.metadata.name
        self.service_account_name = service_account_name
        self.app_config = k8s.core.v1.ConfigMap(
            f"{name}-app-config", **resource_args(manifests.app_config_map(args)), opts=child
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            **resource_args(manifests.deployment(args, self.app_config.metadata.name, service_account_name)),
            opts=child,
        )
        # The Service selects what the Deployment selects, read from the Deployment itself.
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            **resource_args(manifests.service(args, self.deployment.spec.selector.match_labels)),
            opts=child,
        )
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy", **resource_args(policy), opts=child
        )
        budget = manifests.disruption_budget(args)
        self.disruption_budget = (
            k8s.policy.v1.PodDisruptionBudget(f"{name}-disruption-budget", **resource_args(budget), opts=child)
            if budget
            else None
        )
        # Scales the Deployment it names (read from the Deployment itself, so it follows it).
        autoscaler = horizontal_pod_autoscaler(args, self.deployment.metadata.name)
        self.autoscaler = (
            k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-autoscaler", **resource_args(autoscaler), opts=child)
            if autoscaler
            else None
        )
        self.register_outputs(
            {
                "deployment": self.deployment.metadata.name,
                "service": self.service.metadata.name,
                "service_account": service_account_name,
            }
        )
