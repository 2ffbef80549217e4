"""`mlops review`: what the project's files change in what runs, from a base (a pull request's)
to the working tree: pins, settings at every level and as resolved, environment config (a
`secure:` value only ever as "[secret]"), worker groups, other stack config, the catalogue, and
the Kubernetes objects rendered offline. An existing version whose digest or app config changed
is a rejection: versions are immutable, so a promoted digest is always the one that was tested.
Two project directories in (the command writes the base's from git), a `Review` out."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.changes import ResourceChange
from mlops.review_objects import object_changes
from spec.environment import load_environment
from spec.errors import ConfigError
from spec.files import read_yaml
from spec.project import (
    CATALOGUE_DIR,
    NAMESPACE,
    PROJECT_FILE,
    SECRET_PLACEHOLDER,
    catalogue_file,
    config_value,
    list_stacks,
    parse_cache,
    read_project_file,
    read_stack_file,
)
from spec.resolved import Environment, ResolvedComponent

IMMUTABLE = "versions are immutable: add a new version instead"
# What a version is: changing either in place would make a promoted pin run something untested.
IMMUTABLE_FIELDS = ("digest", "app_config")
# Stack config keys with a section of their own; every other key is listed under "config".
PINS, SETTINGS, ENVIRONMENT_CONFIG, WORKER_GROUPS = SECTION_KEYS = tuple(
    f"{NAMESPACE}:{k}" for k in ("components", "settings", "environment_config", "worker_groups")
)
_MISSING: Any = object()


@dataclass(frozen=True)
class Change:
    """One difference: what, how (added, removed, changed, [secret] changed...), both values as text."""

    subject: str
    change: str
    before: str = "-"
    after: str = "-"


@dataclass
class StackReview:
    stack: str
    status: str = ""  # "added" or "removed" when the stack file is new or gone
    problems: list[str] = field(default_factory=list)
    pins: list[Change] = field(default_factory=list)
    settings: list[Change] = field(default_factory=list)
    resolved: list[Change] = field(default_factory=list)
    environment_config: list[Change] = field(default_factory=list)
    worker_groups: list[Change] = field(default_factory=list)
    config: list[Change] = field(default_factory=list)
    objects: list[ResourceChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        sections = (self.pins, self.settings, self.resolved, self.environment_config, self.worker_groups, self.config)
        return bool(self.status or self.problems or self.objects or any(sections))


@dataclass
class Review:
    base: str
    commit: str
    rejections: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    project: list[Change] = field(default_factory=list)
    program: list[str] = field(default_factory=list)
    catalogue: list[Change] = field(default_factory=list)
    stacks: list[StackReview] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        found = self.rejections or self.problems or self.catalogue or self.project or self.program
        return bool(found or any(s.changed for s in self.stacks))

    @property
    def affected(self) -> list[str]:
        """Stacks (in the working tree) worth a `pulumi preview`: changed, or the program changed."""
        return [s.stack for s in self.stacks if s.status != "removed" and (s.changed or self.project or self.program)]


# --------------------------------------------------------------------------- values


def is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def masked(value: Any) -> Any:
    if is_secure(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def show(value: Any) -> str:
    """A value as one line of text, every `secure:` value as [secret]."""
    if value is _MISSING:
        return "-"
    value = masked(value)
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def value_change(subject: str, before: Any, after: Any) -> Change:
    if before is _MISSING or after is _MISSING:
        how = "added" if before is _MISSING else "removed"
    else:  # equal once masked, different as written: only a ciphertext changed
        how = f"{SECRET_PLACEHOLDER} changed" if masked(before) == masked(after) else "changed"
    return Change(subject, how, show(before), show(after))


def mapping_changes(before: Any, after: Any, prefix: str = "", depth: int = 0) -> list[Change]:
    """Keys added, removed or changed, `after`'s order first; nested mappings opened `depth`
    levels down (never a `secure:` one)."""
    before, after = ({} if v is None else v if isinstance(v, dict) else {"(not a mapping)": v} for v in (before, after))
    found: list[Change] = []
    for key in [*after, *(k for k in before if k not in after)]:
        a, b = before.get(key, _MISSING), after.get(key, _MISSING)
        if a == b:
            continue
        subject = f"{prefix}{key}"
        if depth and isinstance(a, dict) and isinstance(b, dict) and not is_secure(a) and not is_secure(b):
            found += mapping_changes(a, b, f"{subject}.", depth - 1)
        else:
            found.append(value_change(subject, a, b))
    return found


# --------------------------------------------------------------------------- one stack


@dataclass
class Side:
    """A stack on one side: its file's config as written, and the validated environment."""

    present: bool
    config: dict[str, Any] = field(default_factory=dict)
    env: Environment | None = None
    problem: str | None = None


