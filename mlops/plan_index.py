"""What `mlops plan` may keep of the plan it replaces. Each plan directory holds an index: for
every file, a digest of the document it was written from and the file's size and modification
time. A new plan links (hard links: no copy, no new inode) every file whose document is the same
and whose file nobody has touched since, and writes only the others. A plan written by another
version of the writer, an edited or missing file, an unreadable index: those files are written
again. The result is the same bytes as a plan written from nothing (tests/test_plan_index.py)."""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
from pathlib import Path
from typing import Any

INDEX = ".mlops-plan-index"
Entry = tuple[str, int, int]  # document digest, file size, file mtime (ns)
# About 100 bytes a file: far above any real plan, far below what could hurt to read.
MAX_INDEX_BYTES = 64 * 1024 * 1024


def document_digest(body: Any) -> str | None:
    """A digest of a document's data; None for data marshal cannot write. Format version 0 writes
    every value out in full with its type (no references between equal objects, no interning
    marks), so equal data in the same key order gives equal bytes: 1, 1.0, "1" and true differ."""
    try:
        data = marshal.dumps(body, 0)
    except ValueError:
        return None
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def writer_signature() -> str:
    """Files written by another writer (a new version of ours or of ruamel.yaml) are not kept."""
    import ruamel.yaml

    from mlops import plan_files

    source = Path(plan_files.__file__).read_bytes()
    versions = f"{ruamel.yaml.__version__} {sys.implementation.cache_tag}".encode()
    return hashlib.blake2b(source + versions, digest_size=16).hexdigest()


def load(plan: Path) -> dict[str, Entry]:
    """The index of the plan at `plan`; empty when there is none or it is not ours."""
    try:
        path = plan / INDEX
        if path.stat().st_size > MAX_INDEX_BYTES:
            return {}
        data = json.loads(path.read_bytes())
        if data["writer"] != writer_signature():
            return {}
        return {
            str(name): (str(digest), int(size), int(mtime)) for name, (digest, size, mtime) in data["files"].items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}  # missing, damaged, foreign or hostile: keep nothing


def keep_unchanged(
    previous: dict[str, Entry], old: Path, staging: Path, entries: list[tuple[str, dict[str, Any]]]
) -> tuple[dict[str, Entry], list[tuple[str, str | None, dict[str, Any]]]]:
    """Link into `staging` each file of the plan at `old` whose document and file are unchanged.
    Returns (the kept files' index entries, the files still to write: path, digest, document)."""
    kept: dict[str, Entry] = {}
    to_write = []
    for relative, body in entries:
        digest = document_digest(body)
        entry = previous.get(relative)
        if entry is not None and entry[0] == digest and _link(old, staging, relative, entry):
            kept[relative] = entry
        else:
            to_write.append((relative, digest, body))
    return kept, to_write


def _link(old: Path, staging: Path, relative: str, entry: Entry) -> bool:
    source = os.path.join(old, relative)
    try:
        stat = os.stat(source)
        if (stat.st_size, stat.st_mtime_ns) != entry[1:]:
            return False  # edited since the plan wrote it
        os.link(source, os.path.join(staging, relative))
    except OSError:
        return False  # gone, another file system, or links not allowed: write it instead
    return True


def save(staging: Path, kept: dict[str, Entry], written: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    """Write the new plan's index (the written files stat'ed as they now are)."""
    entries = dict(kept)
    for relative, digest, _ in written:
        if digest is not None:
            stat = os.stat(os.path.join(staging, relative))
            entries[relative] = (digest, stat.st_size, stat.st_mtime_ns)
    index = {"writer": writer_signature(), "files": entries}
    (staging / INDEX).write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
