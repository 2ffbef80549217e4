"""`mlops validate`, `plan`, `preview`, `status`, `history`: look at stacks without changing them."""

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.common import EXIT_ERROR, StackOpt, app, print_table, project_root, user_errors


@app.command()
def validate(
    stack: Annotated[
        list[str] | None,
        typer.Option("--stack", "-s", help="Stack to check (repeatable); default: every Pulumi.<stack>.yaml."),
    ] = None,
) -> None:
    """Check stack files, the catalogue and the promotion chain across stacks: one line per
    problem (file, key, fix), exit 2 on any."""
    from mlops.validate import build_problems, chain_problems
    from spec.environment import load_environment
    from spec.errors import ConfigError, did_you_mean, one_of
    from spec.project import find_project_root, list_stacks

    failed = False
    printed: set[str] = set()

    def report(problem: object) -> None:
        # A problem of a shared file (the catalogue, Pulumi.yaml) is found once per stack.
        if str(problem) not in printed:
            printed.add(str(problem))
            typer.echo(str(problem), err=True)

    try:
        root = find_project_root(Path.cwd())
        known = list_stacks(root)
        if not known:
            raise ConfigError.one(str(root), "", "no Pulumi.<stack>.yaml files: add one per environment")
        envs = {}
        for name in stack or known:
            if name not in known:
                typer.echo(f"unknown stack '{name}'{did_you_mean(name, known)}: use one of {one_of(known)}", err=True)
                failed = True
                continue
            try:
                envs[name] = load_environment(root, name)
            except ConfigError as exc:
                failed = True
                for problem in exc.problems:
                    report(problem)
        for problem in chain_problems(root, envs):
            failed = True
            report(problem)
            envs.pop(problem.file[len("Pulumi.") : -len(".yaml")], None)
        if envs:
            for problem in build_problems(root):
                failed = True
                report(problem)
        for name, env in envs.items():
            typer.echo(f"ok: {name} ({len(env.components)} components, namespace {env.namespace})")
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if failed:
        raise typer.Exit(EXIT_ERROR)


@app.command()
@user_errors
def plan(
    stack: StackOpt,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory to write to (default: build/plan/STACK).")
    ] = None,
) -> None:
    """Render offline every object the stack's program declares, one YAML file each (secrets
    masked). Not a Pulumi preview: nothing is compared with what is deployed (see `preview`)."""
    from mlops.plan import write_plan
    from mlops.promotion import require_stack
    from spec.environment import load_environment

    root = project_root()
    require_stack(root, stack)
    env = load_environment(root, stack)
    result = write_plan(env, out or root / "build" / "plan" / stack)
    rows = [
        [group, str(sum(counts.values())), ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))]
        for group, counts in sorted(result.groups.items())
    ]
    unchanged = f", {result.unchanged} unchanged since the plan it replaced" if result.unchanged else ""
    title = (
        f"Objects the {stack} program declares (rendered offline, not a preview): {len(result.files)} in "
        f"{result.out}{unchanged}"
    )
    print_table(title, ["group", "objects", "kinds"], rows)
    _worker_groups(env)


def _worker_groups(env) -> None:
    from mlops.overview import WORKER_GROUP_COLUMNS, worker_group_rows

    found = worker_group_rows(env)
    if found:
        print_table(f"Worker groups of {env.name}", WORKER_GROUP_COLUMNS, found)


@app.command()
@user_errors
def preview(stack: StackOpt) -> None:
    """`pulumi preview --diff` of the stack through the Automation API, the CLI's output streamed:
    what a `pulumi up` would change against what is deployed. Needs the Pulumi CLI."""
    from mlops import automation
    from mlops.promotion import require_stack
    from spec.errors import ConfigError

    root = project_root()
    require_stack(root, stack)
    if not automation.available():
        raise ConfigError.one(
            "pulumi", "", f"the Pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/), "
            f"or run `mlops plan -s {stack}` to render what the program declares offline",
        )  # fmt: skip
    automation.preview(root, stack, lambda line: typer.echo(line, nl=False))


def _track_text(pin: dict) -> str:
    """`158`, or `158+canary 154@10%` when the pin runs a canary."""
    canary = pin.get("canary")
    return f"{pin['version']}+canary {canary['version']}@{canary['weight']}%" if canary else str(pin["version"])


