"""`mlops canary start|weight|promote|abort`: a second version of a component beside the stable one."""

from typing import Annotated

import typer

from mlops.cli.common import NoDeployOpt, StackOpt, YesOpt, app, confirm, deploy, project_root, show_update, user_errors

canary_app = typer.Typer(
    help="Canary versions: run a second version of a component on a share of its traffic.", no_args_is_help=True
)
app.add_typer(canary_app, name="canary")

ComponentArg = Annotated[str, typer.Argument(help="A component pinned in the stack.")]
WeightOpt = Annotated[int, typer.Option("--weight", help="Percent of the traffic the canary gets (1-99).")]


def _run(root, stack: str, prepare, question: str, done: str, no_deploy: bool, yes: bool) -> None:
    from mlops.promotion import commit

    update = prepare()
    show_update(update, dry_run=False)
    if not update.changed:
        typer.echo("Nothing to do.")
        return
    confirm(question, yes)
    commit(root, prepare)
    typer.echo(done)
    deploy(root, stack, no_deploy)


@canary_app.command("start")
@user_errors
def canary_start(
    component: ComponentArg,
    version: Annotated[str, typer.Argument(help="The canary's catalogue version: id or label.")],
    stack: StackOpt,
    weight: WeightOpt = 10,
    sticky: Annotated[
        bool, typer.Option("--sticky/--no-sticky", help="Keep each client on the track it first got (a cookie).")
    ] = True,
    no_deploy: NoDeployOpt = False,
    yes: YesOpt = False,
) -> None:
    """Run VERSION beside the stable version on --weight percent of the component's traffic."""
    from mlops.canary import prepare_start

    root = project_root()
    _run(
        root,
        stack,
        lambda: prepare_start(root, stack, component, version, weight, sticky),
        f"Start a canary of {component} at {version} with {weight}% of its traffic in {stack}?",
        f"Started the canary of {component} ({version}, {weight}%) in {stack}.",
        no_deploy,
        yes,
    )


@canary_app.command("weight")
@user_errors
def canary_weight(
    component: ComponentArg,
    weight: Annotated[int, typer.Argument(help="Percent of the traffic the canary gets (1-99).")],
    stack: StackOpt,
    no_deploy: NoDeployOpt = False,
    yes: YesOpt = False,
) -> None:
    """Give the running canary another share of the traffic."""
    from mlops.canary import prepare_weight

    root = project_root()
    _run(
        root,
        stack,
        lambda: prepare_weight(root, stack, component, weight),
        f"Send {weight}% of {component}'s traffic to its canary in {stack}?",
        f"The canary of {component} gets {weight}% in {stack}.",
        no_deploy,
        yes,
    )


@canary_app.command("promote")
@user_errors
def canary_promote(
    component: ComponentArg, stack: StackOpt, no_deploy: NoDeployOpt = False, yes: YesOpt = False
) -> None:
    """The canary's version becomes the pin; the old stable version goes away."""
    from mlops.canary import prepare_promote

    root = project_root()
    _run(
        root,
        stack,
        lambda: prepare_promote(root, stack, component),
        f"Make {component}'s canary its pinned version in {stack}?",
        f"{component}'s canary is its pinned version in {stack}.",
        no_deploy,
        yes,
    )


@canary_app.command("abort")
@user_errors
def canary_abort(component: ComponentArg, stack: StackOpt, no_deploy: NoDeployOpt = False, yes: YesOpt = False) -> None:
    """Remove the canary; the stable version takes all traffic again."""
    from mlops.canary import prepare_abort

    root = project_root()
    _run(
        root,
        stack,
        lambda: prepare_abort(root, stack, component),
        f"Remove {component}'s canary in {stack}?",
        f"Removed {component}'s canary in {stack}.",
        no_deploy,
        yes,
    )
