"""Resolving an environment: project settings + stack config + catalogue -> Environment.

This is the one entry point for validation, used by the Pulumi program (with the config the
Pulumi CLI passes, read through `pulumi.Config`) and by the tooling (with the stack file read
from disk). It reads no stack file itself: checks that span stacks (the promotion chain, a
challenger's parent) are the tooling's (`mlops validate`). Every problem is a `Problem`: one
line naming the file, the key and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from spec.catalogue import CatalogueComponent, Version
from spec.checks import (
    check_artifacts,
    check_node_pools,
    check_notification_channel,
    check_production,
    check_rate_limits,
    check_routing,
)
from spec.errors import ConfigError, Problem, did_you_mean, one_of
from spec.problems import problems as pydantic_problems
from spec.problems import stack_key
from spec.project import (
    CATALOGUE_DIR,
    NAMESPACE,
    PROJECT_FILE,
    load_catalogue,
    load_project,
    read_stack_config,
    stack_file_name,
)
from spec.quantities import parse_quantity
from spec.resolved import (
    SOURCE_DIGEST,
    Environment,
    ResolvedComponent,
    effective_resources,
    k8s_name,
    resolve_settings,
    route_prefix,
)
from spec.schema import DNS_LABEL, SOURCE_VERSION, Pin, ProjectFile, StackConfig
from spec.settings import Settings
from spec.worker_types import WORKER_TYPES, is_region

__all__ = [
    "SOURCE_DIGEST",
    "Environment",
    "ResolvedComponent",
    "build_environment",
    "effective_resources",
    "k8s_name",
    "load_environment",
    "route_prefix",
]

# --------------------------------------------------------------------------- validation


def load_environment(root: Path, stack: str, cache: Any = None) -> Environment:
    """Validate a stack from the files on disk (tooling and tests)."""
    values, secret_keys = read_stack_config(root, stack)
    return build_environment(load_project(root), stack, values, secret_keys, load_catalogue(root, cache))


def build_environment(
    project: ProjectFile,
    stack: str,
    values: Mapping[str, Any],
    secret_keys: Iterable[str],
    catalogue: Mapping[str, CatalogueComponent],
) -> Environment:
    """Validate one environment. `values` are config values keyed as the CLI keys them
    (`mlops:components`, `gcp:project`, ...); project-level config is already merged into them.
    `secret_keys` are the keys whose values are (or hold) secrets."""
    display = stack_file_name(stack)
    secret_keys = set(secret_keys)

    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    # The CLI hands over the project's mlops:settings when the stack file has none: that is the
    # project level, not an environment level of the same values.
    if raw.get("settings") == project.settings.explicit() or raw.get("settings") in (None, {}):
        raw.pop("settings", None)
    if "ingress" in raw:
        # mlops:ingress became mlops:routing: say how to move rather than "unknown key".
        raise ConfigError.one(
            display,
            "mlops:ingress",
            "is now mlops:routing: write mlops:routing: {host: <host>} for GKE's Gateway (HTTPS with a "
            "managed certificate), or {kind: ingress, host, class_name, controller_namespace, tls_secret} "
            "to keep an Ingress (README: Routing)",
        )
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(exc, StackConfig, display, stack_key, raw)) from None

    problems: list[Problem] = []
    gcp_project = (config.cluster.project if config.cluster else None) or values.get("gcp:project")
    if config.environment.promotes_to == stack:
        problems.append(
            Problem(
                display, "mlops:environment.promotes_to", "a stack cannot promote to itself: name the next environment"
            )
        )
    _check_cluster(config, gcp_project, display, problems)
    check_routing(config, display, problems)
    if "mlops:api_key" in values and "mlops:api_key" not in secret_keys:
        problems.append(
            Problem(
                display,
                "mlops:api_key",
                "is stored in plain text: run `pulumi config set --secret mlops:api_key <key>`",
            )
        )
    namespace = f"{project.name}-{stack}"
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        problems.append(
            Problem(
                display, "", f"namespace '{namespace}' (project-stack) is not a valid DNS label: shorten the stack name"
            )
        )
    _check_worker_group_refs(config, project.settings, display, problems)
    regional = config.cluster is None or (config.cluster.is_gke and is_region(config.cluster.location or ""))
    check_node_pools(regional, config, display, problems)
    components = _resolve_pins(config, project.settings, catalogue, display, problems)
    check_artifacts(config, [c.catalogue for c in components], display, problems)
    check_rate_limits(config, components, display, problems)
    check_notification_channel(config, display, problems)
    pinned = {pin.name for pin in config.components}
    for component in components:
        for callee in component.catalogue.calls:
            # A pinned component missing from the catalogue is reported once, at its pin.
            if callee not in catalogue and callee not in pinned:
                problems.append(
                    Problem(
                        str(CATALOGUE_DIR / f"{component.name}.yaml"),
                        "calls",
                        f"no catalogue component '{callee}'{did_you_mean(callee, catalogue)}: "
                        f"name a component of {CATALOGUE_DIR}/ (or remove it)",
                    )
                )
    for name in config.promotion.unverified:
        if name not in {pin.name for pin in config.components}:
            problems.append(
                Problem(
                    display,
                    "mlops:promotion.unverified",
                    f"'{name}' is not pinned in this stack: list only pinned components (or remove the key)",
                )
            )
    if not problems:
        check_production(components, config.environment.promotes_to is None, display, problems)
        for component in components:
            _check_capacity(component, config, display, problems)
    if problems:
        raise ConfigError(problems)
    return Environment(
        project=project.name,
        name=stack,
        config=config,
        project_settings=project.settings,
        components=components,
        gcp_project=gcp_project,
        environment_config_secret=f"{NAMESPACE}:environment_config" in secret_keys,
    )


def _check_cluster(config: StackConfig, gcp_project: Any, display: str, problems: list[Problem]) -> None:
    if config.cluster is not None and config.cluster.is_gke and not gcp_project:
        problems.append(
            Problem(
                display, "gcp:project", "a GKE cluster needs the GCP project: set gcp:project or mlops:cluster.project"
            )
        )


def _check_worker_group_refs(config: StackConfig, project: Settings, display: str, problems: list[Problem]) -> None:
    declared = config.worker_groups
    refs: list[tuple[str, str, str]] = []
    if project.worker_group:
        refs.append((PROJECT_FILE, "mlops:settings.worker_group", project.worker_group))
    if config.settings.worker_group:
        refs.append((display, "mlops:settings.worker_group", config.settings.worker_group))
    for pin in config.components:
        if pin.settings.worker_group:
            refs.append((display, f"mlops:components[{pin.name}].settings.worker_group", pin.settings.worker_group))
    for file, key, group in refs:
        if group not in declared:
            where = "" if file == display else f" (set in {file})"
            problems.append(
                Problem(
                    display,
                    key,
                    f"worker group '{group}'{where} is not declared in this stack{did_you_mean(group, declared)}: "
                    f"add it under mlops:worker_groups as {{worker_type: ..., size: N}} (owned) "
                    "or {existing: true} (a pool that exists already)",
                )
            )


def _resolve_pins(
    config: StackConfig,
    project: Settings,
    catalogue: Mapping[str, CatalogueComponent],
    display: str,
    problems: list[Problem],
) -> list[ResolvedComponent]:
    resolved: list[ResolvedComponent] = []
    seen: dict[str, str] = {}
    for pin in config.components:
        key = f"mlops:components[{pin.name}]"
        k8s = k8s_name(pin.name)
        if k8s in seen:
            clash = "is pinned twice" if seen[k8s] == pin.name else f"has the same Kubernetes name as '{seen[k8s]}'"
            problems.append(Problem(display, key, f"component '{pin.name}' {clash}: keep one pin per component"))
            continue
        seen[k8s] = pin.name
        entry = catalogue.get(pin.name)
        if entry is None:
            problems.append(
                Problem(
                    display,
                    f"{key}.name",
                    f"no catalogue component '{pin.name}'{did_you_mean(pin.name, catalogue)}: "
                    f"add config/components/{pin.name}.yaml or use one of: {one_of(catalogue)}",
                )
            )
            continue
        if entry.type != pin.type:
            problems.append(
                Problem(
                    display,
                    f"{key}.type",
                    f"'{pin.name}' is {'an' if entry.type == 'app' else 'a'} {entry.type} in the catalogue: "
                    f"set type: {entry.type}",
                )
            )
            continue
        if pin.version == SOURCE_VERSION:
            if pin.canary is not None:
                problems.append(Problem(display, f"{key}.canary", "a source build has no canary: pin a version first"))
                continue
            version = _source_version(pin, entry, config, key, display, problems)
            if version is not None:
                resolved.append(
                    ResolvedComponent(pin, entry, version, resolve_settings(project, config.settings, pin.settings))
                )
            continue
        version = entry.find_version(pin.version)
        if version is None:
            reason = entry.no_version(pin.version)
            problems.append(Problem(display, f"{key}.version", f"{reason} (config/components/{pin.name}.yaml)"))
            continue
        canary = _canary_version(pin, entry, version, key, display, problems)
        resolved.append(
            ResolvedComponent(pin, entry, version, resolve_settings(project, config.settings, pin.settings), canary)
        )
    return resolved


def _canary_version(
    pin: Pin, entry: CatalogueComponent, stable: Version, key: str, display: str, problems: list[Problem]
) -> Version | None:
    """The catalogue version a pin's canary runs: another version of the same component."""
    if pin.canary is None:
        return None
    found = entry.find_version(pin.canary.version)
    if found is None:
        problems.append(Problem(display, f"{key}.canary.version", entry.no_version(pin.canary.version)))
        return None
    if found.id == stable.id:
        problems.append(
            Problem(display, f"{key}.canary.version", f"the canary runs {found.id}, the stable version: pick another")
        )
        return None
    return found


