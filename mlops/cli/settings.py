"""`mlops settings list|set|inherit`: the layered settings at each level."""

from typing import Annotated

import typer

from mlops.cli.common import (
    StackOpt,
    app,
    fail,
    print_table,
    project_root,
    user_errors,
)

# --------------------------------------------------------------------------- settings

settings_app = typer.Typer(
    help="replicas, worker_group, low_latency_mode, autoscale, rate_limit, alerts per level: list, set, inherit.",
    no_args_is_help=True,
)
KEYS_HELP = "replicas, worker_group, low_latency_mode, autoscale, rate_limit or alerts."
app.add_typer(settings_app, name="settings")
ComponentOpt = Annotated[str | None, typer.Option("--component", help="Act on this component's level.")]
ProjectOpt = Annotated[bool, typer.Option("--project", help="Act on the project level (Pulumi.yaml).")]


@settings_app.command("list")
@user_errors
def settings_list(stack: StackOpt, component: ComponentOpt = None) -> None:
    """Each setting's value and the level it comes from (built-in, project, environment, component)."""
    from mlops.promotion import require_stack
    from spec.environment import load_environment
    from spec.settings import SETTING_KEYS

    root = project_root()
    require_stack(root, stack)
    env = load_environment(root, stack)
    if component is not None:
        from mlops.promotion import pinned

        pinned(env, component)
    from spec.environment import resolve_settings
    from spec.settings import Settings

    chosen = [env.by_name[component]] if component else env.components
    rows = []
    if not component:
        resolved = resolve_settings(env.project_settings, env.config.settings, Settings())
        rows += [["(environment)", k, _setting_text(resolved[k].value), resolved[k].source] for k in SETTING_KEYS]
    for c in chosen:
        rows += [[c.name, k, _setting_text(c.settings[k].value), c.settings[k].source] for k in SETTING_KEYS]
    title = f"Settings of {stack}" + (f" / {component}" if component else "")
    print_table(title, ["component", "key", "value", "level"], rows)


def _setting_text(value) -> str:
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _settings_change(stack: str | None, key: str, value, component: str | None, project: bool) -> str:
    from mlops import layering

    root = project_root()
    if project:
        if component or stack:
            raise fail(ValueError("--project acts on Pulumi.yaml: give neither -s nor --component"))
        stacks = layering.set_project_setting(root, key, value)
        return f"Pulumi.yaml (checked {', '.join(stacks)})"
    if not stack:
        raise fail(ValueError("give -s STACK (the environment level) or --project"))
    update = layering.set_setting(root, stack, component, key, value)
    where = f"{stack} / {component}" if component else stack
    return where if update.changed else f"{where} (unchanged)"


@settings_app.command("set")
@user_errors
def settings_set(
    key: Annotated[str, typer.Argument(help=KEYS_HELP)],
    value: Annotated[
        str,
        typer.Argument(
            help="The value (replicas 3, worker_group gpu-pool, low_latency_mode true, "
            "autoscale '{min: 2, max: 6, cpu_target_percent: 70}', rate_limit '{requests_per_minute: 20}', "
            "alerts '{error_ratio: 0.1, restarts: 5}')."
        ),
    ],
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="The stack (environment level).")] = None,
    component: ComponentOpt = None,
    project: ProjectOpt = False,
) -> None:
    """Set a setting at the environment level (-s), a component's level (--component) or the project (--project)."""
    from mlops.layering import parse_value

    where = _settings_change(stack, key, parse_value(key, value), component, project)
    typer.echo(f"Set {key} = {value} for {where}.")


@settings_app.command("inherit")
@user_errors
def settings_inherit(
    key: Annotated[str, typer.Argument(help=KEYS_HELP)],
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="The stack (environment level).")] = None,
    component: ComponentOpt = None,
    project: ProjectOpt = False,
) -> None:
    """Remove a level's value so it inherits from the level above."""
    from mlops.layering import check_key

    check_key(key)
    where = _settings_change(stack, key, None, component, project)
    typer.echo(f"{key} now inherits for {where}.")