@app.command("history")
@user_errors
def history_command(stack: StackOpt) -> None:
    """Every promote, pin and rollback of the stack, oldest first."""
    from mlops import history

    root = project_root()
    from mlops.promotion import require_stack

    require_stack(root, stack)
    recorded = history.records(root, stack)
    if not recorded:
        typer.echo(f"No recorded changes for {stack}.")
        return
    rows = []
    for record in recorded:
        before = {p["name"]: _track_text(p) for p in record["pins_before"]}
        after = {p["name"]: _track_text(p) for p in record["pins_after"]}
        changes = [
            f"{n} {before.get(n, '-')}->{after.get(n, '-')}"
            for n in list(after) + [n for n in before if n not in after]
            if before.get(n) != after.get(n)
        ]
        source = record.get("source", {})
        origin = source.get("stack") or source.get("component") or f"undo {source.get('action', '')}".strip()
        rows.append([record["time"], record["action"], record["user"], str(origin), "; ".join(changes)])
    print_table(f"History of {stack}", ["time", "action", "user", "source", "changes"], rows)


@app.command()
@user_errors
def status(
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="One stack in detail (settings and their levels, URLs); all when left out."),
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Add what the stacks' outputs say is deployed.")] = False,
    outputs_file: Annotated[
        Path | None, typer.Option("--outputs-file", help="Deployed outputs (JSON) instead of asking the Pulumi CLI.")
    ] = None,
) -> None:
    """Which version of each component runs where. Without -s: one table, component by environment
    (version and label, short digest, replicas). With -s: that stack's pins with their settings
    (and the level each comes from) and URLs."""
    from spec.errors import ConfigError

    root = project_root()
    if stack is None:
        _overview(root, live, outputs_file)
        return
    from mlops.promotion import require_stack
    from spec.environment import load_environment

    require_stack(root, stack)
    env = load_environment(root, stack)
    deployed = None
    if live or outputs_file:
        from mlops import automation
        from mlops.outputs import read_outputs_file

        if outputs_file is not None:
            deployed = read_outputs_file(outputs_file).get("components") or {}
        elif automation.available():
            deployed = automation.outputs(root, stack).get("components") or {}
        else:
            raise ConfigError.one("--live", "", "needs the Pulumi CLI on PATH, or --outputs-file F")
    title = f"{env.project} / {stack} (namespace {env.namespace}, promotes to {env.promotes_to or '-'})"
    columns = ["component", "type", "version", "label", "replicas", "worker group", "low latency", "canary"]
    if deployed is not None:
        columns.insert(4, "deployed")
    rows = []
    for c in env.components:
        s = c.settings
        row = [
            c.name,
            c.type,
            c.version_key,
            "-" if c.built else c.version.label or "-",
            (
                f"{c.replicas} ({s['replicas'].source})"
                if c.autoscale is None
                else f"{c.autoscale.min}-{c.autoscale.max} autoscaled ({s['autoscale'].source})"
            ),
            f"{c.worker_group or '-'} ({s['worker_group'].source})",
            f"{str(c.low_latency_mode).lower()} ({s['low_latency_mode'].source})",
            (
                f"{c.canary.id}{f' ({c.canary.label})' if c.canary.label else ''} {c.pin.canary.weight}% "
                f"(stable {100 - c.pin.canary.weight}%){', sticky' if c.pin.canary.sticky else ''}"
                if c.canary is not None and c.pin.canary is not None
                else "-"
            ),
        ]
        if deployed is not None:
            live_version = (deployed.get(c.name) or {}).get("version")
            row.insert(
                4,
                "-"
                if live_version is None
                else str(live_version) + ("" if live_version == c.version.id else " (differs)"),
            )
        rows.append(row)
    print_table(title, columns, rows)
    _worker_groups(env)
    # URLs on their own lines, as the platform prints them, so they are never cut.
    typer.echo(f"Component URLs for environment [{stack}] in project [{env.project}]:")
    for c in env.components:
        typer.echo(f"{c.type}|{c.name}: {env.url(c)}")


def _overview(root: Path, live: bool, outputs_file: Path | None) -> None:
    from mlops import automation
    from mlops.overview import overview
    from spec.errors import ConfigError
    from spec.project import list_stacks, load_project

    if outputs_file is not None:
        raise ConfigError.one("--outputs-file", "", "names one stack's outputs: give -s STACK with it")
    deployed = None
    if live:
        if not automation.available():
            raise ConfigError.one("--live", "", "needs the Pulumi CLI on PATH (or -s STACK --outputs-file F)")
        deployed = {s: automation.outputs(root, s).get("components") or {} for s in list_stacks(root)}
    found = overview(root, deployed)
    if not found.rows and not found.problems:
        typer.echo("No stacks with pins yet: add one with `mlops component add NAME -s STACK`.")
        return
    title = f"{load_project(root).name}: version, digest, replicas"
    print_table(title, ["component", "type", *found.stacks], found.rows)
    for problem in found.problems:
        typer.echo(f"invalid: {problem}", err=True)
    if found.problems:
        raise typer.Exit(2)
