"""The `mlops` command. Thin: it parses arguments, calls pure functions, prints one clear line per
problem and exits non-zero; it never shows a traceback for bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
def _root() -> None:
    """Acts on the project in the current directory (found by walking up to Pulumi.yaml)."""


@app.command()
def validate(
    stack: Annotated[
        list[str] | None,
        typer.Option("--stack", "-s", help="Stack to check (repeatable); default: every Pulumi.<stack>.yaml."),
    ] = None,
) -> None:
    """Check stack files and the catalogue: one line per problem (file, key, fix), exit 2 on any."""
    from infra.environment import find_project_root, list_stacks, load_environment
    from infra.errors import ConfigError

    try:
        root = find_project_root(Path.cwd())
        stacks = stack or list_stacks(root)
        if not stacks:
            raise ConfigError.one(str(root), "", "no Pulumi.<stack>.yaml files: add one per environment")
        known = set(list_stacks(root))
        failed = False
        for name in stacks:
            if name not in known:
                from infra.errors import did_you_mean, one_of

                typer.echo(f"unknown stack '{name}'{did_you_mean(name, known)}: use one of {one_of(known)}", err=True)
                failed = True
                continue
            try:
                env = load_environment(root, name)
            except ConfigError as exc:
                failed = True
                for problem in exc.problems:
                    typer.echo(str(problem), err=True)
                continue
            typer.echo(f"ok: {name} ({len(env.components)} components, namespace {env.namespace})")
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if failed:
        raise typer.Exit(EXIT_ERROR)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
