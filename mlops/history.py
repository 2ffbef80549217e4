"""The promotion log: an append-only JSON-lines file under config/ recording every promote, pin
and rollback (time, user, stack, source, pins before and after). Git keeps it with the stack files,
so `git log` and `mlops history` tell the same story."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spec.errors import ConfigError
from spec.files import MAX_JSON_BYTES, parse_json, read_text

LOG_FILE = Path("config") / "promotions.jsonl"


def current_user() -> str:
    """Who is acting: MLOPS_USER, else the CI actor, else the login name."""
    for variable in ("MLOPS_USER", "GITHUB_ACTOR", "USER"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def append(root: Path, record: dict[str, Any]) -> None:
    """Append one record (call under the project lock). One line, flushed and fsynced."""
    path = root / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=False, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as log:
        log.write(line)
        log.flush()
        os.fsync(log.fileno())


def records(root: Path, stack: str | None = None) -> list[dict[str, Any]]:
    path = root / LOG_FILE
    if not path.exists():
        return []
    found = []
    text = read_text(path, str(LOG_FILE), MAX_JSON_BYTES)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = parse_json(line, f"{LOG_FILE}: line {number}", ": restore the line from git")
        if not isinstance(record, dict) or not isinstance(record.get("pins_before"), list):
            raise ConfigError.one(str(LOG_FILE), f"line {number}", "is not a promotion record: restore it from git")
        if stack is None or record.get("stack") == stack:
            found.append(record)
    return found
