"""What a change of pins does to a stack: the pins that change and the Kubernetes objects that
change with them, down to the fields, rendered offline from the pure builders."""

from __future__ import annotations

import marshal
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from spec.environment import Environment, ResolvedComponent

Status = Literal["added", "removed", "changed", "canary", "replaced", "unchanged"]


Canary = tuple[int, str | None, int, bool]  # version id, label, weight, sticky


@dataclass(frozen=True)
class PinChange:
    name: str
    type: str
    before: tuple[int | str, str | None] | None
    after: tuple[int | str, str | None] | None
    canary_before: Canary | None = None
    canary_after: Canary | None = None

    @property
    def status(self) -> Status:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        if self.before[0] != self.after[0]:
            return "changed"
        return "canary" if self.canary_before != self.canary_after else "unchanged"


@dataclass(frozen=True)
class ResourceChange:
    name: str  # Pulumi logical name
    kind: str
    object: str  # Kubernetes object name
    status: Status
    fields: list[str] = field(default_factory=list)


def _version(c: ResolvedComponent) -> tuple[int | str, str | None]:
    # A source build shows as `source-<id>` (the version whose app config it carries).
    return (c.version_key, None) if c.built else (c.version.id, c.version.label)


def _canary(c: ResolvedComponent) -> Canary | None:
    if c.canary is None or c.pin.canary is None:
        return None
    return (c.canary.id, c.canary.label, c.pin.canary.weight, c.pin.canary.sticky)


def pin_changes(before: Environment, after: Environment) -> list[PinChange]:
    """What happens to each component when `before` becomes `after` (after's order, then removals)."""
    old = before.by_name
    changes = [
        PinChange(
            c.name,
            c.type,
            _version(old[c.name]) if c.name in old else None,
            _version(c),
            _canary(old[c.name]) if c.name in old else None,
            _canary(c),
        )
        for c in after.components
    ]
    changes += [
        PinChange(c.name, c.type, _version(c), None, _canary(c), None)
        for c in before.components
        if c.name not in after.by_name
    ]
    return changes


def field_paths(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths of the fields that differ between two manifests, in `b`'s field order (then
    fields only `a` has). Equal subtrees, most of them, are skipped at C speed before any call."""
    return [] if a == b else _differing(a, b, path)


def _differing(a: Any, b: Any, path: str) -> list[str]:
    """field_paths of two values known to differ."""
    paths: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in b.items():
            if key not in a:
                paths.append(f"{path}.{key}" if path else str(key))
            elif a[key] != value:
                paths.extend(_differing(a[key], value, f"{path}.{key}" if path else str(key)))
        paths.extend(f"{path}.{key}" if path else str(key) for key in a if key not in b)
        return paths
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                paths.extend(_differing(x, y, f"{path}[{i}]"))
        return paths
    return [path]


# From this many changed components on, two in five are worked out in a forked process.
PARALLEL_FROM = 200


def resource_changes(before: Environment, after: Environment) -> list[ResourceChange]:
    """Kubernetes objects added, removed or changed (with the changed fields) when the stack goes
    from `before` to `after`. Only components whose pin or settings differ are rendered: the others
    declare the same objects in both (the minimal-change property the tests hold the program to)."""

    def key(c: ResolvedComponent) -> tuple[Any, ...]:
        return (c.version_key, _canary(c), tuple(sorted((k, s.value) for k, s in c.settings.items())))

    old, new = before.by_name, after.by_name
    touched = sorted(n for n in old.keys() | new.keys() if n not in old or n not in new or key(old[n]) != key(new[n]))
    if len(touched) < PARALLEL_FROM or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        changes = _changes(before, after, touched)
    else:
        changes = _changes_in_two(before, after, touched)
    return sorted(changes, key=lambda change: change.name)


def _settings_and_canary(c: ResolvedComponent) -> tuple[Any, ...]:
    return (_canary(c), tuple(sorted((k, s.value) for k, s in c.settings.items())))


def _changes(before: Environment, after: Environment, touched: list[str]) -> list[ResourceChange]:
    from components.render import component_manifests, versioned_manifests

    old, new = before.by_name, after.by_name
    changes = []
    # One component at a time: its objects are compared and dropped while still young, so a
    # thousand components never pile up as garbage for the cyclic collector to walk.
    for component in touched:
        render = component_manifests
        if (
            component in old
            and component in new
            and _settings_and_canary(old[component]) == _settings_and_canary(new[component])
        ):
            render = versioned_manifests  # only the version moves: only its objects can change
        a = render(before, old[component]) if component in old else {}
        b = render(after, new[component]) if component in new else {}
        for name in a.keys() | b.keys():
            manifest = b.get(name) or a[name]
            kind, obj = manifest["kind"], manifest["metadata"]["name"]
            if name not in a:
                changes.append(ResourceChange(name, kind, obj, "added"))
            elif name not in b:
                changes.append(ResourceChange(name, kind, obj, "removed"))
            else:
                paths = field_paths(a[name], b[name])
                if paths:
                    # A new object name means Pulumi replaces the object (the versioned app config).
                    status: Status = "replaced" if "metadata.name" in paths else "changed"
                    changes.append(ResourceChange(name, kind, obj, status, paths))
    return changes


def _changes_in_two(before: Environment, after: Environment, touched: list[str]) -> list[ResourceChange]:
    """The same, with two components in five worked out by a forked copy of this process on
    another core (rendering is pure Python). The child only computes and writes plain tuples to
    a pipe; if it fails for any reason, this process works out its share itself."""
    # The child works slower than this process (each object it touches costs it a copy-on-write
    # page fault): it takes two components in five, so that both finish at about the same time.
    mine = [name for i, name in enumerate(touched) if i % 5 not in (1, 3)]
    theirs = [name for i, name in enumerate(touched) if i % 5 in (1, 3)]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, hand over, leave without running any cleanup of the parent's
        code = 1
        try:
            os.close(read_end)
            data = marshal.dumps(
                [(c.name, c.kind, c.object, c.status, c.fields) for c in _changes(before, after, theirs)]
            )
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    changes = _changes(before, after, mine)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return changes + _changes(before, after, theirs)
    return changes + [ResourceChange(*fields) for fields in marshal.loads(data)]
