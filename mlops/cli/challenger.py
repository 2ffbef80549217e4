"""`mlops challenger create|list|destroy`: throw-away replicas of an environment."""

from typing import Annotated

import typer

from mlops.cli.common import (
    YesOpt,
    app,
    confirm,
    print_table,
    project_root,
    user_errors,
)

# --------------------------------------------------------------------------- challengers

challenger_app = typer.Typer(
    help="Throw-away full replicas of an environment: create, list, destroy.", no_args_is_help=True
)
app.add_typer(challenger_app, name="challenger")


@challenger_app.command("create")
@user_errors
def challenger_create(
    name: Annotated[str, typer.Argument(help="DNS-safe name: the stack is challenger-NAME.")],
    source: Annotated[str, typer.Option("--from", help="The environment to replicate (its promotes_to target).")],
) -> None:
    """Write Pulumi.challenger-NAME.yaml: STACK's pins, environment config, settings, cluster and
    routing; its own namespace; STACK's node pools as existing references; no copied secrets."""
    from mlops import automation, challenger

    root = project_root()
    path = challenger.create(root, name, source)
    stack = challenger.stack_name(name)
    typer.echo(f"Wrote {path.name}: a replica of {source} that promotes to {source}.")
    if automation.available():
        automation.init_stack(root, stack)
        typer.echo(f"Created the stack {stack} in the Pulumi backend.")
    else:
        typer.echo(f"The Pulumi CLI is not installed here. To create and deploy it: pulumi stack init {stack}")
    typer.echo(f"Deploy: pulumi up -s {stack}   Promote into {source}: mlops promote {stack}")


@challenger_app.command("list")
@user_errors
def challenger_list(
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Only challengers older than this (30m, 12h, 7d, 2w).")
    ] = None,
    names_only: Annotated[
        bool, typer.Option("--names", help="Print only the names, one a line (for scripts).")
    ] = False,
) -> None:
    """Challengers with their parent, creation time, drift (pins that differ from the parent now) and age."""
    from datetime import UTC, datetime

    from mlops import challenger

    root = project_root()
    found = challenger.challengers(root)
    if older_than is not None:
        limit = challenger.parse_duration(older_than)
        now = datetime.now(UTC)
        found = [c for c in found if c.age(now) > limit]
    if names_only:
        for c in found:
            typer.echo(c.name)
        return
    if not found:
        typer.echo("No challengers.")
        return
    now = datetime.now(UTC)
    rows = []
    for c in found:
        age = c.age(now)
        days, hours = age.days, age.seconds // 3600
        shown = f"{days}d {hours}h" if days else f"{hours}h {age.seconds // 60 % 60}m"
        rows.append([c.name, c.parent, c.owner, c.created.isoformat(), f"{c.drift} pins", shown])
    print_table("Challengers", ["name", "parent", "owner", "created", "drift", "age"], rows)


@challenger_app.command("destroy")
@user_errors
def challenger_destroy(
    name: Annotated[str, typer.Argument(help="The challenger (NAME or challenger-NAME).")],
    yes: YesOpt = False,
    config_only: Annotated[
        bool, typer.Option("--config-only", help="Without a Pulumi CLI: remove only the stack file.")
    ] = False,
) -> None:
    """`pulumi destroy` and `pulumi stack rm` the challenger, then remove its file. Refuses any stack
    that is not a challenger, always."""
    import os

    from mlops import automation, challenger
    from spec.errors import ConfigError
    from spec.project import stack_file_name

    root = project_root()
    stack = challenger.require_challenger(root, name)
    if not automation.available() and not config_only:
        raise ConfigError.one(
            stack_file_name(stack), "", "the Pulumi CLI is not installed, so its resources cannot be destroyed: "
            "install it, or pass --config-only to remove only the file",
        )  # fmt: skip
    confirm(f"Destroy {stack}{' (file only)' if config_only else ''}?", yes)
    if not config_only:
        automation.destroy_and_remove(root, stack, lambda line: typer.echo(line, nl=False))
    os.unlink(root / stack_file_name(stack))
    if config_only:
        typer.echo(
            f"Removed {stack_file_name(stack)}. Deployed resources, if any, remain: run pulumi destroy -s {stack}."
        )
    else:
        typer.echo(f"Destroyed {stack} and removed {stack_file_name(stack)}.")
