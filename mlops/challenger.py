"""Challengers: throw-away full replicas of an environment for one person or one pull request.

A challenger is the stack `challenger-<name>`, file `Pulumi.challenger-<name>.yaml`: the parent's
pins, environment config, settings, cluster and routing; `promotes_to` the parent; its own
namespace; the parent's owned worker groups as `existing` references (destroying a challenger can
never touch them).

Secrets are never copied between stacks: not `mlops:api_key` (the program generates the
challenger's own), and no `secure:` value anywhere in what is copied - an encrypted
`mlops:environment_config.db_password` of the parent is left out, and the challenger sets its own
with `pulumi config set --secret --path mlops:environment_config.db_password <value> -s
challenger-<name>`. The file's header lists the keys left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops import history
from mlops.stackfile import atomic_write, pin_entries, project_lock, set_config
from mlops.yamledit import YamlDocument
from spec.environment import load_environment
from spec.errors import ConfigError, did_you_mean, one_of
from spec.project import NAMESPACE, list_stacks, read_stack_file, stack_file_name
from spec.schema import DNS_LABEL

PREFIX = "challenger-"
# Keys a challenger copies from its parent; anything else (secrets, provenance) stays behind.
COPIED = ("platform", "pulumi_org", "cluster", "routing", "settings", "environment_config")
_DURATION = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SECRET: Any = object()


def stack_name(name: str) -> str:
    return f"{PREFIX}{name}"


def check_name(root: Path, name: str) -> None:
    display = stack_file_name(stack_name(name))
    if not DNS_LABEL.match(name) or len(name) > 30:
        raise ConfigError.one(
            display, "", f"challenger name '{name}' must be lowercase letters, digits and '-', start with a letter, "
            "at most 30 characters (it names a namespace)",
        )  # fmt: skip
    if stack_name(name) in list_stacks(root):
        raise ConfigError.one(display, "", f"challenger '{name}' exists already: pick another name or destroy it")


def _is_secure(value: Any) -> bool:
    """An encrypted config value, as Pulumi marks one: a mapping whose only key is `secure`."""
    return isinstance(value, dict) and set(value) == {"secure"}


def without_secrets(value: Any, path: str, dropped: list[str]) -> Any:
    """`value` without its `secure:` values (the keys or list entries that hold them), each one's
    path appended to `dropped`; `_SECRET` when `value` is one itself."""
    if _is_secure(value):
        dropped.append(path)
        return _SECRET
    if isinstance(value, dict):
        kept = {k: without_secrets(v, f"{path}.{k}", dropped) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not _SECRET}
    if isinstance(value, list):
        kept_items = [without_secrets(v, f"{path}[{i}]", dropped) for i, v in enumerate(value)]
        return [v for v in kept_items if v is not _SECRET]
    return value


def replica_config(
    root: Path, parent: str, owner: str, created: str, dropped: list[str] | None = None
) -> dict[str, Any]:
    """The config of a challenger of `parent`, as plain data (validated before it is written).
    The paths of the secrets left out are appended to `dropped`."""
    dropped = [] if dropped is None else dropped
    env = load_environment(root, parent)
    raw = (read_stack_file(root, parent) or {}).get("config") or {}
    config: dict[str, Any] = {}
    for key, value in raw.items():
        # Provider config such as gcp:project travels; encrypted values never do.
        if not str(key).startswith(f"{NAMESPACE}:"):
            kept = without_secrets(value, str(key), dropped)
            if kept is not _SECRET:
                config[key] = kept
    config[f"{NAMESPACE}:environment"] = {"promotes_to": parent}
    config[f"{NAMESPACE}:challenger"] = {"parent": parent, "created": created, "owner": owner}
    for key in COPIED:
        if f"{NAMESPACE}:{key}" in raw:
            kept = without_secrets(raw[f"{NAMESPACE}:{key}"], f"{NAMESPACE}:{key}", dropped)
            if kept is not _SECRET:
                config[f"{NAMESPACE}:{key}"] = kept
    groups = {}
    for name, group in env.worker_groups.items():
        reference: dict[str, Any] = {"existing": True}
        if group.worker_type:
            reference["worker_type"] = group.worker_type
        if group.existing and group.node_pool:
            reference["node_pool"] = group.node_pool
        groups[name] = reference
    config[f"{NAMESPACE}:worker_groups"] = groups
    return {"config": config}


def create(root: Path, name: str, parent: str) -> Path:
    from mlops.promotion import require_stack
    from mlops.stackfile import validate_stack_text

    require_stack(root, parent)
    check_name(root, name)
    stack = stack_name(name)
    display = stack_file_name(stack)
    owner, created = history.current_user(), history.now()
    dropped: list[str] = []
    config = replica_config(root, parent, owner, created, dropped)["config"]
    header = [
        f"Challenger '{name}' of {parent}, created {created} by {owner}.",
        f"Promote it into {parent} with `mlops promote {stack}`; remove it with `mlops challenger destroy {name}`.",
    ]
    if dropped:
        header.append(
            f"Secrets are not copied from {parent}: set {', '.join(dropped)} with "
            f"`pulumi config set --secret --path KEY VALUE -s {stack}`."
        )
    doc = YamlDocument.new(display, "\n".join(header))
    for key, value in config.items():
        set_config(doc, key, value)
    # The pins as every stack file writes them, one flow mapping a line.
    set_config(doc, f"{NAMESPACE}:components", pin_entries(load_environment(root, parent)))
    text = doc.text()
    validate_stack_text(root, stack, text)
    with project_lock(root):
        check_name(root, name)
        atomic_write(root / display, text)
    return root / display


@dataclass(frozen=True)
class Challenger:
    name: str
    stack: str
    parent: str
    created: datetime
    owner: str
    drift: int  # pins that differ from the parent now (versions, added, removed)

    def age(self, now: datetime) -> timedelta:
        return now - self.created


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError.one("--older-than", "", f"'{text}' is not a duration: use a number and s, m, h, d or w (7d)")
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


def challengers(root: Path) -> list[Challenger]:
    found = []
    for stack in list_stacks(root):
        if not stack.startswith(PREFIX):
            continue
        env = load_environment(root, stack)
        meta = env.config.challenger
        if meta is None:
            raise ConfigError.one(
                stack_file_name(stack), f"{NAMESPACE}:challenger", "missing: re-create it with mlops challenger create"
            )
        mine = {c.name: c.version.id for c in env.components}
        try:
            theirs = {c.name: c.version.id for c in load_environment(root, meta.parent).components}
        except ConfigError:
            theirs = {}
        drift = sum(1 for n in mine.keys() | theirs.keys() if mine.get(n) != theirs.get(n))
        created = meta.created if meta.created.tzinfo else meta.created.replace(tzinfo=UTC)
        found.append(Challenger(stack[len(PREFIX) :], stack, meta.parent, created, meta.owner, drift))
    return found


def require_challenger(root: Path, name: str) -> str:
    """The stack of challenger `name`; refuses anything that is not a challenger, always."""
    stack = name if name.startswith(PREFIX) else stack_name(name)
    known = list_stacks(root)
    if stack not in known:
        mine = [s[len(PREFIX) :] for s in known if s.startswith(PREFIX)]
        if name in known:
            raise ConfigError.one(
                stack_file_name(name), "", f"'{name}' is not a challenger: only challenger stacks can be destroyed here"
            )
        raise ConfigError.one(
            stack_file_name(stack), "", f"no challenger '{name}'{did_you_mean(name, mine)}; challengers: {one_of(mine)}"
        )
    if load_environment(root, stack).config.challenger is None:
        raise ConfigError.one(
            stack_file_name(stack), f"{NAMESPACE}:challenger", "this stack is not a challenger: refusing to destroy it"
        )
    return stack
