"""Editing a stack file: its pins, its provenance or one config key, and nothing else.

Every edit goes through `mlops.yamledit` (ruamel.yaml round trip): every other byte of the file -
other keys, secrets, comments, key order, quoting - stays as it was, and a config key means what
it means to `pulumi config set --path`, so `mlops` and the Pulumi CLI can edit the same file. As
a safety net the result is parsed and compared with the original: only the edited keys may differ.
Writes are atomic (temporary file, fsync, rename) and serialized by a project lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spec.environment import Environment, build_environment
from spec.errors import ConfigError
from spec.files import parse_yaml
from spec.files import read_text as read_file_text
from spec.project import NAMESPACE, load_catalogue, load_project, stack_config_values, stack_file_name

if TYPE_CHECKING:  # ruamel.yaml is imported only by the commands that write (diff and status never do)
    from mlops.yamledit import KeyPath, YamlDocument

PINS_KEY = f"{NAMESPACE}:components"
PROVENANCE_KEY = f"{NAMESPACE}:promoted_from"
PROMOTION_KEY = f"{NAMESPACE}:promotion"
LOCK_FILE = ".mlops.lock"
# How the stack files are laid out: the depth (counted from the document root) from which a key's
# new collections are written in flow style. Pins are a block list of one flow mapping per pin,
# settings one flow mapping, each worker group one flow mapping; everything else is block style.
FLOW_DEPTH = {PINS_KEY: 3, f"{NAMESPACE}:settings": 2, f"{NAMESPACE}:worker_groups": 3}
_ABSENT: Any = object()


def pin_entries(env: Environment) -> list[dict[str, Any]]:
    """The environment's pins as written back: versions as ids (immutable), `source` kept, settings kept."""
    entries = []
    for c in env.components:
        entry: dict[str, Any] = {"name": c.name, "type": c.type, "version": c.pin.version if c.built else c.version.id}
        settings = c.pin.settings.explicit()
        if settings:
            entry["settings"] = settings
        if c.canary is not None and c.pin.canary is not None:
            entry["canary"] = {"version": c.canary.id, "weight": c.pin.canary.weight, "sticky": c.pin.canary.sticky}
        entries.append(entry)
    return entries


def flow_depth(path: KeyPath) -> int | None:
    """The flow depth for a value at `path` of a stack file (see FLOW_DEPTH)."""
    return FLOW_DEPTH.get(str(path[1])) if len(path) > 1 and path[0] == "config" else None


def set_config(doc: YamlDocument, key: str, value: Any) -> None:
    """Set config key `key` (`pulumi config set --path` syntax) in the house layout. A list is
    replaced entry by entry, so entries that stay the same keep their lines and comments."""
    from mlops.yamledit import config_path

    path = config_path(key, doc.display)
    old = doc.get(path, _ABSENT)
    if old == value:
        return
    if not (isinstance(old, list) and isinstance(value, list) and value):
        doc.set(path, value, flow=flow_depth(path))
        return
    for index, item in enumerate(value):
        if index >= len(old) or old[index] != item:
            doc.set((*path, index), item, flow=flow_depth(path))
    for index in reversed(range(len(value), len(old))):
        doc.delete((*path, index))


def render_stack_text(
    text: str,
    pins: list[dict[str, Any]],
    provenance: dict[str, Any] | None,
    display: str = "stack file",
    unverified: list[str] | None = None,
) -> str:
    """`text` with its pins (and provenance, when given) replaced; every other byte unchanged. New
    provenance goes right after the pins. `unverified` (when given) becomes
    `mlops:promotion.unverified`; an empty list removes the key."""
    from mlops.yamledit import YamlDocument, config_path

    doc = YamlDocument.load(text, display)
    set_config(doc, PINS_KEY, pins)
    if provenance is not None:
        values = {k: v for k, v in provenance.items() if v is not None}
        config = doc.get(("config",))
        if isinstance(config, dict) and PROVENANCE_KEY not in config:
            doc.set(("config", PROVENANCE_KEY), values, position=list(config).index(PINS_KEY) + 1)
        else:
            set_config(doc, PROVENANCE_KEY, values)
    if unverified:
        set_config(doc, PROMOTION_KEY, {"unverified": unverified})
    elif unverified is not None and doc.get(config_path(PROMOTION_KEY, display), None) is not None:
        doc.delete(config_path(PROMOTION_KEY, display))
    result = doc.text()
    _check_only_changed(text, result, {PINS_KEY, PROVENANCE_KEY, PROMOTION_KEY}, display)
    return result


def render_config_key(text: str, key: str, value: Any, display: str = "stack file") -> str:
    """`text` with config key `key` set to `value`, or removed when `value` is None, as
    `pulumi config set --path` / `pulumi config rm --path` do (`mlops:settings`,
    `mlops:settings.replicas`); every other byte unchanged."""
    from mlops.yamledit import YamlDocument, config_path

    doc = YamlDocument.load(text, display)
    path = config_path(key, display)
    if value is None:
        doc.delete(path)
    else:
        set_config(doc, key, value)
    result = doc.text()
    _check_only_changed(text, result, {str(path[1])}, display)
    return result


def _check_only_changed(before: str, after: str, keys: set[str], display: str) -> None:
    """The safety net under every edit: parsed, the two files differ in `keys` only. Anything
    else means the edit went wrong, and nothing is written."""

    def rest(data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        config = data.get("config") or {}
        return {
            **{k: v for k, v in data.items() if k != "config"},
            "config": {k: v for k, v in config.items() if k not in keys} if isinstance(config, dict) else config,
        }

    if rest(parse_yaml(before, display)) != rest(parse_yaml(after, display)):
        raise ConfigError.one(
            display, sorted(keys)[0], "could not rewrite it without touching other keys (unusual layout): edit by hand"
        )


def validate_stack_text(root: Path, stack: str, text: str) -> Environment:
    """The environment a stack file's text describes, fully validated (nothing is written)."""
    display = stack_file_name(stack)
    data = parse_yaml(text, display) or {}
    values, secret_keys = stack_config_values(root, data, display)
    return build_environment(load_project(root), stack, values, secret_keys, load_catalogue(root))


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a crash) sees the old file or the new one, never
    a mix: temporary file in the same directory, fsync, rename over, fsync the directory."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextlib.contextmanager
def project_lock(root: Path) -> Iterator[None]:
    """One writer at a time per project (promotions, pins, rollbacks, across processes)."""
    with open(root / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_text(root: Path, stack: str) -> str:
    return read_file_text(root / stack_file_name(stack), stack_file_name(stack))