def load_side(root: Path, stack: str, present: bool) -> Side:
    if not present:
        return Side(False)
    side = Side(True)
    try:
        data = read_stack_file(root, stack)
        config = data.get("config") if isinstance(data, dict) else None
        side.config = config if isinstance(config, dict) else {}
        side.env = load_environment(root, stack)
    except ConfigError as exc:
        more = len(exc.problems) - 1
        side.problem = str(exc.problems[0]) + (f" (and {more} more: run mlops validate)" if more > 0 else "")
    return side


def review_stack(stack: str, before: Side, after: Side, base: str) -> StackReview:
    status = "added" if not before.present else "removed" if not after.present else ""
    result = StackReview(stack, status)
    result.problems = [f"at {base}: {before.problem}"] * bool(before.problem) + [after.problem] * bool(after.problem)
    old, new = before.config, after.config
    result.environment_config = mapping_changes(old.get(ENVIRONMENT_CONFIG), new.get(ENVIRONMENT_CONFIG))
    result.worker_groups = mapping_changes(old.get(WORKER_GROUPS), new.get(WORKER_GROUPS), depth=1)
    result.config = mapping_changes(
        {k: v for k, v in old.items() if k not in SECTION_KEYS},
        {k: v for k, v in new.items() if k not in SECTION_KEYS},
        depth=1,
    )
    result.settings = mapping_changes(old.get(SETTINGS), new.get(SETTINGS), f"{SETTINGS}.")
    old_pins, new_pins = _raw_pins(old), _raw_pins(new)
    for name in [*new_pins, *(n for n in old_pins if n not in new_pins)]:
        prefix = f"{PINS}[{name}].settings."
        result.settings += mapping_changes(
            old_pins.get(name, {}).get("settings"), new_pins.get(name, {}).get("settings"), prefix
        )
    if (before.env or not before.present) and (after.env or not after.present):
        result.pins, result.resolved = pin_changes(before.env, after.env)
        result.objects = object_changes(before.env, after.env)
    return result


