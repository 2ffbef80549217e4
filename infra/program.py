"""The program's composition: a validated environment in, GKE worker groups and Kubernetes
workloads out, and the stack outputs. Each concept is a ComponentResource in `components/`,
built from the same pure arguments the tooling renders offline (`components.render`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi

from components.component_service import ComponentService
from components.foundation import Foundation, FoundationArgs
from components.manifests import keyed_hash
from components.render import environment_site, ingress_site, route, service_args, worker_group_args
from components.routes import Routes, RoutesArgs
from components.worker_group import WorkerGroup
from infra.config import StackInputs
from infra.providers import kubernetes_provider
from spec.environment import Environment
from spec.worker_types import WORKER_TYPES


def generated_api_key() -> pulumi.Output[str]:
    """An API key made once and kept in the stack's state (a `random` RandomPassword)."""
    import pulumi_random

    generated = pulumi_random.RandomPassword("api-key", length=40, special=False)
    # Secret by construction (not only by the provider's schema), so it is never shown in clear.
    return pulumi.Output.secret(generated.result)


def deploy(inputs: StackInputs) -> dict[str, Any]:
    """Declare the environment; returns the stack outputs to export."""
    env = inputs.env
    provider = kubernetes_provider(env.config.cluster, env.gcp_project)
    # Production (the end of the chain) can never lose its namespace or node pools to a typo.
    protect = env.ends_chain
    api_key = inputs.api_key if inputs.api_key is not None else generated_api_key()

    pools = {
        name: WorkerGroup(name, args, opts=pulumi.ResourceOptions(protect=protect))
        for name, args in worker_group_args(env).items()
    }
    foundation = Foundation(
        env.name,
        FoundationArgs(
            site=environment_site(env),
            environment_config=inputs.environment_config_text,
            environment_config_secret=env.environment_config_secret,
            api_key=api_key,
        ),
        opts=pulumi.ResourceOptions(providers=[provider], protect=protect),
    )
    namespace = foundation.namespace_name
    config_hash = None
    if env.environment_config_secret:
        # A change of secret environment config restarts the pods like any other; the hash on
        # the pod template is keyed with the API key, so it reveals nothing of the secrets.
        keyed = pulumi.Output.all(api_key, inputs.environment_config_text).apply(lambda v: keyed_hash(v[0], v[1]))
        config_hash = pulumi.Output.unsecret(keyed)

    services: dict[str, ComponentService] = {}
    for component in env.components:
        depends = [pools[component.worker_group]] if component.worker_group in pools else []
        args = service_args(env, component, namespace)
        if config_hash is not None:
            args = dataclasses.replace(args, environment_config_hash=config_hash)
        services[component.name] = ComponentService(
            component.name,
            args,
            opts=pulumi.ResourceOptions(
                providers=[provider], depends_on=[foundation.environment_config, foundation.api_key, *depends]
            ),
        )

    Routes(
        f"{env.name}-routes",
        RoutesArgs(
            site=ingress_site(env, namespace),
            routes=[route(env, c, services[c.name].service.metadata.name) for c in env.components],
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )
    outputs = stack_outputs(env, pools)
    outputs["namespace"] = namespace
    if inputs.api_key is None:
        outputs["api_key"] = api_key
    return outputs


def stack_outputs(env: Environment, pools: dict[str, WorkerGroup]) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for name, group in sorted(env.worker_groups.items()):
        entry: dict[str, Any] = {"owned": not group.existing and env.config.cluster.is_gke}
        if group.worker_type:
            entry["worker_type"] = group.worker_type
            entry["machine_type"] = WORKER_TYPES[group.worker_type].machine_type
        if not group.existing:
            entry.update({"size": group.size, "min_size": group.min_size, "max_size": group.max_size})
        if name in pools:
            entry["node_pool"] = pools[name].node_pool.name
        groups[name] = entry
    return {
        "project": env.project,
        "environment": env.name,
        "promotes_to": env.promotes_to,
        # What promotion copies: exactly the pins, in the stack file's order.
        "pins": [{"name": c.name, "type": c.type, "version": c.version.id} for c in env.components],
        "components": {
            c.name: {
                "type": c.type,
                "version": c.version.id,
                "label": c.version.label,
                "replicas": c.replicas,
                "worker_group": c.worker_group,
                "low_latency_mode": c.low_latency_mode,
                "image": c.image,
                "url": env.url(c),
            }
            for c in env.components
        },
        "worker_groups": groups,
    }
