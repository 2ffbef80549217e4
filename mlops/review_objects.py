"""The Kubernetes objects and node pools a review shows as changing: every component whose pin,
settings, catalogue entry or environment context differs is rendered on both sides (offline, from
the builders the program uses), and the environment's own objects and node pools too."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mlops.changes import ResourceChange, field_paths, resource_changes
from spec.resolved import Environment, ResolvedComponent


def object_changes(before: Environment | None, after: Environment | None) -> list[ResourceChange]:
    """The Kubernetes objects (and node pools) that change. `resource_changes` renders the
    components whose pin or settings differ; the rest are rendered here when anything else they
    are built from differs (their catalogue entry, the stack's other config), and the
    environment's own objects and node pools are always compared."""
    old = before or dataclasses.replace(after, components=[])  # type: ignore[arg-type]
    new = after or dataclasses.replace(before, components=[])  # type: ignore[arg-type]
    found = resource_changes(old, new)
    reported = {r.name for r in found}
    from components.render import component_manifests

    context_differs = _context(old) != _context(new)
    for c in new.components:
        previous = old.by_name.get(c.name)
        # Not those whose version or settings differ: resource_changes has rendered them.
        if previous is not None and _key(previous) == _key(c) and (previous != c or context_differs):
            pairs = _compare(_objects(component_manifests(old, previous)), _objects(component_manifests(new, c)))
            found += [r for r in pairs if r.name not in reported]
    found += _compare(_site_objects(before), _site_objects(after))
    return found


def _key(c: ResolvedComponent) -> tuple[Any, ...]:
    return c.version.id, sorted((k, s.value) for k, s in c.settings.items())


def _context(env: Environment) -> tuple[Any, ...]:
    exclude = {"components", "settings", "promoted_from", "challenger", "promotion"}
    return env.project, env.environment_config_secret, env.config.model_dump(exclude=exclude)


def _objects(manifests: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, str, Any]]:
    return {name: (m["kind"], m["metadata"]["name"], m) for name, m in manifests.items()}


def _site_objects(env: Environment | None) -> dict[str, tuple[str, str, Any]]:
    """The environment's own objects (secrets masked as `plan` masks them) and node pools."""
    if env is None:
        return {}
    from components.manifests import to_config_text
    from components.node_pools import node_pool
    from components.render import environment_objects, worker_group_args
    from mlops.plan import MASK

    text = MASK if env.environment_config_secret else to_config_text(env.config.environment_config)
    found = _objects(environment_objects(env, MASK, text))
    for name, args in worker_group_args(env).items():
        found[name] = ("NodePool", name, node_pool(name, args)[0])
    return found


def _compare(a: dict[str, tuple[str, str, Any]], b: dict[str, tuple[str, str, Any]]) -> list[ResourceChange]:
    found = []
    for name in [*b, *(n for n in a if n not in b)]:
        kind, obj, _ = b.get(name) or a[name]
        if name not in a or name not in b:
            found.append(ResourceChange(name, kind, obj, "added" if name not in a else "removed"))
        elif paths := field_paths(a[name][2], b[name][2]):
            status = "replaced" if "metadata.name" in paths else "changed"
            found.append(ResourceChange(name, kind, obj, status, paths))  # type: ignore[arg-type]
    return found


# --------------------------------------------------------------------------- catalogue