def _raw_pins(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    pins = config.get(PINS) if isinstance(config.get(PINS), list) else []
    return {str(p["name"]): p for p in pins if isinstance(p, dict) and "name" in p}


def describe(c: ResolvedComponent) -> str:
    """A pinned version as people name it: id (label) and the short digest."""
    if c.built:
        return f"source (app config of {c.version.id})"
    label = f" ({c.version.label})" if c.version.label else ""
    return f"{c.version.id}{label} {c.version.digest[:19]}"


def _ends_canary(a: ResolvedComponent, b: ResolvedComponent) -> tuple[str, str]:
    def text(c: ResolvedComponent) -> str:
        if c.canary is None or c.pin.canary is None:
            return "-"
        return f"{c.canary.id} {c.pin.canary.weight}%{' sticky' if c.pin.canary.sticky else ''}"

    return text(a), text(b)


def pin_changes(before: Environment | None, after: Environment | None) -> tuple[list[Change], list[Change]]:
    """(pins, resolved settings): what each component runs, and with which replicas, worker
    group and latency mode, from every level combined."""
    old = before.by_name if before else {}
    new = after.by_name if after else {}
    pins: list[Change] = []
    resolved: list[Change] = []
    for name in [*new, *(n for n in old if n not in new)]:
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            pins.append(Change(name, "added" if a is None else "removed", *_ends(a, b, describe)))
        elif (a.version.id, a.version.label, a.built) != (b.version.id, b.version.label, b.built):
            pins.append(Change(name, "version changed", describe(a), describe(b)))
        elif a.version.digest != b.version.digest:
            pins.append(Change(name, "digest changed", a.version.digest, b.version.digest))
        elif a.version.app_config != b.version.app_config:
            pins.append(Change(name, "app config changed", show(a.version.app_config), show(b.version.app_config)))
        if a is not None and b is not None and a.pin.canary != b.pin.canary:
            pins.append(Change(f"{name}.canary", "canary changed", *_ends_canary(a, b)))
        settings_a, settings_b = (a.settings if a else {}), (b.settings if b else {})
        for key in [*settings_b, *(k for k in settings_a if k not in settings_b)]:
            sa, sb = settings_a.get(key), settings_b.get(key)
            if sa is None or sb is None or sa.value != sb.value:
                how = "added" if sa is None else "removed" if sb is None else "changed"
                resolved.append(Change(f"{name}.{key}", how, *_ends(sa, sb, lambda s: f"{show(s.value)} ({s.source})")))
    return pins, resolved


def _ends(a: Any, b: Any, text: Any) -> tuple[str, str]:
    return ("-" if a is None else text(a)), ("-" if b is None else text(b))


# --------------------------------------------------------------------------- objects


def read_catalogue_files(root: Path, problems: list[str], where: str = "") -> dict[str, dict[str, Any]]:
    """Each catalogue file as written (a file that cannot be read is one problem line)."""
    directory = root / CATALOGUE_DIR
    cache = parse_cache(root)  # the command's: load_catalogue reads these files again
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            data = (cache.read_yaml if cache else read_yaml)(path, str(CATALOGUE_DIR / path.name))
        except ConfigError as exc:
            problems.extend(f"{where}{p}" for p in exc.problems)
            continue
        found[path.stem] = data if isinstance(data, dict) else {}
    if cache:
        cache.save()
    return found


def _versions(data: Mapping[str, Any]) -> dict[Any, dict[str, Any]]:
    listed = data.get("versions")
    if not isinstance(listed, list):
        return {}
    return {v["id"]: v for v in listed if isinstance(v, dict) and isinstance(v.get("id"), int | str)}


def catalogue_changes(before: dict[str, Any], after: dict[str, Any], rejections: list[str]) -> list[Change]:
    changes: list[Change] = []
    for name in [*after, *(n for n in before if n not in after)]:
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            count = _ends(a, b, lambda data: f"{len(_versions(data))} versions")
            changes.append(Change(name, "added" if a is None else "removed", *count))
            continue
        fields = ({k: v for k, v in d.items() if k != "versions"} for d in (a, b))
        changes += mapping_changes(*fields, prefix=f"{name}.", depth=1)
        va, vb = _versions(a), _versions(b)
        for vid in [*vb, *(v for v in va if v not in vb)]:
            subject = f"{name} version {vid}"
            if vid not in va or vid not in vb:
                ends = _ends(va.get(vid), vb.get(vid), lambda v: f"{v.get('label') or ''} {v.get('digest')}".strip())
                changes.append(Change(subject, "added" if vid not in va else "removed", *ends))
                continue
            for change in mapping_changes(_normal(va[vid]), _normal(vb[vid]), f"{subject}: "):
                key = change.subject.rpartition(": ")[2]
                if key in IMMUTABLE_FIELDS:
                    rejections.append(
                        f"{catalogue_file(name)}: versions[id={vid}].{key}: changed in place: {IMMUTABLE}"
                    )
                    change = dataclasses.replace(change, change=f"{change.change} (rejected: immutable)")
                changes.append(change)
    return changes


def _normal(version: Mapping[str, Any]) -> dict[str, Any]:
    """No app config and an empty one are the same app config."""
    return {**version, "app_config": version.get("app_config") or {}}


# --------------------------------------------------------------------------- the review


def project_settings(root: Path, problems: list[str], where: str = "") -> Any:
    """The project level of the settings as written in Pulumi.yaml (a problem line when unreadable)."""
    try:
        config = read_project_file(root).get("config")
    except ConfigError as exc:
        problems.extend(f"{where}{p}" for p in exc.problems)
        return None
    return config_value(config.get(f"{NAMESPACE}:settings")) if isinstance(config, dict) else None


def compare(base: Path, root: Path, review: Review) -> Review:
    """Fill `review` with what changes from the project at `base` (the files at review.base) to
    the project at `root` (the working tree)."""
    at = f"at {review.base}: "
    old_settings, new_settings = project_settings(base, review.problems, at), project_settings(root, review.problems)
    review.project = mapping_changes(old_settings, new_settings, f"{PROJECT_FILE} {NAMESPACE}:settings.")
    review.catalogue = catalogue_changes(
        read_catalogue_files(base, review.problems, at), read_catalogue_files(root, review.problems), review.rejections
    )
    old_stacks, new_stacks = set(list_stacks(base)), set(list_stacks(root))
    for stack in sorted(old_stacks | new_stacks):
        before = load_side(base, stack, stack in old_stacks)
        after = load_side(root, stack, stack in new_stacks)
        review.stacks.append(review_stack(stack, before, after, review.base))
    return review