def _source_version(
    pin: Pin, entry: CatalogueComponent, config: StackConfig, key: str, display: str, problems: list[Problem]
) -> Version | None:
    """A `version: source` pin deploys an image built from the component's source tree, with the
    app config of the component's default version. Only where nothing promotes into the stack
    and it does not end the chain: UAT and production run catalogue versions (digests) only."""
    if config.environment.upstream is not None or config.environment.promotes_to is None:
        where = (
            f"'{config.environment.upstream}' promotes into this stack"
            if config.environment.upstream is not None
            else "this stack ends the promotion chain"
        )
        problems.append(
            Problem(
                display,
                f"{key}.version",
                f"version: source is for integration and challengers only ({where}): pin a catalogue version; "
                f"`mlops version add {pin.name} --from-stack <stack>` registers what a stack built",
            )
        )
        return None
    if entry.build is None:
        problems.append(
            Problem(
                display,
                f"{key}.version",
                f"'{pin.name}' has no source to build: add build: {{context: apps/{pin.name}}} to "
                f"config/components/{pin.name}.yaml, or pin a catalogue version",
            )
        )
        return None
    return entry.find_version(entry.default_version)


def _check_capacity(component: ResolvedComponent, config: StackConfig, display: str, problems: list[Problem]) -> None:
    group_name = component.worker_group
    group = config.worker_groups.get(group_name) if group_name else None
    if group is None or group.worker_type is None:
        return
    worker_type = WORKER_TYPES[group.worker_type]
    requests = effective_resources(component)["requests"]
    cpu = parse_quantity(requests["cpu"]) * 1000
    memory = parse_quantity(requests["memory"])
    if cpu > worker_type.allocatable_cpu_millis or memory > worker_type.allocatable_memory_bytes:
        problems.append(
            Problem(
                display,
                f"mlops:worker_groups.{group_name}.worker_type",
                f"'{component.name}' requests cpu {requests['cpu']} and memory {requests['memory']} but a "
                f"{group.worker_type} node has only {worker_type.allocatable_cpu_millis}m cpu and "
                f"{worker_type.allocatable_memory_bytes / 2**30:.1f}Gi memory allocatable: "
                "choose a larger worker type or lower the component's requests",
            )
        )
