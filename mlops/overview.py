"""One status across environments: component by environment (version and label, short digest,
replicas or autoscaling range), the way the hosted platform's status page shows a project. Environments are ordered
along the promotion chain (integration, uat, production), challengers last."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spec.environment import Environment, ResolvedComponent, load_environment
from spec.errors import ConfigError
from spec.project import list_stacks


@dataclass
class Overview:
    stacks: list[str]
    rows: list[list[str]]  # component, type, then one cell per stack
    problems: list[str] = field(default_factory=list)  # stacks that did not validate, one line each


def chain_order(envs: Mapping[str, Environment], stacks: list[str]) -> list[str]:
    """The stacks along the chain from each start (a stack nothing promotes into), challengers last."""
    challengers = [s for s in stacks if s in envs and envs[s].config.challenger is not None]
    targets = {env.promotes_to for s, env in envs.items() if s not in challengers}
    ordered: list[str] = []
    for start in [s for s in stacks if s in envs and s not in challengers and s not in targets]:
        current: str | None = start
        while current is not None and current in envs and current not in ordered:
            ordered.append(current)
            current = envs[current].promotes_to
    rest = [s for s in stacks if s not in ordered and s not in challengers]
    return ordered + rest + challengers


def cell(c: ResolvedComponent, deployed: Mapping[str, Any] | None) -> str:
    """`158 v3 6a756cb9 x2` (`x3-6` when autoscaled); a source build is `source (158's config)`; with
    deployed outputs, a version that differs from what runs is marked."""
    pods = f"x{c.replicas}" if c.autoscale is None else f"x{c.autoscale.min}-{c.autoscale.max}"
    if c.built:
        text = f"source {pods}"
    else:
        label = f" {c.version.label}" if c.version.label else ""
        text = f"{c.version.id}{label} {c.version.digest.removeprefix('sha256:')[:8]} {pods}"
    if c.canary is not None and c.pin.canary is not None:
        weight = c.pin.canary.weight
        text = f"{text} {100 - weight}% + canary {c.canary.id} {c.canary.digest.removeprefix('sha256:')[:8]} {weight}%"
    if deployed is not None:
        running = (deployed.get(c.name) or {}).get("version")
        wanted = c.version_key if c.built else c.version.id
        if running is None:
            text += " (not deployed)"
        elif running != wanted:
            text += f" (runs {running})"
    return text


def overview(root: Path, deployed: Mapping[str, Mapping[str, Any]] | None = None) -> Overview:
    """`deployed`: each stack's `components` output, where known (`--live`)."""
    stacks = list_stacks(root)
    envs: dict[str, Environment] = {}
    problems: list[str] = []
    for stack in stacks:
        try:
            envs[stack] = load_environment(root, stack)
        except ConfigError as exc:
            problems.extend(str(p) for p in exc.problems)
    order = chain_order(envs, stacks)
    names: dict[str, str] = {}
    for stack in order:
        if stack in envs:
            for c in envs[stack].components:
                names.setdefault(c.name, c.type)
    rows = []
    for name, kind in names.items():
        row = [name, kind]
        for stack in order:
            env = envs.get(stack)
            if env is None:
                row.append("(invalid)")
            elif name in env.by_name:
                row.append(cell(env.by_name[name], deployed.get(stack) if deployed is not None else None))
            else:
                row.append("-")
        rows.append(row)
    return Overview(order, rows, problems)


WORKER_GROUP_COLUMNS = ["worker group", "pool", "worker type", "machine type", "nodes (total)", "zones"]


def worker_group_rows(env: Environment) -> list[list[str]]:
    """Per worker group: owned or existing, worker and machine type, and the node count as totals
    over the pool's zones (what GKE bills), the way `size`/`min_size`/`max_size` mean it."""
    from spec.worker_types import WORKER_TYPES, pool_zones

    rows = []
    for name, group in sorted(env.worker_groups.items()):
        machine = WORKER_TYPES[group.worker_type].machine_type if group.worker_type else "-"
        if group.existing or not env.config.is_gke:
            kind = "existing" if group.existing else "node labels only"
            rows.append([name, kind, group.worker_type or "-", machine, "-", "-"])
            continue
        zones = pool_zones(env.regional, group.zones)
        where = ", ".join(group.zones) if group.zones else (f"{zones} of the region" if env.regional else "1 (zonal)")
        if group.size is not None:
            nodes = f"{group.size} ({group.size // zones} per zone)"
        else:
            nodes = f"{group.min_size} to {group.max_size} (autoscaling)"
        rows.append([name, "owned", group.worker_type or "-", machine, nodes, where])
    return rows
