"""Editing YAML files in place: the one way the tooling changes a stack file, a catalogue file or
`Pulumi.yaml`.

Why one module: an edit must keep everything it does not change - comments, blank lines, key
order, quoting, flow style - so a review shows exactly the change, people can keep notes in the
files, and `mlops` and `pulumi config set --path` can be used on the same stack. ruamel.yaml's
round-trip mode parses and writes (no regular expressions over YAML text, no emitter of our own);
this module adds what ruamel leaves to its callers:

- one layout (mappings indented by 2, lists indented under their key, long lines kept), and a
  check at load time that writing the file back unchanged gives it byte for byte: a file in
  another consistent layout (lists not indented, say) keeps its own, and one that cannot be
  written back unchanged is refused naming the line, so an edit never reformats other lines;
- Pulumi's `--path` semantics (`config_path`, `set`, `delete`): missing intermediate mappings and
  lists are created, index == length appends, deleting removes only the addressed entry;
- comment lines *after* an entry belong to what follows it, but ruamel hangs them on the entry's
  last value: they are moved when that value is replaced or deleted, or a new entry follows it.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import io
import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.tokens import CommentToken

from spec.errors import ConfigError
from spec.files import parse_yaml

Key = str | int
KeyPath = tuple[Key, ...]
Layout = tuple[int, int, int]  # ruamel's indent(mapping=, sequence=, offset=)

# The house layout: how every YAML file of the project is written (and how the Pulumi CLI writes
# stack files). The width keeps digests and long strings on one line.
HOUSE_LAYOUT: Layout = (2, 4, 2)
_WIDTH = 4096
_MISSING: Any = object()


@functools.cache
def _yaml(layout: Layout) -> YAML:
    """The shared round-trip YAML instance for a layout (built once per process)."""
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.indent(mapping=layout[0], sequence=layout[1], offset=layout[2])
    yaml.width = _WIDTH
    return yaml


def _dump(layout: Layout, root: Any) -> str:
    buffer = io.StringIO()
    _yaml(layout).dump(root, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- config paths

_SEGMENT = re.compile(r'\[(?P<index>[0-9]+)\]|\["(?P<quoted>(?:[^"\\]|\\.)*)"\]|(?P<dot>\.)?(?P<name>[^.\["\]]+)')


def config_path(key: str, display: str = "config key") -> KeyPath:
    """Where a config key, written as `pulumi config set --path` takes it, lives in a stack file:
    `mlops:settings.replicas` -> ("config", "mlops:settings", "replicas"),
    `mlops:components[2].settings` -> ("config", "mlops:components", 2, "settings");
    `["a.b"]` quotes a key holding dots or brackets."""
    namespace, colon, name = key.partition(":")
    if not colon or not namespace or not name:
        raise _bad_path(display, key, "needs a namespace (mlops:settings.replicas)")
    segments: list[Key] = []
    at = 0
    while at < len(name):
        match = _SEGMENT.match(name, at)
        first = not segments
        if match is None or (match["name"] is not None and bool(match["dot"]) == first):
            raise _bad_path(display, key, f"cannot read it from character {len(namespace) + 2 + at}")
        index, quoted = match["index"], match["quoted"]
        segments.append(
            int(index) if index else re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match["name"]
        )
        at = match.end()
    if not isinstance(segments[0], str):
        raise _bad_path(display, key, "must start with a key name, not a list index")
    return ("config", f"{namespace}:{segments[0]}", *segments[1:])


def _bad_path(display: str, key: str, why: str) -> ConfigError:
    fix = "write it as `pulumi config set --path` does (mlops:settings.replicas, mlops:components[0].version)"
    return ConfigError.one(display, key, f"not a config path ({why}): {fix}")


def _path_text(path: KeyPath) -> str:
    """A path as users write it: config paths in `--path` syntax, others dotted."""
    parts = path[1:] if len(path) > 1 and path[0] == "config" else path
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).removeprefix(".")


# --------------------------------------------------------------------------- the document


class YamlDocument:
    """One YAML file loaded round-trip: read and change values by path, then `text()` gives the
    file with every byte outside the changed entries as it was."""

    def __init__(self, root: Any, display: str, layout: Layout = HOUSE_LAYOUT, newline: str = "\n") -> None:
        self._root = root
        self.display = display
        self._layout = layout
        self._newline = newline

    @classmethod
    def new(cls, display: str, comment: str = "") -> YamlDocument:
        """An empty mapping document in the house layout, opened by `comment` (lines without '#')."""
        root = CommentedMap()
        if comment:
            root.yaml_set_start_comment(comment)
        return cls(root, display)

    @classmethod
    def load(cls, text: str, display: str) -> YamlDocument:
        """The document of `text`. Refuses what `spec.files.parse_yaml` refuses (oversized, too
        deep, alias bombs, tags, syntax errors) before ruamel's round-trip loader sees it, and a
        text that would not be written back byte for byte (a missing final newline is added)."""
        if parse_yaml(text, display) is None:
            raise ConfigError.one(display, "", "is empty: there is nothing to edit (restore the file from git)")
        newline = "\r\n" if "\r\n" in text else "\n"
        normal = text.replace("\r\n", "\n")
        normal += "" if normal.endswith("\n") else "\n"
        for layout in _layouts(normal):
            try:
                root = _yaml(layout).load(normal)
            except YAMLError as exc:
                problem = str(exc).splitlines()[0]
                raise ConfigError.one(display, "", f"cannot be edited ({problem}): edit by hand") from None
            written = _dump(layout, root)
            if written == normal:
                return cls(root, display, layout, newline)
        number, line = _first_difference(normal, written)
        why = f"the editor would rewrite this line too ({line[:60]!r}): lay it out as `mlops` writes YAML"
        fix = "(no trailing spaces, `{a: 1, b: 2}`), or edit by hand"
        raise ConfigError.one(display, f"line {number}", f"{why} {fix}")

    def text(self) -> str:
        """The file's text now, in its own layout and line endings."""
        written = _dump(self._layout, self._root)
        return written.replace("\n", "\r\n") if self._newline == "\r\n" else written

    def get(self, path: KeyPath, default: Any = None) -> Any:
        """The value at `path` as plain data (dicts, lists, scalars), or `default` when absent."""
        node = self._root
        for key in path:
            node = _child(node, key)
            if node is _MISSING:
                return default
        return _plain(node)

    def set(self, path: KeyPath, value: Any, flow: int | None = None, position: int | None = None) -> None:
        """Set the value at `path` as `pulumi config set --path` does: missing or null
        intermediates become mappings (or lists, before an index), an index equal to the list's
        length appends; a scalar in the way is an error, except a config key's own value
        (directly under `config:`), which Pulumi replaces.

        `flow`: the depth (path length from the document root) from which new collections are
        written in flow style (`{a: 1}`); None writes block style. Pins, at depth 2, are
        `set(("config", "mlops:components"), pins, flow=3)`: a block list of flow mappings.
        `position`: where a new mapping key goes (default: last)."""
        if not path:
            raise ValueError("set needs a non-empty path")
        if self._root is None:
            self._root = _styled(CommentedSeq() if isinstance(path[0], int) else CommentedMap(), 0, flow)
        container = self._root
        for depth in range(1, len(path)):
            key, following = path[depth - 1], path[depth]
            child = _child(container, key)
            replaceable = depth == 2 and path[0] == "config" and not isinstance(child, Mapping | list)
            if child is _MISSING or child is None or replaceable:
                child = _styled(CommentedSeq() if isinstance(following, int) else CommentedMap(), depth, flow)
                self._put(container, key, child, path[:depth])
            elif not isinstance(child, Mapping if isinstance(following, str) else list):
                raise self._mismatch(path[: depth + 1], child)
            container = child
        self._put(container, path[-1], _node(value, len(path), flow), path, position)

    def delete(self, path: KeyPath) -> bool:
        """Remove the entry at `path` and only it (as `pulumi config rm --path`): an emptied
        mapping or list stays. False when there was nothing to remove."""
        chain = [self._root]
        for key in path[:-1]:
            chain.append(_child(chain[-1], key))
            if chain[-1] is _MISSING:
                return False
        container, key = chain[-1], path[-1]
        if _child(container, key) is _MISSING:
            return False
        at = _keys(container).index(key)
        lines = _pre_lines(container, key) + _take_following(container, key)
        del container[key]
        if isinstance(container, CommentedMap):
            container.ca.items.pop(key, None)  # ruamel keeps a deleted key's comments otherwise
        if not container:
            container.fa.set_flow_style()  # written `{}` or `[]` (see _styled)
        if not lines:
            return True
        if at > 0:
            _put_following(container, _keys(container)[at - 1], lines)
        elif len(container):  # before the entry that is now first
            slot = container.ca.items.setdefault(0 if isinstance(container, list) else _keys(container)[0], [None] * 4)
            slot[1] = [_token(lines), *(slot[1] or [])]
        elif len(path) > 1:  # the container is empty now: after its own entry
            _put_following(chain[-2], path[-2], lines)
        return True

    def _put(self, container: Any, key: Key, node: Any, path: KeyPath, position: int | None = None) -> None:
        """Store `node` at `container[key]`, keeping the comment lines that follow the entry (or
        the entry before a new one) after it."""
        if isinstance(container, CommentedMap) and isinstance(key, str):
            if key in container:
                lines = _take_following(container, key)
                container[key] = node
                _put_following(container, key, lines)
                return
            keys = _keys(container)
            at = len(keys) if position is None else max(0, min(position, len(keys)))
            lines = _take_following(container, keys[at - 1]) if at else ""
            container.insert(at, key, node)
            _put_following(container, key, lines)
            return
        if isinstance(container, CommentedSeq) and isinstance(key, int):
            size = len(container)
            if not 0 <= key <= size:
                fix = f"the list has {size} entries (index {size} appends)"
                raise ConfigError.one(self.display, _path_text(path), f"index out of range: {fix}")
            lines = _take_following(container, min(key, size - 1)) if size else ""
            if key == size:
                container.append(node)
            else:
                container[key] = node
            _put_following(container, key, lines)
            return
        raise self._mismatch(path, container)

    def _mismatch(self, path: KeyPath, found: Any) -> ConfigError:
        """`path` leads through `found`, which is not the mapping or list the path needs there."""
        kind, where = "mapping" if isinstance(path[-1], str) else "list", _path_text(path[:-1])
        what = repr(_plain(found))
        if isinstance(found, Mapping | list):
            what = "a mapping" if isinstance(found, Mapping) else "a list"
        why = f"{where} holds {what}, not a {kind}: remove {where} first, or fix the path"
        return ConfigError.one(self.display, _path_text(path), why)


