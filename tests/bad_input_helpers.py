"""How the bad-input tests break a project: each helper returns a change, applied later, to a
stack file's pins or keys, to a catalogue file, or to a file's text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import edit_stack, edit_yaml

CATALOGUE = Path("config") / "components"


def pin(which: str, /, **changes: Any) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        for p in config["mlops:components"]:
            if p["name"] == which:
                p.update(changes)

    return change


def in_catalogue(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: edit_yaml(root / CATALOGUE / f"{name}.yaml", change)


def in_stack(stack: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: edit_stack(root, stack, change)


def rename_key(old: str, new: str) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        config[new] = config.pop(old)

    return change


def write(relative: str, text: str) -> Callable[[Path], None]:
    return lambda root: (root / relative).write_text(text)


def set_key(key: str, value: Any) -> Callable[[dict], None]:
    return lambda config: config.__setitem__(key, value)


def first_version(change: Callable[[dict], None]) -> Callable[[dict], None]:
    return lambda data: change(data["versions"][0])
