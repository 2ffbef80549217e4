"""Environment -> the exact arguments and objects the program declares, without Pulumi: the
program builds its resources from these, and the tooling (`plan`, `diff`, `status`) renders the
same objects offline, so the two cannot disagree (a test compares them for every committed stack)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components import environment_manifests as env_manifests
from components import manifests
from components.autoscaling import horizontal_pod_autoscaler
from components.environment_manifests import EnvironmentSite
from components.labels import COMPONENT_LABEL, GKE_NODE_POOL_LABEL, WORKER_GROUP_LABEL, common_labels
from components.manifests import (
    API_KEY_SECRET_NAME,
    ENVIRONMENT_CONFIG_NAME,
    SECRET_DERIVED,
    Autoscaling,
    Callee,
    ComponentServiceArgs,
)
from components.monitoring import AlertThresholds, MonitoredComponent, alert_rules, pod_monitoring
from components.network_policy import network_policy
from components.node_pools import NODE_POOL_TYPE, WorkerGroupArgs, node_pool
from components.routing import component_routes, protected_routes, routing_objects, traffic_cidrs
from spec.environment import Environment, ResolvedComponent, effective_resources

# Group names of what is not one component's, in a plan.
ENVIRONMENT_GROUP = "_environment"
WORKER_GROUPS = "_worker_groups"


def node_selector(env: Environment, group_name: str | None) -> dict[str, str] | None:
    if group_name is None:
        return None
    group = env.worker_groups[group_name]
    if group.existing and group.node_pool and env.config.is_gke:
        return {GKE_NODE_POOL_LABEL: group.node_pool}
    return {WORKER_GROUP_LABEL: group_name}


# One hash per environment, however many components carry it (the environment is kept alive
# with its hash, so its id is never reused while the entry exists).
_HASHES: dict[int, tuple[Environment, str]] = {}


def environment_config_hash(env: Environment) -> str:
    """What the pod templates carry; for a secret environment config the program computes a
    keyed hash at deploy time, which offline renders show as a placeholder."""
    if env.environment_config_secret:
        return SECRET_DERIVED
    known = _HASHES.get(id(env))
    if known is None or known[0] is not env:
        if len(_HASHES) > 8:
            _HASHES.clear()
        known = _HASHES[id(env)] = (env, manifests.content_hash(env.config.environment_config))
    return known[1]


_CALLERS: dict[int, tuple[Environment, dict[str, tuple[str, ...]]]] = {}


def _callers(env: Environment) -> dict[str, tuple[str, ...]]:
    """Component -> the names of the pinned components whose catalogue `calls` it, once
    per environment (as the hashes above: asking each component would be quadratic)."""
    known = _CALLERS.get(id(env))
    if known is None or known[0] is not env:
        if len(_CALLERS) > 8:
            _CALLERS.clear()
        index: dict[str, set[str]] = {}
        for caller in env.components:
            for name in caller.catalogue.calls:
                index.setdefault(name, set()).add(caller.name)
        known = _CALLERS[id(env)] = (env, {name: tuple(sorted(found)) for name, found in index.items()})
    return known[1]


def service_args(env: Environment, c: ResolvedComponent, namespace: Any) -> ComponentServiceArgs:
    return ComponentServiceArgs(
        project=env.project,
        environment=env.name,
        namespace=namespace,
        component=c.name,
        k8s_name=c.k8s_name,
        type=c.type,
        version=c.version_key if c.built else c.version.id,
        label=None if c.built else c.version.label,
        image=c.image,
        port=c.catalogue.port,
        health_path=c.catalogue.health_path,
        replicas=c.min_pods,
        resources=effective_resources(c),
        low_latency_mode=c.low_latency_mode,
        app_config=c.version.app_config or {},
        environment_config_hash=environment_config_hash(env),
        environment_config_name=ENVIRONMENT_CONFIG_NAME,
        environment_config_secret=env.environment_config_secret,
        api_key_secret=API_KEY_SECRET_NAME,
        node_selector=node_selector(env, c.worker_group),
        worker_group=c.worker_group,
        traffic_cidrs=traffic_cidrs(env),
        traffic_namespace=env.config.routing.controller_namespace,
        # A call to a component this environment does not pin opens nothing.
        calls=tuple(
            Callee(name, env.by_name[name].k8s_name, env.by_name[name].catalogue.port)
            for name in sorted(c.catalogue.calls)
            if name in env.by_name
        ),
        callers=_callers(env).get(c.name, ()),
        artifacts_prefix=c.catalogue.artifacts.prefix if c.catalogue.artifacts else None,
        autoscaling=Autoscaling(a.min, a.max, a.cpu_target_percent) if (a := c.autoscale) else None,
    )


def canary_args(
    env: Environment, c: ResolvedComponent, namespace: Any, stable: ComponentServiceArgs
) -> ComponentServiceArgs:
    """The canary track of a component: its own version (image, app config), Deployment and Service
    (`<name>-canary`), as many pods as its share of the traffic needs (at least one; when the
    stable track autoscales, an autoscaler of its own over that share of the range), the stable
    track's identity; in-cluster callers keep calling the stable Service."""
    assert c.canary is not None and c.pin.canary is not None
    weight = c.pin.canary.weight

    def share(pods: int) -> int:
        return max(1, -(-(pods * weight) // 100))

    replicas = share(stable.replicas)
    autoscaling = None
    if stable.autoscaling is not None:
        a = stable.autoscaling
        autoscaling = Autoscaling(replicas, max(replicas, share(a.max)), a.cpu_target_percent)
    return dataclasses.replace(
        stable,
        k8s_name=f"{c.k8s_name}-canary",
        version=c.canary.id,
        label=c.canary.label,
        image=f"{c.catalogue.image}@{c.canary.digest}",
        app_config=c.canary.app_config or {},
        replicas=replicas,
        autoscaling=autoscaling,
        callers=(),
        track="canary",
        shared_service_account=c.k8s_name,
    )


def environment_site(env: Environment) -> EnvironmentSite:
    return EnvironmentSite(
        project=env.project,
        environment=env.name,
        namespace=env.namespace,
        shared_gateway=env.config.routing.kind == "gateway" and env.config.routing.gateway is not None,
    )


# The platform stack's outputs an environment reads (through a StackReference in the program).
PLATFORM_OUTPUTS = (
    "cluster_name",
    "cluster_location",
    "cluster_project",
    "cluster_endpoint",
    "cluster_ca_certificate",
    "registry",
    "registry_host",
    "artifact_bucket",
    "node_service_account",
)


def platform_placeholders(env: Environment) -> dict[str, str]:
    """What offline renders show for the platform stack's outputs: known only at deploy time."""
    return {key: f"[{key} of {env.config.platform}]" for key in PLATFORM_OUTPUTS}


def worker_group_args(env: Environment, platform: Mapping[str, Any] | None = None) -> dict[str, WorkerGroupArgs]:
    """The worker groups this stack owns as node pools (GKE clusters only), by name. `platform`:
    the platform stack's outputs (the program's), else placeholders."""
    if not env.config.is_gke:
        return {}
    if env.config.cluster is None:
        values = platform if platform is not None else platform_placeholders(env)
        cluster, location = values["cluster_name"], values["cluster_location"]
        gcp_project, service_account = values["cluster_project"], values["node_service_account"]
    else:
        cluster, location = env.config.cluster.name or "", env.config.cluster.location or ""
        gcp_project, service_account = str(env.gcp_project), env.config.cluster.node_service_account
    return {
        name: WorkerGroupArgs(
            cluster=cluster,
            location=location,
            gcp_project=gcp_project,
            worker_type=group.worker_type or "",
            size=group.size,
            min_size=group.min_size,
            max_size=group.max_size,
            disk_size_gb=group.disk_size_gb,
            labels={"mlops.dev/project": env.project, "mlops.dev/environment": env.name},
            service_account=service_account,
            zones=group.zones,
            regional=env.regional,
        )
        for name, group in sorted(env.worker_groups.items())
        if not group.existing
    }


def _versioned(prefix: str, args: ComponentServiceArgs, service_account: Any = None) -> dict[str, dict[str, Any]]:
    config_map = manifests.app_config_map(args)
    return {
        f"{prefix}-app-config": config_map,
        f"{prefix}-deployment": manifests.deployment(args, config_map["metadata"]["name"], service_account),
    }


def versioned_manifests(env: Environment, c: ResolvedComponent) -> dict[str, dict[str, Any]]:
    """The component's objects that carry its (stable) version: its app config and Deployment. A
    change of version alone changes nothing else (tests/test_minimal_change.py holds every other
    object invariant), so `diff` renders only these for it."""
    return _versioned(c.name, service_args(env, c, env.namespace))


def _track(prefix: str, args: ComponentServiceArgs, service_account: Any = None) -> dict[str, dict[str, Any]]:
    """What `ComponentService` declares for one track (as `prefix`), its ServiceAccount aside."""
    found = {
        **_versioned(prefix, args, service_account),
        f"{prefix}-service": manifests.service(args),
        f"{prefix}-network-policy": network_policy(args),
    }
    budget = manifests.disruption_budget(args)
    if budget:
        found[f"{prefix}-disruption-budget"] = budget
    autoscaler = horizontal_pod_autoscaler(args)
    if autoscaler:
        found[f"{prefix}-autoscaler"] = autoscaler
    return found


def component_manifests(env: Environment, c: ResolvedComponent) -> dict[str, dict[str, Any]]:
    """Every Kubernetes object the program declares for one pinned component, by Pulumi logical
    name (the same names the program uses, so they line up with a recorded run)."""
    args = service_args(env, c, env.namespace)
    found = {f"{c.name}-service-account": manifests.service_account(args), **_track(c.name, args)}
    canary_service = None
    if c.canary is not None:
        # The canary track runs as the stable track's ServiceAccount.
        track = canary_args(env, c, env.namespace, args)
        found.update(_track(f"{c.name}-canary", track, c.k8s_name))
        canary_service = track.k8s_name
    found.update(component_routes(env, c, c.k8s_name, canary_service))
    found.update(component_monitoring(env, c))
    return found


# --------------------------------------------------------------------------- monitoring
# Managed Prometheus's CRDs exist on GKE only: elsewhere (kind, minikube) nothing is declared.


def component_monitoring(env: Environment, c: ResolvedComponent) -> dict[str, dict[str, Any]]:
    """The component's PodMonitoring (both tracks), by logical name."""
    if not env.config.is_gke:
        return {}
    labels = {**common_labels(env.project, env.name), "app.kubernetes.io/name": c.k8s_name, COMPONENT_LABEL: c.name}
    monitor = pod_monitoring(
        c.name, c.k8s_name, namespace=env.namespace, environment=env.name, labels=labels, path=c.catalogue.metrics_path
    )
    return {f"{c.name}-pod-monitoring": monitor}


def alert_objects(env: Environment) -> dict[str, dict[str, Any]]:
    """The environment's alert Rules: every component's thresholds (the layered `alerts` setting),
    labelled with the notification channel its environment config names."""
    if not env.config.is_gke or not env.components:
        return {}
    targets = []
    # In name order: reordering pins must not change the object.
    for c in sorted(env.components, key=lambda c: c.name):
        a = c.alerts  # complete: the built-in level sets every threshold
        thresholds = AlertThresholds(
            client_requests_per_minute=a.client_requests_per_minute,
            error_ratio=a.error_ratio,
            canary_error_margin=a.canary_error_margin,
            restarts=a.restarts,
        )
        targets.append(MonitoredComponent(c.name, c.k8s_name, thresholds))
    rules = alert_rules(
        targets,
        namespace=env.namespace,
        environment=env.name,
        labels=common_labels(env.project, env.name),
        notification_channel=env.notification_channel,
    )
    return {f"{env.name}-alert-rules": rules}


def monitoring_objects(env: Environment) -> dict[str, dict[str, Any]]:
    """What the program's `Monitors` declares: each component's PodMonitoring and the Rules."""
    found: dict[str, dict[str, Any]] = {}
    for c in env.components:
        found.update(component_monitoring(env, c))
    found.update(alert_objects(env))
    return found


def environment_objects(env: Environment, api_key: Any, environment_config: Any) -> dict[str, dict[str, Any]]:
    """The Kubernetes objects `Foundation` declares, by logical name, given the API key and the
    environment config text (real values in the program, masks offline)."""
    site = environment_site(env)
    namespace = env.namespace
    config = (
        env_manifests.environment_config_secret(site, namespace, environment_config)
        if env.environment_config_secret
        else env_manifests.environment_config_map(site, namespace, environment_config)
    )
    return {
        f"{env.name}-namespace": env_manifests.namespace(site),
        f"{env.name}-environment-config": config,
        f"{env.name}-api-key": env_manifests.api_key_secret(site, namespace, api_key),
        f"{env.name}-network-policy": env_manifests.network_policy(site, namespace),
    }


@dataclass(frozen=True)
class Declared:
    """One resource the program declares: its Pulumi type and logical name, the group it is
    planned under (a component, `_environment` or `_worker_groups`), its inputs as the Pulumi
    Python SDK takes them (Kubernetes objects: the manifest), and its options."""

    type: str
    name: str
    group: str
    inputs: dict[str, Any]
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)


def declared(env: Environment, api_key: Any, environment_config: Any) -> list[Declared]:
    """Everything the program declares for `env` apart from providers and generated values,
    in the order it declares them."""
    protect = env.ends_chain
    found: list[Declared] = []
    for name, args in worker_group_args(env).items():
        inputs, ignore = node_pool(name, args)
        found.append(Declared(NODE_POOL_TYPE, name, WORKER_GROUPS, inputs, protect, ignore))
    for name, manifest in environment_objects(env, api_key, environment_config).items():
        found.append(Declared(kubernetes_type(manifest), name, ENVIRONMENT_GROUP, manifest, protect))
    for c in env.components:
        for name, manifest in component_manifests(env, c).items():
            found.append(Declared(kubernetes_type(manifest), name, c.name, manifest))
    for name, manifest in routing_objects(env).items():
        found.append(
            Declared(kubernetes_type(manifest), name, ENVIRONMENT_GROUP, manifest, name in protected_routes(env))
        )
    for name, manifest in alert_objects(env).items():
        found.append(Declared(kubernetes_type(manifest), name, ENVIRONMENT_GROUP, manifest))
    return found


def kubernetes_type(manifest: dict[str, Any]) -> str:
    """The Pulumi type token of a manifest: kubernetes:<group or core>/<version>:<Kind>."""
    group, _, version = manifest["apiVersion"].rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{manifest['kind']}"
