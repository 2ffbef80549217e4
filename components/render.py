"""Environment + component -> the exact arguments and manifests the program declares, without
Pulumi: the program and the tools (diff, status) share these, so they cannot disagree."""

from __future__ import annotations

from typing import Any

from components import manifests
from components.labels import GKE_NODE_POOL_LABEL, WORKER_GROUP_LABEL
from components.manifests import (
    API_KEY_SECRET_NAME,
    ENVIRONMENT_CONFIG_NAME,
    SERVICE_PORT,
    ComponentServiceArgs,
    IngressSite,
    Route,
)
from spec.environment import Environment, ResolvedComponent, effective_resources, route_prefix


def node_selector(env: Environment, group_name: str | None) -> dict[str, str] | None:
    if group_name is None:
        return None
    group = env.worker_groups[group_name]
    if group.existing and group.node_pool and env.config.cluster.is_gke:
        return {GKE_NODE_POOL_LABEL: group.node_pool}
    return {WORKER_GROUP_LABEL: group_name}


def service_args(env: Environment, c: ResolvedComponent, namespace: Any) -> ComponentServiceArgs:
    return ComponentServiceArgs(
        project=env.project,
        environment=env.name,
        namespace=namespace,
        component=c.name,
        k8s_name=c.k8s_name,
        type=c.type,
        version=c.version.id,
        label=c.version.label,
        image=c.image,
        port=c.catalogue.port,
        health_path=c.catalogue.health_path,
        replicas=c.replicas,
        resources=effective_resources(c),
        low_latency_mode=c.low_latency_mode,
        app_config=c.version.app_config or {},
        environment_config=env.config.environment_config,
        environment_config_map=ENVIRONMENT_CONFIG_NAME,
        api_key_secret=API_KEY_SECRET_NAME,
        node_selector=node_selector(env, c.worker_group),
        worker_group=c.worker_group,
    )


def route(env: Environment, c: ResolvedComponent, service: Any) -> Route:
    return Route(
        component=c.name,
        k8s_name=c.k8s_name,
        prefix=route_prefix(env.project, env.name, c),
        service=service,
        port=SERVICE_PORT,
    )


def ingress_site(env: Environment, namespace: Any) -> IngressSite:
    ingress = env.config.ingress
    return IngressSite(
        project=env.project,
        environment=env.name,
        namespace=namespace,
        host=ingress.host,
        class_name=ingress.class_name,
        tls_secret=ingress.tls_secret,
    )


def component_manifests(env: Environment, c: ResolvedComponent) -> dict[str, dict[str, Any]]:
    """Every Kubernetes object the program declares for one pinned component, by Pulumi logical
    name (the same names the program uses, so they line up with a recorded run)."""
    args = service_args(env, c, env.namespace)
    config_map = manifests.app_config_map(args)
    found = {
        f"{c.name}-app-config": config_map,
        f"{c.name}-deployment": manifests.deployment(args, config_map["metadata"]["name"]),
        f"{c.name}-service": manifests.service(args),
    }
    budget = manifests.disruption_budget(args)
    if budget:
        found[f"{c.name}-disruption-budget"] = budget
    site = ingress_site(env, env.namespace)
    found[f"{env.name}-routes-{c.name}"] = manifests.ingress(route(env, c, c.k8s_name), site)
    return found
