"""The thin layer over the Pulumi CLI, through the Automation API. Everything here needs `pulumi`
on PATH; callers check `available()` first and otherwise print the commands to run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


def available() -> bool:
    return shutil.which("pulumi") is not None


def _stack(root: Path, stack: str) -> Any:
    from pulumi import automation

    return automation.select_stack(stack_name=stack, work_dir=str(root))


def outputs(root: Path, stack: str) -> dict[str, Any]:
    """The stack's outputs as deployed (secrets stay masked: we never ask for them in clear)."""
    return {name: value.value for name, value in _stack(root, stack).outputs().items()}


def last_update(root: Path, stack: str) -> int | None:
    entries = _stack(root, stack).history(page_size=1)
    return entries[0].version if entries else None


def preview(root: Path, stack: str, echo: Callable[[str], None]) -> None:
    """`pulumi preview --diff`, the CLI's own output streamed to `echo`."""
    _stack(root, stack).preview(diff=True, on_output=echo)


def preview_and_up(root: Path, stack: str, echo: Callable[[str], None]) -> None:
    """`pulumi preview --diff` then `pulumi up`, the CLI's own progress streamed to `echo`."""
    target = _stack(root, stack)
    target.preview(diff=True, on_output=echo)
    target.up(on_output=echo)


def commands(stack: str) -> list[str]:
    return [f"pulumi preview --diff -s {stack}", f"pulumi up -s {stack}"]


def init_stack(root: Path, stack: str) -> None:
    """`pulumi stack init` (or select it when it exists already)."""
    from pulumi import automation

    automation.create_or_select_stack(stack_name=stack, work_dir=str(root))


def destroy_and_remove(root: Path, stack: str, echo: Callable[[str], None]) -> None:
    """`pulumi destroy` then `pulumi stack rm`, the CLI's progress streamed to `echo`."""
    target = _stack(root, stack)
    target.destroy(on_output=echo)
    target.workspace.remove_stack(stack)
