"""`mlops version ...` (the catalogue) and `mlops component add|remove` (pins in a stack)."""

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.common import (
    StackOpt,
    YesOpt,
    app,
    confirm,
    fail,
    print_table,
    project_root,
    user_errors,
)

# --------------------------------------------------------------------------- catalogue

version_app = typer.Typer(
    help="A component's versions in the catalogue: list, add, tag, set-default.", no_args_is_help=True
)
app.add_typer(version_app, name="version")


@version_app.command("list")
@user_errors
def version_list(component: Annotated[str, typer.Argument(help="A catalogue component.")]) -> None:
    """Id, label, digest and creation time of every version; * marks the default."""
    from mlops import catalogue

    entry = catalogue.get(project_root(), component)
    default = entry.find_version(entry.default_version)
    rows = [
        ["*" if v is default else "", str(v.id), v.label or "-", v.digest, v.created.isoformat()]
        for v in sorted(entry.versions, key=lambda v: v.id, reverse=True)
    ]
    print_table(f"{entry.type} {entry.name} ({entry.image})", ["default", "id", "label", "digest", "created"], rows)


@version_app.command("add")
@user_errors
def version_add(
    component: Annotated[str, typer.Argument(help="A catalogue component.")],
    digest: Annotated[str | None, typer.Option("--digest", help="The image digest: sha256:<64 hex>.")] = None,
    from_stack: Annotated[
        str | None,
        typer.Option("--from-stack", help="Register the digest this stack runs (a `version: source` build)."),
    ] = None,
    outputs_file: Annotated[
        Path | None,
        typer.Option("--outputs-file", help="With --from-stack: its outputs as `pulumi stack output --json` prints."),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A label such as v4.")] = None,
    app_config: Annotated[
        Path | None, typer.Option("--app-config", help="YAML file: this version's app config.")
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default version.")] = False,
) -> None:
    """Add a version (the next id, created now): an image digest, or with --from-stack the digest a
    stack runs, with the app config it ran with. Promotion then moves that digest; nothing is rebuilt."""
    from mlops import catalogue

    root = project_root()
    if (digest is None) == (from_stack is None):
        raise fail(ValueError("give --digest DIGEST or --from-stack STACK (one of the two)"))
    if from_stack is not None:
        from mlops.cli.common import stack_outputs

        outputs = stack_outputs(root, from_stack, outputs_file)
        digest, config = catalogue.built_version(root, component, from_stack, outputs)
        new_id = catalogue.add(root, component, digest, label, app_config, default, config)
        source = f" from what {from_stack} runs ({digest[:19]})"
    else:
        assert digest is not None
        new_id = catalogue.add(root, component, digest, label, app_config, default)
        source = ""
    typer.echo(
        f"Added {component} version {new_id}{f' ({label})' if label else ''}{source}"
        f"{', the default' if default else ''}."
    )


@version_app.command("tag")
@user_errors
def version_tag(
    component: Annotated[str, typer.Argument(help="A catalogue component.")],
    version: Annotated[str, typer.Argument(metavar="ID", help="The version id (or its current label).")],
    label: Annotated[str, typer.Argument(help="The label, such as v4.")],
) -> None:
    """Give a version a label."""
    from mlops import catalogue

    found = catalogue.tag(project_root(), component, version, label)
    typer.echo(f"Tagged {component} version {found} as {label}.")


@version_app.command("set-default")
@user_errors
def version_set_default(
    component: Annotated[str, typer.Argument(help="A catalogue component.")],
    version: Annotated[str, typer.Argument(metavar="ID|LABEL", help="The version.")],
) -> None:
    """Make a version the default (what `mlops component add` pins when no version is given)."""
    from mlops import catalogue

    found = catalogue.set_default(project_root(), component, version)
    typer.echo(f"The default version of {component} is now {found}.")


# --------------------------------------------------------------------------- components in a stack

component_app = typer.Typer(help="Add or remove a component in an environment.", no_args_is_help=True)
app.add_typer(component_app, name="component")


@component_app.command("add")
@user_errors
def component_add(
    name: Annotated[str, typer.Argument(help="A catalogue component.")],
    stack: StackOpt,
    version: Annotated[
        str | None, typer.Option("--version", help="Id or label (default: the catalogue default).")
    ] = None,
) -> None:
    """Pin a component in the stack (its default version unless --version)."""
    from mlops.promotion import commit, prepare_add

    root = project_root()
    update = commit(root, lambda: prepare_add(root, stack, name, version))
    typer.echo(f"Added {name} version {update.after.by_name[name].version.id} to {stack}. Deploy: pulumi up -s {stack}")


@component_app.command("remove")
@user_errors
def component_remove(
    name: Annotated[str, typer.Argument(help="A component pinned in the stack.")], stack: StackOpt, yes: YesOpt = False
) -> None:
    """Remove a component's pin from the stack (its resources go at the next pulumi up)."""
    from mlops.promotion import commit, prepare_remove

    root = project_root()
    prepare_remove(root, stack, name)
    confirm(f"Remove {name} from {stack}?", yes)
    commit(root, lambda: prepare_remove(root, stack, name))
    typer.echo(f"Removed {name} from {stack}. Deploy: pulumi up -s {stack}")
