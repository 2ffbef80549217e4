"""The plan's file writer: a child process that renders and creates the plan's files while
`mlops plan` is still running the program; and the YAML emitter for plain manifest data.

Running the program is pure Python on one core; rendering and creating thousands of small files
costs, on some file systems, as much again. A child process does it on another core (threads
cannot: they would wait for the parent's GIL between every two steps).

Run as `python -I -S plan_writer.py DIRECTORY` (standard library only). Standard input is a
stream of frames `<byte count>\\n<marshal of (relative path, document)>` from the same
interpreter; end of input ends the work. Every file is created new (never overwritten), its
directory made on first use. Exit 0 when every file is written; otherwise one line on standard
error naming the file, and exit 1.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import sys
from typing import Any, BinaryIO


def write_frames(root: str, stream: BinaryIO) -> int:
    """Write every frame of `stream` under `root`; the number of files written."""
    made: set[str] = set()
    count = 0
    while header := stream.readline():
        size = int(header)
        frame = stream.read(size)
        if len(frame) != size:
            raise ValueError("the plan writer's input ended inside a file")
        relative, document = marshal.loads(frame)
        if relative.startswith("/") or ".." in relative.split("/"):
            raise ValueError(f"{relative}: not a path inside the plan")
        data = to_yaml_document(document).encode("utf-8")
        directory = relative.rpartition("/")[0]
        if directory and directory not in made:
            os.makedirs(os.path.join(root, directory), exist_ok=True)
            made.add(directory)
        handle = os.open(os.path.join(root, relative), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
        count += 1
    return count


_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*(:[A-Za-z0-9_./-]+)*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    # Plain when unambiguous; otherwise a JSON string, which is a valid YAML double-quoted scalar.
    return text if _PLAIN.match(text) and text.lower() not in _RESERVED else json.dumps(text, ensure_ascii=False)


def _emit(value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _item(f"{indent}{_scalar(key)}:", item, indent + "  ", out)
    else:
        for item in value:
            _item(f"{indent}-", item, indent + "  ", out)


def _item(prefix: str, item: Any, indent: str, out: list[str]) -> None:
    if isinstance(item, dict | list) and item:
        if isinstance(item, dict) and prefix.endswith("-"):
            # "- key: value" with the mapping's other keys aligned under the first
            nested: list[str] = []
            _emit(item, indent, nested)
            nested[0] = f"{prefix} {nested[0][len(indent) :]}"
            out.extend(nested)
            return
        out.append(prefix)
        _emit(item, indent, out)
    elif isinstance(item, dict | list):
        out.append(f"{prefix} {'{}' if isinstance(item, dict) else '[]'}")
    else:
        out.append(f"{prefix} {_scalar(item)}")


def to_yaml_document(body: dict[str, Any]) -> str:
    """Block YAML for plain manifest data, keys in their natural order (apiVersion, kind,
    metadata, spec). A small emitter of our own: thousands of files must render in seconds."""
    out: list[str] = []
    _emit(body, "", out)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: plan_writer.py DIRECTORY < frames", file=sys.stderr)
        return 2
    try:
        write_frames(argv[1], sys.stdin.buffer)
    except OSError as exc:
        print(f"{exc.filename or argv[1]}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