def _layouts(text: str) -> Iterator[Layout]:
    """The house layout, then (only if needed: guessing parses the text again) the layout the
    text itself appears to use."""
    from ruamel.yaml.util import load_yaml_guess_indent

    yield HOUSE_LAYOUT
    with contextlib.suppress(YAMLError):
        _, indent, offset = load_yaml_guess_indent(text)
        if indent is not None:
            yield from (g for g in [(2, indent, offset or 0), (indent, indent, offset or 0)] if g != HOUSE_LAYOUT)


def _first_difference(text: str, other: str) -> tuple[int, str]:
    """The number and text of the first line of `text` that `other` does not have."""
    pairs = itertools.zip_longest(text.split("\n"), other.split("\n"), fillvalue="")
    return next(((n, a) for n, (a, b) in enumerate(pairs, 1) if a != b), (1, ""))


def _child(node: Any, key: Key) -> Any:
    if isinstance(node, Mapping) and isinstance(key, str):
        return node.get(key, _MISSING)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _MISSING


def _keys(container: Any) -> list[Key]:
    return list(container) if isinstance(container, Mapping) else list(range(len(container)))


def _styled(node: Any, depth: int, flow: int | None) -> Any:
    """`node` in flow style from depth `flow` on (see `YamlDocument.set`), block style above."""
    if flow is not None and depth >= flow:
        node.fa.set_flow_style()
    else:
        node.fa.set_block_style()
    return node


