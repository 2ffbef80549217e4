"""What every `mlops` command shares: the Typer app, options, the one-line error handling,
confirmation, tables and the hand-over to the Pulumi CLI."""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="mlops",
    help="Ship an ML project's apps and models through Integration -> UAT -> Production on GKE with Pulumi.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_ERROR = 2


@app.callback()
def _callback() -> None:
    """Acts on the project in the current directory (found by walking up to Pulumi.yaml)."""


StackOpt = Annotated[str, typer.Option("--stack", "-s", help="The stack (environment) to act on.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
NoDeployOpt = Annotated[
    bool, typer.Option("--no-deploy", help="Only write the stack file; do not run pulumi preview/up.")
]


def project_root() -> Path:
    from spec.project import find_project_root

    return find_project_root(Path.cwd())


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input anywhere in a command: its one line (or one line per problem) and exit 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from spec.errors import ConfigError, ProgramError

        try:
            return command(*args, **kwargs)
        except (ConfigError, ProgramError) as exc:
            raise fail(exc) from None
        except Exception as exc:
            # The Pulumi CLI failed under the Automation API (no such stack, not logged in, a
            # failed update): its first line, not a Python traceback. The CLI's own output
            # has already been streamed above it.
            if type(exc).__module__.startswith("pulumi.automation"):
                raise fail(RuntimeError(f"pulumi: {cli_error_line(exc)}")) from None
            raise

    return wrapper


def cli_error_line(exc: Exception) -> str:
    """The telling line of a Pulumi CLI failure: its stderr's last line, else the last line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line.removeprefix("stderr:").strip() for line in lines if line.startswith("stderr:")]
    chosen = [e for e in errors if e] or lines
    return chosen[-1] if chosen else type(exc).__name__


def fail(exc: Exception) -> typer.Exit:
    from spec.errors import ConfigError

    lines = [str(p) for p in exc.problems] if isinstance(exc, ConfigError) else [str(exc).splitlines()[0]]
    for line in lines:
        typer.echo(line, err=True)
    return typer.Exit(EXIT_ERROR)


def console():
    import shutil

    from rich.console import Console

    # Wide enough that URLs and versions are never cut, in a terminal or in a CI log.
    return Console(highlight=False, width=max(200, shutil.get_terminal_size().columns))


def version_text(version: tuple[int | str, str | None] | None) -> str:
    if version is None:
        return "-"
    return f"{version[0]} ({version[1]})" if version[1] else str(version[0])


# Above this many rows a table is printed as plain aligned columns: rich measures and wraps
# every cell, about half a millisecond each, which a thousand-component stack turns into seconds.
RICH_ROWS = 100


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A table on stdout: rich's for a screenful of rows, plain aligned columns beyond."""
    if len(rows) <= RICH_ROWS:
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console().print(table)
        return
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    typer.echo("\n".join(lines))


def canary_text(canary: Any) -> str:
    """` + canary 154 (v2) 10% sticky`, or nothing."""
    if canary is None:
        return ""
    version, label, weight, sticky = canary
    return f" + canary {version_text((version, label))} {weight}%{' sticky' if sticky else ''}"


def print_pins(changes: Any, title: str, before: str, after: str) -> None:
    rows = [
        [
            c.name,
            c.type,
            version_text(c.before) + canary_text(c.canary_before),
            version_text(c.after) + canary_text(c.canary_after),
            c.status,
        ]
        for c in changes
    ]
    print_table(title, ["component", "type", before, after, "change"], rows)


def confirm(question: str, yes: bool) -> None:
    import sys

    if yes:
        return
    if not sys.stdin.isatty():
        raise fail(ValueError("no terminal to confirm on: pass --yes to confirm non-interactively"))
    if not typer.confirm(question, default=False):
        typer.echo("Nothing changed.")
        raise typer.Exit(1)


def deploy(root: Path, stack: str, no_deploy: bool) -> None:
    from mlops import automation

    if no_deploy:
        typer.echo(f"Not deployed (--no-deploy). To deploy: {'; '.join(automation.commands(stack))}")
        return
    if not automation.available():
        typer.echo("The Pulumi CLI is not installed here, so nothing was deployed. To deploy, run:")
        for command in automation.commands(stack):
            typer.echo(f"  {command}")
        return
    automation.preview_and_up(root, stack, lambda line: typer.echo(line, nl=False))


SYMBOLS = {"added": "+", "removed": "-", "changed": "~", "replaced": "+-"}


def echo_resources(resources, stack: str, limit: int = 8) -> None:
    """One line per Kubernetes object, as `pulumi preview` marks them (+ create, ~ update,
    - delete, +- replace), with the fields that change."""
    if not resources:
        typer.echo(f"No Kubernetes object changes in {stack}.")
        return
    counts = {s: sum(1 for r in resources if r.status == s) for s in SYMBOLS}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"Kubernetes objects that change in {stack} ({summary}):"]
    for r in resources:
        fields = ", ".join(r.fields[:limit]) + (f" (+{len(r.fields) - limit} more)" if len(r.fields) > limit else "")
        lines.append(f"  {SYMBOLS[r.status]:>2} {r.kind} {r.object}" + (f": {fields}" if fields else ""))
    typer.echo("\n".join(lines))  # one write: a line at a time costs a system call each, unbuffered


def show_update(update, *, dry_run: bool) -> None:
    for warning in update.warnings:
        typer.echo(f"warning: {warning}", err=True)
    print_pins(update.pins, f"Pins of {update.stack}", "now", "after")
    echo_resources(update.resources(), update.stack)
    if dry_run:
        typer.echo(f"Dry run: {update.stack} was not changed.")


def stack_outputs(root: Path, stack: str, outputs_file: Path | None) -> dict[str, Any]:
    """A stack's outputs: from `outputs_file` (`pulumi stack output --json`), else through the
    Automation API where the Pulumi CLI is installed; one line saying which to give otherwise."""
    from mlops import automation
    from mlops.outputs import read_outputs_file
    from spec.errors import ConfigError

    if outputs_file is not None:
        return read_outputs_file(outputs_file)
    if automation.available():
        return automation.outputs(root, stack)
    raise ConfigError.one(
        "--outputs-file", "", f"needs the outputs of {stack}: `pulumi stack output --json -s {stack} > F`, then pass F"
    )
