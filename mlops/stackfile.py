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

from spec.environment import Environment, build_environment
from spec.errors import ConfigError
from spec.files import parse_yaml as load_yaml_text
from spec.files import read_text as read_file_text
from spec.project import load_catalogue, load_project, stack_config_values, stack_file_name

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


_CONFIG_LINE = re.compile(r"^config:\s*(#.*)?$")
# A mapping key at the start of a line: everything up to the first ':' followed by a blank or
# the end of the line (keys like mlops:components contain a ':' themselves).
_KEY_LINE = re.compile(r"^\s*(?P<quote>[\"']?)(?P<key>[^\"'#\s][^#]*?)(?P=quote)\s*:(\s|$)")


def _config_keys(lines: list[str], display: str) -> tuple[list[tuple[str, int]], int, int]:
    """(the keys under `config:` with their line numbers, their column, the block's end line)."""
    start = next((i for i, line in enumerate(lines) if _CONFIG_LINE.match(line)), None)
    if start is None:
        raise ConfigError.one(display, "config", "no top-level config: key to write the pins under")
    keys: list[tuple[str, int]] = []
    column: int | None = None
    end = len(lines)
    for number in range(start + 1, len(lines)):
        line = lines[number]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            end = number
            break
        if column is None:
            column = indent
        if indent == column and not stripped.startswith("- "):
            match = _KEY_LINE.match(line)
            if match:
                keys.append((match["key"], number))
    return keys, column if column is not None else 2, end


def _block_range(lines: list[str], key: str, display: str) -> tuple[int, int, int] | None:
    """(first line, end line exclusive, column) of `key` under `config:`; trailing blank and
    comment lines stay outside the range (they belong to what follows). None when absent."""
    keys, column, config_end = _config_keys(lines, display)
    names = [k for k, _ in keys]
    if key not in names:
        return None
    index = names.index(key)
    line = keys[index][1]
    end = keys[index + 1][1] if index + 1 < len(keys) else config_end
    while end > line + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return line, end, column


def render_stack_text(
    text: str, pins: list[dict[str, Any]], provenance: dict[str, Any] | None, display: str = "stack file"
) -> str:
    """`text` with its pins (and provenance, when given) replaced; every other line unchanged."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = _block_range(lines, PINS_KEY, display)
    column = found[2] if found else _config_keys(lines, display)[1]
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
        existing = _block_range(lines, PROVENANCE_KEY, display)
        prov = [f"{pad}{PROVENANCE_KEY}:\n"] + [
            f"{pad}  {k}: {_scalar(v)}\n" for k, v in provenance.items() if v is not None
        ]
        if existing:
            lines[existing[0] : existing[1]] = prov
        else:
            lines[insert_at:insert_at] = prov
    result = "".join(lines)
    _check_only_changed(text, result, {PINS_KEY, PROVENANCE_KEY}, display)
    return result


def render_config_key(text: str, key: str, value: dict[str, Any] | None, display: str = "stack file") -> str:
    """`text` with one `config:` key set to a flow mapping (or removed, for None); every other
    line unchanged."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = _block_range(lines, key, display)
    column = found[2] if found else _config_keys(lines, display)[1]
    block = [] if value is None else [f"{' ' * column}{key}: {_flow(value)}\n"]
    if found:
        lines[found[0] : found[1]] = block
    else:
        lines.extend(block)
    result = "".join(lines)
    _check_only_changed(text, result, {key}, display)
    return result


def _check_only_changed(before: str, after: str, keys: set[str], display: str) -> None:
    """The safety net under the text surgery: parsed, the two files differ in `keys` only.
    Anything else means the edit went wrong, and nothing is written."""

    def rest(data: Any) -> Any:
        config = data.get("config") or {}
        return {
            **{k: v for k, v in data.items() if k != "config"},
            "config": {k: v for k, v in config.items() if k not in keys},
        }

    if rest(load_yaml_text(before, display) or {}) != rest(load_yaml_text(after, display) or {}):
        raise ConfigError.one(
            display, sorted(keys)[0], "could not rewrite it without touching other keys (unusual layout): edit by hand"
        )


def validate_stack_text(root: Path, stack: str, text: str) -> Environment:
    """The environment a stack file's text describes, fully validated (nothing is written)."""
    display = stack_file_name(stack)
    data = load_yaml_text(text, display) or {}
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
