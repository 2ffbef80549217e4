"""The plan's file writer: renders plain documents (manifests) as YAML with ruamel.yaml's libyaml
emitter and creates their files. `mlops plan` splits thousands of files between itself and
worker processes (`python -m mlops.plan_files ROOT`, the documents as marshal data on standard
input), so this module imports nothing but ruamel.yaml. A worker exits 0 when every file is
written, else 1 with one line on standard error naming the file. Edits of the project's own
files (stack files, the catalogue, Pulumi.yaml) go through `mlops.yamledit` instead, which keeps
their comments and layout."""

from __future__ import annotations

import marshal
import os
import sys
from typing import Any, ClassVar


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


def _plain_representer() -> type:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.representer import SafeRepresenter
    from ruamel.yaml.tag import Tag

    class PlainRepresenter(SafeRepresenter):
        """ruamel's safe representer for plain data: a value used twice (one selector in two
        places) is written out twice, never as an anchor and alias, which readers of a manifest
        do not expect; and one Tag object per tag (ruamel builds a new Tag for every node and
        decodes its text character by character: a third of the time of a large plan)."""

        tags: ClassVar[dict[str, Tag]] = {}
        # The resolver's verdict on a scalar (may it be written plain?) depends on its text
        # alone, and manifests repeat the same texts (keys, labels) thousands of times. ruamel's
        # C emitter asks the dumper it builds from this class and the resolver, this class first.
        resolved: ClassVar[dict[tuple[Any, ...], Any]] = {}

        def shared(self, tag: Any) -> Any:
            if isinstance(tag, str):
                return self.tags.setdefault(tag, Tag(suffix=tag))
            return tag

        def ignore_aliases(self, data: Any) -> bool:
            return True

        def represent_scalar(self, tag: Any, value: Any, style: Any = None, anchor: Any = None) -> Any:
            return super().represent_scalar(self.shared(tag), value, style, anchor)

        def represent_sequence(self, tag: Any, sequence: Any, flow_style: Any = None) -> Any:
            return super().represent_sequence(self.shared(tag), sequence, flow_style)

        def represent_mapping(self, tag: Any, mapping: Any, flow_style: Any = None) -> Any:
            return super().represent_mapping(self.shared(tag), mapping, flow_style)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not ScalarNode:
                return super().resolve(kind, value, implicit)  # type: ignore[misc]
            key = (value, *implicit)
            found = self.resolved.get(key)
            if found is None:
                found = self.resolved[key] = super().resolve(kind, value, implicit)  # type: ignore[misc]
            return found

    return PlainRepresenter


def _dumper() -> Any:
    global _DUMPER
    if _DUMPER is None:
        from ruamel.yaml import YAML

        _DUMPER = YAML(typ="safe")
        _DUMPER.Representer = _plain_representer()
        _DUMPER.default_flow_style = False
        _DUMPER.allow_unicode = True
        _DUMPER.width = 4096
        _DUMPER.representer.sort_base_mapping_type_on_output = False
    return _DUMPER


def dump_yaml(data: Any, sort_keys: bool = False) -> str:
    """Block YAML text for plain data (manifests), through ruamel.yaml's libyaml emitter: keys in
    the data's order, or sorted (equal data, equal text). Nothing else: editing a file in place
    (comments and layout kept) is `mlops.yamledit`'s job."""
    import io

    dumper = _dumper()
    if sort_keys:
        data = _sorted(data)
    buffer = io.StringIO()
    try:
        node = _node(data)
    except _NotPlain:
        dumper.dump(data, buffer)  # a float, or another type ruamel's representer knows
    else:
        dumper.serialize(node, buffer)
    return buffer.getvalue()


class _NotPlain(Exception):
    pass


_NODE_TYPES: Any = None


def _node(value: Any) -> Any:
    """The representation tree of plain data, built directly: the nodes ruamel's safe representer
    builds for str, int, bool, None, dicts and lists (block style), at half its cost, which is
    most of the time of a large plan. tests/test_plan_files.py holds the text equal to ruamel's
    own for every object of every committed stack."""
    global _NODE_TYPES
    if _NODE_TYPES is None:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        tags = {name: _dumper().representer.shared(f"tag:yaml.org,2002:{name}") for name in _TAGS}
        _NODE_TYPES = (MappingNode, ScalarNode, SequenceNode, tags)
    mapping, scalar, sequence, tags = _NODE_TYPES

    def build(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return scalar(tags["str"], value)
        if kind is dict:
            return mapping(tags["map"], [(build(k), build(v)) for k, v in value.items()], flow_style=False)
        if kind is list:
            return sequence(tags["seq"], [build(v) for v in value], flow_style=False)
        if kind is bool:
            return scalar(tags["bool"], "true" if value else "false")
        if kind is int:
            return scalar(tags["int"], str(value))
        if value is None:
            return scalar(tags["null"], "null")
        raise _NotPlain

    return build(value)


_TAGS = ("str", "map", "seq", "bool", "int", "null")


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mlops.plan_files ROOT < marshalled [(relative path, document)]", file=sys.stderr)
        return 2
    try:
        write_files(argv[1], marshal.loads(sys.stdin.buffer.read()))
    except OSError as exc:
        print(f"{os.path.basename(exc.filename or argv[1])}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except (ValueError, EOFError, TypeError) as exc:
        print(f"the plan's documents did not arrive whole ({exc})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