def _node(value: Any, depth: int, flow: int | None) -> Any:
    """Plain data as round-trip nodes, styled by depth. An empty collection is written `{}` or
    `[]` whatever its style; marking it flow keeps ruamel from writing a comment that follows it
    before the brackets."""
    if isinstance(value, Mapping):
        node = CommentedMap((str(k), _node(v, depth + 1, flow)) for k, v in value.items())
    elif isinstance(value, list | tuple):
        node = CommentedSeq(_node(v, depth + 1, flow) for v in value)
    else:
        return value
    return _styled(node, depth, flow if node else depth)


def _plain(node: Any) -> Any:
    """Round-trip nodes as the plain data `spec.files.parse_yaml` returns."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, datetime.date):  # ISO text, as parse_yaml gives it
        text = node.isoformat()
        utc = isinstance(node, datetime.datetime) and node.tzinfo is not None and text.endswith("+00:00")
        return text.removesuffix("+00:00") + "Z" if utc else text
    if isinstance(node, bool | ScalarBoolean):  # ScalarBoolean (an anchored boolean) is an int
        return bool(node)
    for kind in (str, int, float):  # ruamel's subclasses (ScalarInt, ScalarFloat, ...) as plain values
        if isinstance(node, kind):
            return kind(node)
    return node


# --------------------------------------------------------------------------- comments after an entry


def _is_block(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and len(node) > 0 and not node.fa.flow_style()


def _slot(container: Any) -> int:
    """Where ruamel keeps the comment after an entry's value: [2] in a mapping, [0] in a list."""
    return 2 if isinstance(container, Mapping) else 0


