"""Checks of one stack's config that concern the cluster it deploys to: node pools (total sizes,
identity), routing outside GKE, where artifact readers read from, where rate limits apply, and the
production rules on the resolved settings. Each appends one line per problem (file, key, fix);
`spec.environment.build_environment` runs them."""

from __future__ import annotations

from collections.abc import Iterable

from spec.catalogue import CatalogueComponent
from spec.errors import Problem
from spec.project import PROJECT_FILE, SECRET_PLACEHOLDER
from spec.resolved import ResolvedComponent
from spec.schema import StackConfig
from spec.worker_types import pool_zones


def check_node_pools(env_regional: bool, config: StackConfig, display: str, problems: list[Problem]) -> None:
    """Owned worker groups on GKE: sizes are totals (a fixed one must divide across the zones), and
    nodes never run as the Compute Engine default service account."""
    if not config.is_gke:
        return
    owned = {name: group for name, group in config.worker_groups.items() if not group.existing}
    for name, group in owned.items():
        zones = pool_zones(env_regional, group.zones)
        if group.size is not None and group.size % zones:
            lower, upper = group.size - group.size % zones, group.size + zones - group.size % zones
            sizes = " or ".join(str(n) for n in sorted({lower, upper} - {0}))
            problems.append(
                Problem(
                    display,
                    f"mlops:worker_groups.{name}.size",
                    f"{group.size} nodes do not divide across the pool's {zones} zones (GKE runs as many in each): "
                    f"use {sizes}, list the zones: to use, or give min_size and max_size",
                )
            )
    if owned and config.cluster is not None and config.cluster.node_service_account is None:
        problems.append(
            Problem(
                display,
                "mlops:cluster.node_service_account",
                "owned worker groups need a node service account (never the Compute Engine default): name one "
                "with roles/logging.logWriter, monitoring.metricWriter and artifactregistry.reader, or use "
                "mlops:platform, whose stack makes it",
            )
        )


def check_routing(config: StackConfig, display: str, problems: list[Problem]) -> None:
    """Off GKE, a Gateway is another controller's: its class, where its proxies run and a TLS Secret."""
    routing = config.routing
    if routing.kind != "gateway" or config.is_gke:
        return
    missing = [k for k in ("class_name", "controller_namespace", "tls_secret") if getattr(routing, k) is None]
    if missing:
        problems.append(
            Problem(
                display,
                f"mlops:routing.{missing[0]}",
                f"a Gateway outside GKE needs {', '.join(missing)}: the GatewayClass, the namespace of its proxies "
                "and a TLS Secret (every environment serves HTTPS)",
            )
        )


def check_artifacts(
    config: StackConfig, components: Iterable[CatalogueComponent], display: str, problems: list[Problem]
) -> None:
    """A component that reads artifacts on GKE needs the bucket its Workload Identity is granted: the
    platform's, or one named with the cluster. Other clusters have no Workload Identity: nothing is
    granted there, and the component brings its own way to read (or a path inside its image)."""
    if config.cluster is None or not config.cluster.is_gke:
        return
    readers = [c.name for c in components if c.artifacts is not None]
    if readers and config.cluster.artifact_bucket is None:
        problems.append(
            Problem(
                display,
                "mlops:cluster.artifact_bucket",
                f"'{readers[0]}' reads model artifacts (catalogue artifacts.prefix): name the GKE cluster's "
                "artifact bucket here, or use mlops:platform, whose stack makes it",
            )
        )


def setting_key(component: ResolvedComponent, setting: str) -> tuple[str | None, str]:
    """(file if not the stack file, key) where the component's setting gets its value."""
    source = component.settings[setting].source
    if source == "environment":
        return None, f"mlops:settings.{setting}"
    if source == "project":
        return PROJECT_FILE, f"mlops:settings.{setting}"
    return None, f"mlops:components[{component.name}].settings.{setting}"


def _by_key(
    components: Iterable[ResolvedComponent], setting: str
) -> dict[tuple[str | None, str], list[ResolvedComponent]]:
    """Components by the place (file, key) their `setting` comes from: one line per place to fix."""
    found: dict[tuple[str | None, str], list[ResolvedComponent]] = {}
    for component in components:
        found.setdefault(setting_key(component, setting), []).append(component)
    return found


def _names(components: list[ResolvedComponent]) -> str:
    return ", ".join(f"'{c.name}'" for c in components)


def check_production(
    components: list[ResolvedComponent], ends_chain: bool, display: str, problems: list[Problem]
) -> None:
    """The end of the chain runs every component at least twice (an autoscaled one never below 2):
    one line per place to fix."""
    if not ends_chain:
        return
    fixed = [c for c in components if c.autoscale is None and c.min_pods < 2]
    autoscaled = [c for c in components if c.autoscale is not None and c.min_pods < 2]
    for setting, chosen in (("replicas", fixed), ("autoscale", autoscaled)):
        for (_, key), offenders in _by_key(chosen, setting).items():
            first = offenders[0]
            if setting == "replicas":
                runs, needs = f"would run {first.replicas} replica", "replicas >= 2"
                fix, other = f"set {key}: 2 or more", "replicas of 2 or more"
            else:
                runs, needs = f"would autoscale down to {first.min_pods} pod", "at least 2 pods"
                fix, other = f"set {key}.min: 2 or more", "replicas or autoscale min of 2 or more"
            origin = first.settings[setting].source
            if origin != "component":
                fix += f", or a component-level {other}"
            where = (
                "" if origin == "component" else f" ({origin} level{', Pulumi.yaml' if origin == 'project' else ''})"
            )
            problems.append(
                Problem(
                    display,
                    key,
                    f"{_names(offenders)} {runs}{where}; this stack ends the promotion chain "
                    f"(production: no mlops:environment.promotes_to) and needs {needs}: {fix}",
                )
            )


def check_notification_channel(config: StackConfig, display: str, problems: list[Problem]) -> None:
    """`notification_channel` in the environment config labels every alert (the managed
    Alertmanager routes on it): a name, not a secret and not a structure."""
    channel = config.environment_config.get("notification_channel")
    if channel is None:
        return
    if not isinstance(channel, str) or not channel.strip() or channel == SECRET_PLACEHOLDER or len(channel) > 200:
        problems.append(
            Problem(
                display,
                "mlops:environment_config.notification_channel",
                "must be the name of the channel alerts go to (plain text, as the managed Alertmanager's routes "
                "match it), e.g. ml-oncall",
            )
        )


def check_rate_limits(
    config: StackConfig, components: list[ResolvedComponent], display: str, problems: list[Problem]
) -> None:
    """A rate limit is a Cloud Armor security policy on a backend of GKE's external Gateway; it
    applies nowhere else, so elsewhere it is refused rather than silently not enforced."""
    routing = config.routing
    if not config.is_gke:
        reason = "this cluster is not GKE (mlops:cluster.kubeconfig_context)"
    elif routing.kind == "ingress":
        reason = "this stack routes through an Ingress (mlops:routing.kind: ingress)"
    elif routing.internal:
        reason = "this stack's Gateway is internal (mlops:routing.internal)"
    elif routing.class_name is not None:
        reason = f"this stack's Gateway is another controller's (mlops:routing.class_name: {routing.class_name})"
    else:
        return
    for (file, key), limited in _by_key([c for c in components if c.rate_limit is not None], "rate_limit").items():
        where = f" (set in {file})" if file else ""
        problems.append(
            Problem(
                display,
                key,
                f"{_names(limited)}: a rate limit{where} is a Cloud Armor policy on GKE's external Gateway, and "
                f"{reason}: remove rate_limit, or route through GKE's external Gateway",
            )
        )
