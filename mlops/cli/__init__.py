"""The `mlops` command. Thin: it parses arguments, calls pure functions, prints one clear line per
problem and exits non-zero; it never shows a traceback for bad input. One module per command
group; importing them registers their commands on `app`. The command modules keep their
annotations as objects (no `from __future__ import annotations`): typer reads every command's
parameters on every run, and a string annotation costs it an eval each time."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

import typer

import mlops.cli.review  # noqa: F401 - registers `mlops review`
from mlops.cli import canary, catalogue, challenger, promote, run, settings, smoke, stacks  # noqa: F401 - registers commands
from mlops.cli.common import EXIT_ERROR, app

__all__ = ["app", "main"]


def main() -> None:
    """The console script: usage mistakes (a missing argument, an unknown option) are one line
    and exit 2, like every other error of this command."""

    from spec.project import enable_parse_cache

    # Registered before the command runs, so it runs after every exit handler the command adds.
    atexit.register(_leave)
    enable_parse_cache()
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except Exception as exc:
        # Typer's usage errors (its vendored click's UsageError: exit code 2, format_message).
        if getattr(exc, "exit_code", None) != EXIT_ERROR or not hasattr(exc, "format_message"):
            raise
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "mlops"
        if not exc.format_message() and ctx is not None:  # no arguments at all: show the help
            typer.echo(ctx.get_help())
            sys.exit(0)
        typer.echo(f"{where}: {exc.format_message()} (see {where} --help)", err=True)
        sys.exit(EXIT_ERROR)
    _finished.append(code if isinstance(code, int) else 0)
    sys.exit(_finished[-1])


# The exit code of a command that returned (typer.Exit included); empty after a traceback.
_finished: list[int] = []


def _leave() -> None:
    """The process's last step once a command has finished: flush the output and end at once.
    By now Python has waited for the command's threads and run its exit handlers; what remains
    is freeing every object of the heap one by one (with a last garbage collection over it),
    which the operating system does at once. At a thousand components that teardown is a fifth
    of `mlops diff`. After a traceback, Python's ordinary exit runs instead."""
    if not _finished:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`mlops status | head`)
            stream.flush()
    os._exit(_finished[-1])