def _text(token: CommentToken) -> str:
    """A full-line comment token as text whose lines carry their own indentation."""
    own_line = token.value.startswith("\n") or token.start_mark is None
    return ("" if own_line else " " * token.start_mark.column) + token.value


def _token(lines: str) -> CommentToken:
    return CommentToken(lines, CommentMark(0), None)


def _take_following(container: Any, key: Key) -> str:
    """Remove and return the comment and blank lines that follow entry `key` in the file (its
    own end-of-line comment stays with it)."""
    value = container[key]
    if _is_block(value):
        lines = _take_following(value, _keys(value)[-1])
        end = getattr(value.ca, "end", None)
        if end:
            lines += "".join(_text(t) for t in end)
            value.ca.end = None
        return lines
    entry = container.ca.items.get(key)
    token = entry[_slot(container)] if entry else None
    own, newline, lines = token.value.partition("\n") if token is not None else ("", "", "")
    if not lines:
        return ""
    if own:
        token.value = own + newline
    else:
        entry[_slot(container)] = None
    return lines


def _pre_lines(container: Any, key: Key) -> str:
    """The comment lines ruamel keeps *before* entry `key` (after a flow value above it)."""
    entry = container.ca.items.get(key)
    return "".join(_text(t) for t in entry[1] or []) if entry and len(entry) > 1 else ""


def _put_following(container: Any, key: Key, lines: str) -> None:
    """Write `lines` (from `_take_following`) right after entry `key`."""
    if not lines:
        return
    value = container[key]
    if _is_block(value):
        end = getattr(value.ca, "end", None)
        if end:  # ruamel writes these last
            end.append(_token(lines))
        else:
            _put_following(value, _keys(value)[-1], lines)
        return
    entry = container.ca.items.setdefault(key, [None, None, None, None])
    token = entry[_slot(container)]
    if token is None:
        entry[_slot(container)] = _token("\n" + lines)
    else:
        token.value = token.value + ("" if token.value.endswith("\n") else "\n") + lines
