"""The Pulumi program: validated Environment in, GKE worker groups and Kubernetes workloads out.

Only wiring lives here; each concept is a ComponentResource in `components/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.config as pulumi_config

from components.component_service import ComponentService
from components.foundation import Foundation, FoundationArgs
from components.routes import Routes, RoutesArgs
from components.worker_group import WorkerGroup, WorkerGroupArgs
from infra.providers import kubernetes_provider
from spec.environment import NAMESPACE, Environment, build_environment, find_project_root
from spec.errors import ConfigError
from components.render import ingress_site, route, service_args
from spec.worker_types import WORKER_TYPES


def load_from_pulumi() -> Environment:
    """Validate the config the Pulumi CLI passed to this run (raises pulumi.RunError: one line per problem)."""
    values = dict(pulumi_config.CONFIG.get())
    secret_keys = {k for k in values if pulumi_config.is_config_secret(k)}
    parsed = {k: _parse(v) for k, v in values.items()}
    try:
        root = find_project_root(Path.cwd())
        return build_environment(root, pulumi.get_project(), pulumi.get_stack(), parsed, secret_keys)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def _parse(value: Any) -> Any:
    """Config values arrive as strings; structured ones are JSON, as `Config.get_object` reads them."""
    import json

    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return value


def api_key() -> pulumi.Output[str]:
    """The stack's API key: mlops:api_key, or one generated once and kept in the stack's state."""
    configured = pulumi.Config(NAMESPACE).get_secret("api_key")
    if configured is not None:
        return configured
    import pulumi_random

    generated = pulumi_random.RandomPassword("api-key", length=40, special=False)
    # Secret by construction (not only by the provider's schema), so it is never shown in clear.
    key = pulumi.Output.secret(generated.result)
    pulumi.export("api_key", key)
    return key


def deploy(env: Environment) -> None:
    provider = kubernetes_provider(env.config.cluster, env.gcp_project)
    k8s_opts = pulumi.ResourceOptions(providers=[provider])
    # Production (the end of the chain) can never lose its namespace or node pools to a typo.
    protect = env.ends_chain

    pools: dict[str, WorkerGroup] = {}
    if env.config.cluster.is_gke:
        for name, group in sorted(env.worker_groups.items()):
            if group.existing:
                continue
            pools[name] = WorkerGroup(
                name,
                WorkerGroupArgs(
                    cluster=env.config.cluster.name or "",
                    location=env.config.cluster.location or "",
                    gcp_project=str(env.gcp_project),
                    worker_type=group.worker_type or "",
                    size=group.size,
                    min_size=group.min_size,
                    max_size=group.max_size,
                    disk_size_gb=group.disk_size_gb,
                    labels={"mlops.dev/project": env.project, "mlops.dev/environment": env.name},
                ),
                opts=pulumi.ResourceOptions(protect=protect),
            )

    foundation = Foundation(
        env.name,
        FoundationArgs(
            project=env.project,
            environment=env.name,
            namespace=env.namespace,
            environment_config=env.config.environment_config,
            api_key=api_key(),
            ingress_controller_namespace=env.config.ingress.controller_namespace,
        ),
        opts=pulumi.ResourceOptions(providers=[provider], protect=protect),
    )
    namespace = foundation.namespace_name

    services: dict[str, ComponentService] = {}
    for component in env.components:
        depends = [pools[component.worker_group]] if component.worker_group in pools else []
        services[component.name] = ComponentService(
            component.name,
            service_args(env, component, namespace),
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
        opts=k8s_opts,
    )
    _export(env, namespace, pools)


def _export(env: Environment, namespace: pulumi.Output[str], pools: dict[str, WorkerGroup]) -> None:
    pulumi.export("project", env.project)
    pulumi.export("environment", env.name)
    pulumi.export("namespace", namespace)
    pulumi.export("promotes_to", env.promotes_to)
    # What promotion copies: exactly the pins, in the stack file's order.
    pulumi.export("pins", [{"name": c.name, "type": c.type, "version": c.version.id} for c in env.components])
    pulumi.export(
        "components",
        {
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
    )
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
    pulumi.export("worker_groups", groups)


def main() -> None:
    deploy(load_from_pulumi())
