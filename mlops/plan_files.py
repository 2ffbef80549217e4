"""The plan's file writer: renders plain documents (manifests) as YAML with ruamel.yaml's libyaml
emitter and creates their files. Runs in worker processes (`mlops plan` splits thousands of
files across the machine's cores), so it imports nothing but ruamel.yaml. Edits of the project's
own files (stack files, the catalogue, Pulumi.yaml) go through `mlops.yamledit` instead, which
keeps their comments and layout."""

from __future__ import annotations

import os
from typing import Any


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


_DUMPER: Any = None


def dump_yaml(data: Any, sort_keys: bool = False) -> str:
    """Block YAML text for plain data (manifests, config held in ConfigMaps), through
    ruamel.yaml's libyaml emitter: keys in the data's order, or sorted (equal data, equal text).
    Nothing else: editing a file in place (comments and layout kept) is `mlops.yamledit`'s job."""
    import io

    global _DUMPER
    if _DUMPER is None:
        from ruamel.yaml import YAML

        _DUMPER = YAML(typ="safe")
        _DUMPER.default_flow_style = False
        _DUMPER.allow_unicode = True
        _DUMPER.width = 4096
        _DUMPER.representer.sort_base_mapping_type_on_output = False
    buffer = io.StringIO()
    _DUMPER.dump(_sorted(data) if sort_keys else data, buffer)
    return buffer.getvalue()


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
