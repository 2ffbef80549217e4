"""Reading the project's files (stack files, `Pulumi.yaml`, the catalogue, JSON outputs and the
promotion log) without trusting them: every problem is one line naming the file, never a
traceback, a hang or a crash.

A file is refused when it is unreadable (a directory, a named pipe nobody writes to), larger than
MAX_BYTES, not UTF-8, not valid YAML (or JSON), nested deeper than MAX_DEPTH, or when its anchors
and aliases would expand to more than MAX_NODES values (a "billion laughs" file is a few hundred
bytes). libyaml's composer recurses once per nesting level in C, so depth is bounded from the text
before the document is composed.

YAML is read as YAML 1.2 (ruamel.yaml), as the Pulumi CLI reads stack files: `no` is a string,
not false. Timestamps are returned as ISO text, so parsed data is plain JSON-like data.
"""

from __future__ import annotations

import datetime
import json
import marshal
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from spec.errors import ConfigError

MAX_BYTES = 1024 * 1024  # a 1000-component stack file is about 80 KB
MAX_JSON_BYTES = 64 * 1024 * 1024  # outputs files and the promotion log
MAX_DEPTH = 32
MAX_NODES = 200_000

_INDENT = re.compile(r"^[ \t]*", re.MULTILINE)


def read_text(path: Path, display: str, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of a file, or one line saying why it cannot be used."""
    try:
        # Non-blocking open: a named pipe nobody writes to would otherwise block open() for
        # ever. A pipe that is being written (`--outputs-file <(pulumi stack output --json)`) is
        # still read to its end: reads block again once it is open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError
            regular = stat.S_ISREG(info.st_mode)
            if regular and info.st_size > limit:
                raise ConfigError.one(
                    display, "", f"is {info.st_size:,} bytes, over the {limit:,}-byte limit: is this the right file?"
                )
            os.set_blocking(fd, True)
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise ConfigError.one(display, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError.one(display, "", "is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError.one(display, "", f"cannot read it ({exc.strerror or exc}): check its permissions") from None
    if not regular and not data:
        raise ConfigError.one(display, "", "is not a regular file and nothing was written to it: give a file")
    if len(data) > limit:
        raise ConfigError.one(display, "", f"is over the {limit:,}-byte limit: is this the right file?")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ConfigError.one(
            display, "", f"is not UTF-8 text (byte {exc.start:,} is 0x{data[exc.start]:02x}): save it as UTF-8"
        ) from None


# --------------------------------------------------------------------------- YAML


def _depth_bound(text: str) -> int:
    """An upper bound of the nesting depth, cheap to compute: every level needs an indentation
    step, a flow bracket, a block sequence entry or a complex key."""
    indent = max((len(m) for m in _INDENT.findall(text)), default=0)
    openers = text.count("[") + text.count("{")
    return 2 * (indent + 1) + openers + 2 * (text.count("-") + text.count("?")) + 1


def _check_depth(text: str, display: str) -> None:
    if _depth_bound(text) <= MAX_DEPTH:
        return
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

    depth = 0
    try:
        for event in YAML(typ="safe").parse(text):
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError.one(
                        display, _line(event), f"nested deeper than {MAX_DEPTH} levels: flatten the data"
                    )
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except YAMLError:
        return  # a syntax error: the parser reports it with its line


def _line(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f"line {mark.line + 1}" if mark is not None else ""


def _syntax_error(exc: Exception, display: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ConfigError.one(display, where, f"not valid YAML ({problem}); fix the syntax")


def _compose(text: str, display: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        # libyaml (fast) first; it is stricter than YAML 1.2 in places (':' inside flow
        # collections), so the pure parser has the last word.
        return YAML(typ="safe").load(text)
    except YAMLError:
        pass
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise _syntax_error(exc, display) from None
    except RecursionError:
        raise ConfigError.one(display, "", f"nested deeper than {MAX_DEPTH} levels: flatten the data") from None


class _Plain:
    """Turns parsed data into plain JSON-like data, counting values as if every alias were
    expanded (shared values are converted once), and refusing what expands past MAX_NODES."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.nodes = 0
        self.done: dict[int, tuple[Any, int]] = {}

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ConfigError.one(self.display, "", f"nested deeper than {MAX_DEPTH} levels: flatten the data")
        if isinstance(value, dict | list):
            seen = self.done.get(id(value))
            if seen is not None:
                self._count(seen[1])
                return seen[0]
            before = self.nodes
            if isinstance(value, dict):
                plain: Any = {self._key(k): self(v, depth + 1) for k, v in value.items()}
            else:
                plain = [self(v, depth + 1) for v in value]
            self._count(1)
            self.done[id(value)] = (plain, self.nodes - before)
            return plain
        self._count(1)
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, datetime.datetime):
            text = value.isoformat()
            return text.removesuffix("+00:00") + "Z" if value.tzinfo is not None and text.endswith("+00:00") else text
        if isinstance(value, datetime.date):
            return value.isoformat()
        raise ConfigError.one(
            self.display, "", f"holds a {type(value).__name__} value (a YAML tag): use plain strings, numbers, lists"
        )

    def _key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        if isinstance(key, bool):
            return "true" if key else "false"
        if isinstance(key, int | float):
            return str(key)
        plain = self(key) if isinstance(key, datetime.date) else None
        if isinstance(plain, str):
            return plain
        raise ConfigError.one(self.display, "", "has a mapping key that is not a string: quote the key")

    def _count(self, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            raise ConfigError.one(
                self.display, "", f"expands to more than {MAX_NODES:,} values (anchors and aliases?): simplify it"
            )


# Parsed texts of this process: a command reads the same stack file several times over (load,
# validate the edit, check that only the pins changed). Callers get their own copy.
_PARSED: dict[str, bytes] = {}
_PARSED_KEPT = 16


def parse_yaml(text: str, display: str) -> Any:
    """The plain data of a YAML text, or one line naming the problem."""
    known = _PARSED.get(text)
    if known is not None:
        return marshal.loads(known)
    _check_depth(text, display)
    data = _Plain(display)(_compose(text, display))
    if len(_PARSED) >= _PARSED_KEPT:
        del _PARSED[next(iter(_PARSED))]
    _PARSED[text] = marshal.dumps(data)
    return data


def read_yaml(path: Path, display: str) -> Any:
    return parse_yaml(read_text(path, display), display)


# --------------------------------------------------------------------------- JSON


def parse_json(text: str, display: str, fix: str = "") -> Any:
    try:
        data = json.loads(text)
    except RecursionError:
        raise ConfigError.one(display, "", f"nested deeper than {MAX_DEPTH} levels: flatten the data") from None
    except ValueError as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise ConfigError.one(display, "", f"is not JSON ({message}){fix}") from None
    return _Plain(display)(data)


def read_json(path: Path, display: str, fix: str = "") -> Any:
    return parse_json(read_text(path, display, MAX_JSON_BYTES), display, fix)


# --------------------------------------------------------------------------- parse cache (tooling only)


class ParseCache:
    """Parsed YAML files kept between commands (plain data, marshalled), each entry valid while
    its file's size, mtime, ctime and inode are unchanged. Used by the `mlops` command for the
    catalogue (a thousand files take about a second to parse); the Pulumi program never writes
    files and does not use it. A damaged or foreign cache file is ignored and rewritten."""

    # 2: each file's data is kept marshalled on its own, so that reading the cache unpacks only
    # the files a command asks for, once (the bytes, unpacked, are the caller's own copy).
    VERSION = 2

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, tuple[tuple[int, ...], bytes]] = {}
        self.changed = False
        try:
            loaded = marshal.loads(path.read_bytes())
            if isinstance(loaded, tuple) and loaded[:2] == (self.VERSION, _python_tag()):
                self.entries = loaded[2]
        except Exception:
            self.entries = {}

    def read_yaml(self, path: Path, display: str) -> Any:
        try:
            stat = path.stat()
        except OSError:
            return read_yaml(path, display)  # reports the problem in one line
        key = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        entry = self.entries.get(str(path))
        if entry is not None:
            try:
                if entry[0] == key:
                    return marshal.loads(entry[1])
            except (TypeError, ValueError, EOFError, IndexError, KeyError):
                pass  # a damaged entry: the file is parsed again and the entry rewritten
        data = read_yaml(path, display)
        self.entries[str(path)] = (key, marshal.dumps(data))
        self.changed = True
        return data

    def save(self) -> None:
        """Write the cache atomically when it changed; a read-only tree just goes without."""
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".parsed.", suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                out.write(marshal.dumps((self.VERSION, _python_tag(), self.entries)))
            os.replace(temporary, self.path)
            self.changed = False
        except (OSError, ValueError):
            pass


def _python_tag() -> str:
    import sys

    return f"{sys.implementation.cache_tag}-{marshal.version}"
