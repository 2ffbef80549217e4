"""`mlops diff`, `promote`, `pin`, `rollback`: change which versions a stack runs."""

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.common import (
    NoDeployOpt,
    StackOpt,
    YesOpt,
    app,
    confirm,
    deploy,
    echo_resources,
    fail,
    print_pins,
    project_root,
    show_update,
    user_errors,
    version_text,
)


@app.command()
@user_errors
def diff(
    source: Annotated[str, typer.Argument(metavar="FROM", help="The stack whose pins would be promoted.")],
    target: Annotated[str, typer.Argument(metavar="TO", help="The stack that would run them.")],
    format: Annotated[str, typer.Option("--format", help="text, markdown or json.")] = "text",
) -> None:
    """What TO would change if it ran FROM's pins. Exit 0 when the pins are the same, 1 when they differ, 2 on error."""
    import json

    if format not in ("text", "markdown", "json"):
        raise fail(ValueError(f"--format {format!r}: use text, markdown or json"))
    root = project_root()
    from mlops.promotion import prepare_promotion

    update = prepare_promotion(root, source, target, force=True)
    resources = update.resources()
    pins = update.pins
    if format == "json":
        typer.echo(
            json.dumps(
                {
                    "from": source,
                    "to": target,
                    "pins": [
                        {"name": c.name, "type": c.type, "to_now": c.before, "after": c.after, "change": c.status}
                        for c in pins
                    ],
                    "resources": [r.__dict__ for r in resources],
                },
                indent=2,
            )
        )
    elif format == "markdown":
        typer.echo(_markdown(source, target, pins, resources))
    else:
        print_pins(pins, f"Pins: {target} now -> with {source}'s pins", target, source)
        echo_resources(resources, target)
    raise typer.Exit(1 if update.changed else 0)


def _markdown(source: str, target: str, pins, resources) -> str:
    lines = [
        f"### `{source}` -> `{target}`",
        "",
        f"| component | type | {target} | {source} | change |",
        "|---|---|---|---|---|",
    ]
    for c in pins:
        mark = "" if c.status == "unchanged" else "**"
        lines.append(
            f"| {c.name} | {c.type} | {version_text(c.before)} | {version_text(c.after)} | {mark}{c.status}{mark} |"
        )
    if resources:
        lines += ["", "| object | kind | change | fields |", "|---|---|---|---|"]
        for r in resources:
            fields = ", ".join(f"`{f}`" for f in r.fields[:10]) + (" ..." if len(r.fields) > 10 else "")
            lines.append(f"| {r.object} | {r.kind} | {r.status} | {fields} |")
    return "\n".join(lines)


@app.command()
@user_errors
def promote(
    source: Annotated[str, typer.Argument(metavar="FROM", help="The stack whose versions are promoted.")],
    target: Annotated[str | None, typer.Argument(metavar="[TO]", help="Default: FROM's promotes_to.")] = None,
    source_kind: Annotated[
        str, typer.Option("--source", help="config: FROM's stack file; deployed: the pins FROM runs (its outputs).")
    ] = "config",
    outputs_file: Annotated[
        Path | None, typer.Option("--outputs-file", help="FROM's outputs as `pulumi stack output --json` prints them.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    no_deploy: NoDeployOpt = False,
    yes: YesOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Allow promoting against the chain.")] = False,
) -> None:
    """Make TO run exactly FROM's versions: writes only TO's pins (and provenance), then deploys TO."""
    from spec.errors import ConfigError

    if source_kind not in ("config", "deployed"):
        raise fail(ValueError(f"--source {source_kind!r}: use config or deployed"))
    root = project_root()
    from mlops import automation
    from mlops.outputs import read_outputs_file
    from mlops.promotion import commit, prepare_promotion

    outputs, display, update_number = None, "stack outputs", None
    if source_kind == "deployed":
        if outputs_file is not None:
            outputs, display = read_outputs_file(outputs_file), str(outputs_file)
        elif automation.available():
            outputs, display = automation.outputs(root, source), f"outputs of stack {source}"
            update_number = automation.last_update(root, source)
        else:
            raise ConfigError.one(
                "--source deployed", "", "needs --outputs-file F or the Pulumi CLI to read FROM's outputs"
            )

    def prepare():
        return prepare_promotion(
            root,
            source,
            target,
            source_kind=source_kind,
            outputs=outputs,
            outputs_display=display,
            update_number=update_number,
            force=force,
        )

    update = prepare()
    show_update(update, dry_run=dry_run)
    if dry_run:
        return
    if not update.changed:
        typer.echo(f"Nothing to promote: {update.stack} already runs these versions.")
        return
    confirm(f"Promote {source} -> {update.stack}?", yes)
    update = commit(root, prepare)
    typer.echo(f"Wrote the pins of {update.stack} (promoted from {source}, {source_kind}).")
    deploy(root, update.stack, no_deploy)


@app.command()
@user_errors
def pin(
    component: Annotated[str, typer.Argument(help="A component pinned in the stack.")],
    version: Annotated[str, typer.Argument(help="A catalogue version: id or label (v3).")],
    stack: StackOpt,
    unverified: Annotated[
        bool,
        typer.Option(
            "--unverified",
            help="A hotfix the upstream does not run: let it past the promotion guard "
            "(mlops:promotion.unverified), recorded in the history; the next promotion ends it.",
        ),
    ] = False,
    no_deploy: NoDeployOpt = False,
    yes: YesOpt = False,
) -> None:
    """Pin one component to any catalogue version (a hotfix or a manual rollback of one component).
    In a stack that another promotes into, a version its upstream does not run needs --unverified."""

    root = project_root()
    from mlops.promotion import commit, prepare_pin

    update = prepare_pin(root, stack, component, version, unverified)
    show_update(update, dry_run=False)
    if not update.changed:
        typer.echo(f"Nothing to do: {component} already runs that version in {stack}.")
        return
    confirm(f"Pin {component} to {version} in {stack}?", yes)
    commit(root, lambda: prepare_pin(root, stack, component, version, unverified))
    typer.echo(f"Pinned {component} to {version} in {stack}.")
    deploy(root, stack, no_deploy)


@app.command()
@user_errors
def rollback(stack: StackOpt, no_deploy: NoDeployOpt = False, yes: YesOpt = False) -> None:
    """Restore the pins the stack had before its last promote, pin or rollback."""

    root = project_root()
    from mlops.promotion import commit, prepare_rollback

    update = prepare_rollback(root, stack)
    show_update(update, dry_run=False)
    if not update.changed:
        typer.echo(f"Nothing to roll back: {stack} already runs those pins.")
        return
    confirm(f"Roll back {stack}?", yes)
    commit(root, lambda: prepare_rollback(root, stack))
    typer.echo(f"Rolled back the pins of {stack}.")
    deploy(root, stack, no_deploy)
