"""Editing a stack file's pins without touching anything else in it.

Only the `mlops:components` block (and the `mlops:promoted_from` provenance block) is rewritten,
as text; every other byte of the file - other keys, secrets, comments, key order, quoting - stays
as it was. Writes are atomic (temporary file, fsync, rename) and serialized by a project lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from infra.environment import Environment, build_environment, load_project, stack_config_values, stack_file_name
from infra.errors import ConfigError

PINS_KEY = "mlops:components"
PROVENANCE_KEY = "mlops:promoted_from"
LOCK_FILE = ".mlops.lock"
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def pin_entries(env: Environment) -> list[dict[str, Any]]:
    """The environment's pins as written back: versions as ids (immutable), settings kept."""
    entries = []
    for c in env.components:
        entry: dict[str, Any] = {"name": c.name, "type": c.type, "version": c.version.id}
        settings = c.pin.settings.explicit()
        if settings:
            entry["settings"] = settings
        entries.append(entry)
    return entries


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    reserved = {"true", "false", "null", "yes", "no", "on", "off", "~"}
    return text if _PLAIN.match(text) and text.lower() not in reserved else json.dumps(text)


def _flow(mapping: Mapping[str, Any]) -> str:
    parts = []
    for key, value in mapping.items():
        rendered = _flow(value) if isinstance(value, Mapping) else _scalar(value)
        parts.append(f"{key}: {rendered}")
    return "{" + ", ".join(parts) + "}"


def _block_range(lines: list[str], key: str, text: str) -> tuple[int, int, int] | None:
    """(first line, end line exclusive, column) of `key` under `config:`, trailing blank and
    comment lines left out of the range so they stay; None when the key is absent."""
    try:
        data = YAML().load(text)
    except YAMLError:
        return None
    config = data.get("config") if isinstance(data, Mapping) else None
    if not isinstance(config, Mapping) or key not in config:
        return None
    keys = list(config)
    line, column = config.lc.key(key)
    index = keys.index(key)
    if index + 1 < len(keys):
        end = config.lc.key(keys[index + 1])[0]
    else:
        top = list(data)
        after = top.index("config") + 1
        end = data.lc.key(top[after])[0] if after < len(top) else len(lines)
    while end > line + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return line, end, column


def _config_column(lines: list[str], text: str) -> int:
    data = YAML().load(text) or {}
    config = data.get("config") if isinstance(data, Mapping) else None
    if isinstance(config, Mapping) and config:
        return config.lc.key(next(iter(config)))[1]
    return 2


def render_stack_text(text: str, pins: list[dict[str, Any]], provenance: dict[str, Any] | None) -> str:
    """`text` with its pins (and provenance, when given) replaced; every other line unchanged."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = _block_range(lines, PINS_KEY, text)
    column = found[2] if found else _config_column(lines, text)
    pad = " " * column
    block = [f"{pad}{PINS_KEY}:\n"] + [f"{pad}  - {_flow(p)}\n" for p in pins]
    if not pins:
        block = [f"{pad}{PINS_KEY}: []\n"]
    if found:
        start, end, _ = found
        lines[start:end] = block
        insert_at = start + len(block)
    else:
        lines.extend(block)
        insert_at = len(lines)
    if provenance is not None:
        new_text = "".join(lines)
        existing = _block_range(lines, PROVENANCE_KEY, new_text)
        prov = [f"{pad}{PROVENANCE_KEY}:\n"] + [
            f"{pad}  {k}: {_scalar(v)}\n" for k, v in provenance.items() if v is not None
        ]
        if existing:
            lines[existing[0] : existing[1]] = prov
        else:
            lines[insert_at:insert_at] = prov
    return "".join(lines)


def validate_stack_text(root: Path, stack: str, text: str) -> Environment:
    """The environment a stack file's text describes, fully validated (nothing is written)."""
    display = stack_file_name(stack)
    try:
        data = YAML(typ="safe", pure=True).load(text) or {}
    except YAMLError as exc:
        raise ConfigError.one(display, "", f"would not be valid YAML ({exc}); nothing was written") from None
    values, secret_keys = stack_config_values(root, data, display)
    return build_environment(root, load_project(root).name, stack, values, secret_keys)


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
    path = root / stack_file_name(stack)
    if not path.is_file():
        raise ConfigError.one(stack_file_name(stack), "", "file not found")
    return path.read_text(encoding="utf-8")
