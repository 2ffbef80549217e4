"""The plan's file writer: renders plain documents as YAML and creates their files. Runs in
worker processes (`mlops plan` splits thousands of files across the machine's cores), so it
imports nothing but the YAML dumper."""

from __future__ import annotations

import os
from typing import Any

from spec.files import dump_yaml


def write_files(root: str, entries: list[tuple[str, dict[str, Any]]]) -> int:
    """Create each `(relative path, document)` under `root` (directories exist already); every
    file is new (never overwritten). Returns the number written; raises OSError naming the file."""
    for relative, document in entries:
        data = dump_yaml(document).encode("utf-8")
        path = os.path.join(root, relative)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
    return len(entries)
