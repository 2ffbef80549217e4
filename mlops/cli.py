"""The `mlops` command. Thin: it parses arguments, calls pure functions, prints one clear line per
problem and exits non-zero; it never shows a traceback for bad input."""

from __future__ import annotations

import contextlib
import sys
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
    from spec.environment import load_environment
    from spec.project import find_project_root, list_stacks
    from spec.errors import ConfigError

    try:
        root = find_project_root(Path.cwd())
        stacks = stack or list_stacks(root)
        if not stacks:
            raise ConfigError.one(str(root), "", "no Pulumi.<stack>.yaml files: add one per environment")
        known = set(list_stacks(root))
        failed = False
        for name in stacks:
            if name not in known:
                from spec.errors import did_you_mean, one_of

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


# --------------------------------------------------------------------------- shared


StackOpt = Annotated[str, typer.Option("--stack", "-s", help="The stack (environment) to act on.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
NoDeployOpt = Annotated[
    bool, typer.Option("--no-deploy", help="Only write the stack file; do not run pulumi preview/up.")
]


def _root() -> Path:
    from spec.project import find_project_root

    return find_project_root(Path.cwd())


def user_errors(command):
    """Bad input anywhere in a command: its one line (or one line per problem) and exit 2."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from spec.errors import ConfigError, ProgramError

        try:
            return command(*args, **kwargs)
        except (ConfigError, ProgramError) as exc:
            raise _fail(exc) from None
        except Exception as exc:
            # The Pulumi CLI failed under the Automation API (no such stack, not logged in, a
            # failed update): its first line, not a Python traceback. The CLI's own output
            # has already been streamed above it.
            if type(exc).__module__.startswith("pulumi.automation"):
                raise _fail(RuntimeError(f"pulumi: {_cli_error_line(exc)}")) from None
            raise

    return wrapper


def _cli_error_line(exc: Exception) -> str:
    """The telling line of a Pulumi CLI failure: its stderr's last line, else the last line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line.removeprefix("stderr:").strip() for line in lines if line.startswith("stderr:")]
    chosen = [e for e in errors if e] or lines
    return chosen[-1] if chosen else type(exc).__name__


def _fail(exc: Exception) -> typer.Exit:
    from spec.errors import ConfigError

    lines = [str(p) for p in exc.problems] if isinstance(exc, ConfigError) else [str(exc).splitlines()[0]]
    for line in lines:
        typer.echo(line, err=True)
    return typer.Exit(EXIT_ERROR)


def _console():
    import shutil

    from rich.console import Console

    # Wide enough that URLs and versions are never cut, in a terminal or in a CI log.
    return Console(highlight=False, width=max(200, shutil.get_terminal_size().columns))


def _version_text(version: tuple[int, str | None] | None) -> str:
    if version is None:
        return "-"
    return f"{version[0]} ({version[1]})" if version[1] else str(version[0])


def _pins_table(changes, title: str, before: str, after: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("component", "type", before, after, "change"):
        table.add_column(column)
    for c in changes:
        table.add_row(c.name, c.type, _version_text(c.before), _version_text(c.after), c.status)
    return table


def _confirm(question: str, yes: bool) -> None:
    import sys

    if yes:
        return
    if not sys.stdin.isatty():
        raise _fail(ValueError("no terminal to confirm on: pass --yes to confirm non-interactively"))
    if not typer.confirm(question, default=False):
        typer.echo("Nothing changed.")
        raise typer.Exit(1)


def _deploy(root: Path, stack: str, no_deploy: bool) -> None:
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


def _echo_resources(resources, stack: str, limit: int = 8) -> None:
    """One line per Kubernetes object, as `pulumi preview` marks them (+ create, ~ update,
    - delete, +- replace), with the fields that change."""
    if not resources:
        typer.echo(f"No Kubernetes object changes in {stack}.")
        return
    counts = {s: sum(1 for r in resources if r.status == s) for s in SYMBOLS}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    typer.echo(f"Kubernetes objects that change in {stack} ({summary}):")
    for r in resources:
        fields = ", ".join(r.fields[:limit]) + (f" (+{len(r.fields) - limit} more)" if len(r.fields) > limit else "")
        typer.echo(f"  {SYMBOLS[r.status]:>2} {r.kind} {r.object}" + (f": {fields}" if fields else ""))


def _show_update(update, *, dry_run: bool) -> None:
    console = _console()
    for warning in update.warnings:
        typer.echo(f"warning: {warning}", err=True)
    console.print(_pins_table(update.pins, f"Pins of {update.stack}", "now", "after"))
    _echo_resources(update.resources(), update.stack)
    if dry_run:
        typer.echo(f"Dry run: {update.stack} was not changed.")


# --------------------------------------------------------------------------- commands


class PlanProgress:
    """While a plan runs: a spinner and a count of registered resources on stderr, when stderr is
    a terminal (nothing in CI logs or pipes)."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.registered = 0

    def update(self, registered: int) -> None:
        self.registered = registered  # read by the spinner's own refresh thread

    def __rich__(self) -> str:
        return f"Running the {self.stack} program offline: {self.registered:,} resources registered"

    @contextlib.contextmanager
    def shown(self, terminal: bool | None = None):
        if not (sys.stderr.isatty() if terminal is None else terminal):
            yield
            return
        from rich.console import Console

        with Console(stderr=True, force_terminal=terminal).status(self):
            yield


@app.command()
@user_errors
def plan(
    stack: StackOpt,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory to write to (default: build/plan/STACK).")
    ] = None,
) -> None:
    """Run the stack's program offline and write every object it declares (secrets masked)."""

    root = _root()
    from mlops.promotion import require_stack

    require_stack(root, stack)
    from infra.offline import garbage_left_to_exit
    from mlops.plan import write_plan

    target = out or root / "build" / "plan" / stack
    progress = PlanProgress(stack)
    with garbage_left_to_exit(), progress.shown():
        result = write_plan(root, stack, target, progress=progress.update)
    from rich.table import Table

    table = Table(title=f"Plan of {stack}: {len(result.files)} objects in {result.out}", title_justify="left")
    table.add_column("group")
    table.add_column("objects", justify="right")
    table.add_column("kinds")
    for group in sorted(result.groups):
        counts = result.groups[group]
        table.add_row(group, str(sum(counts.values())), ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    _console().print(table)


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
        raise _fail(ValueError(f"--format {format!r}: use text, markdown or json"))
    root = _root()
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
        console = _console()
        console.print(_pins_table(pins, f"Pins: {target} now -> with {source}'s pins", target, source))
        _echo_resources(resources, target)
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
            f"| {c.name} | {c.type} | {_version_text(c.before)} | {_version_text(c.after)} | {mark}{c.status}{mark} |"
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
        raise _fail(ValueError(f"--source {source_kind!r}: use config or deployed"))
    root = _root()
    from mlops import automation
    from mlops.promotion import commit, prepare_promotion, read_outputs_file

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
    _show_update(update, dry_run=dry_run)
    if dry_run:
        return
    if not update.changed:
        typer.echo(f"Nothing to promote: {update.stack} already runs these versions.")
        return
    _confirm(f"Promote {source} -> {update.stack}?", yes)
    update = commit(root, prepare)
    typer.echo(f"Wrote the pins of {update.stack} (promoted from {source}, {source_kind}).")
    _deploy(root, update.stack, no_deploy)


@app.command()
@user_errors
def pin(
    component: Annotated[str, typer.Argument(help="A component pinned in the stack.")],
    version: Annotated[str, typer.Argument(help="A catalogue version: id or label (v3).")],
    stack: StackOpt,
    no_deploy: NoDeployOpt = False,
    yes: YesOpt = False,
) -> None:
    """Pin one component to any catalogue version (a hotfix or a manual rollback of one component)."""

    root = _root()
    from mlops.promotion import commit, prepare_pin

    update = prepare_pin(root, stack, component, version)
    _show_update(update, dry_run=False)
    if not update.changed:
        typer.echo(f"Nothing to do: {component} already runs that version in {stack}.")
        return
    _confirm(f"Pin {component} to {version} in {stack}?", yes)
    commit(root, lambda: prepare_pin(root, stack, component, version))
    typer.echo(f"Pinned {component} to {version} in {stack}.")
    _deploy(root, stack, no_deploy)


@app.command()
@user_errors
def rollback(stack: StackOpt, no_deploy: NoDeployOpt = False, yes: YesOpt = False) -> None:
    """Restore the pins the stack had before its last promote, pin or rollback."""

    root = _root()
    from mlops.promotion import commit, prepare_rollback

    update = prepare_rollback(root, stack)
    _show_update(update, dry_run=False)
    if not update.changed:
        typer.echo(f"Nothing to roll back: {stack} already runs those pins.")
        return
    _confirm(f"Roll back {stack}?", yes)
    commit(root, lambda: prepare_rollback(root, stack))
    typer.echo(f"Rolled back the pins of {stack}.")
    _deploy(root, stack, no_deploy)


@app.command("history")
@user_errors
def history_command(stack: StackOpt) -> None:
    """Every promote, pin and rollback of the stack, oldest first."""
    from mlops import history

    root = _root()
    from mlops.promotion import require_stack

    require_stack(root, stack)
    recorded = history.records(root, stack)
    if not recorded:
        typer.echo(f"No recorded changes for {stack}.")
        return
    from rich.table import Table

    table = Table(title=f"History of {stack}", title_justify="left")
    for column in ("time", "action", "user", "source", "changes"):
        table.add_column(column)
    for record in recorded:
        before = {p["name"]: p["version"] for p in record["pins_before"]}
        after = {p["name"]: p["version"] for p in record["pins_after"]}
        changes = [
            f"{n} {before.get(n, '-')}->{after.get(n, '-')}"
            for n in list(after) + [n for n in before if n not in after]
            if before.get(n) != after.get(n)
        ]
        source = record.get("source", {})
        origin = source.get("stack") or source.get("component") or f"undo {source.get('action', '')}".strip()
        table.add_row(record["time"], record["action"], record["user"], str(origin), "; ".join(changes))
    _console().print(table)


@app.command()
@user_errors
def status(
    stack: StackOpt,
    live: Annotated[bool, typer.Option("--live", help="Add what the stack's outputs say is deployed.")] = False,
    outputs_file: Annotated[
        Path | None, typer.Option("--outputs-file", help="Deployed outputs (JSON) instead of asking the Pulumi CLI.")
    ] = None,
) -> None:
    """Which version of each component the stack pins, with its settings (and their levels) and URL."""
    from spec.errors import ConfigError

    root = _root()
    from spec.environment import load_environment
    from mlops.promotion import require_stack

    require_stack(root, stack)
    env = load_environment(root, stack)
    deployed = None
    if live or outputs_file:
        from mlops import automation
        from mlops.promotion import read_outputs_file

        if outputs_file is not None:
            deployed = read_outputs_file(outputs_file).get("components") or {}
        elif automation.available():
            deployed = automation.outputs(root, stack).get("components") or {}
        else:
            raise ConfigError.one("--live", "", "needs the Pulumi CLI on PATH, or --outputs-file F")
    from rich.table import Table

    title = f"{env.project} / {stack} (namespace {env.namespace}, promotes to {env.promotes_to or '-'})"
    table = Table(title=title, title_justify="left")
    columns = ["component", "type", "version", "label", "replicas", "worker group", "low latency"]
    if deployed is not None:
        columns.insert(4, "deployed")
    for column in columns:
        table.add_column(column)
    for c in env.components:
        s = c.settings
        row = [
            c.name,
            c.type,
            str(c.version.id),
            c.version.label or "-",
            f"{c.replicas} ({s['replicas'].source})",
            f"{c.worker_group or '-'} ({s['worker_group'].source})",
            f"{str(c.low_latency_mode).lower()} ({s['low_latency_mode'].source})",
        ]
        if deployed is not None:
            live_version = (deployed.get(c.name) or {}).get("version")
            row.insert(
                4,
                "-"
                if live_version is None
                else str(live_version) + ("" if live_version == c.version.id else " (differs)"),
            )
        table.add_row(*row)
    _console().print(table)
    # URLs on their own lines, as the platform prints them, so they are never cut.
    typer.echo(f"Component URLs for environment [{stack}] in project [{env.project}]:")
    for c in env.components:
        typer.echo(f"{c.type}|{c.name}: {env.url(c)}")


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
    ingress; its own namespace; STACK's node pools as existing references; no copied secrets."""
    from mlops import challenger, automation

    root = _root()
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

    root = _root()
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
    from rich.table import Table

    now = datetime.now(UTC)
    table = Table(title="Challengers", title_justify="left")
    for column in ("name", "parent", "owner", "created", "drift", "age"):
        table.add_column(column)
    for c in found:
        age = c.age(now)
        days, hours = age.days, age.seconds // 3600
        table.add_row(
            c.name,
            c.parent,
            c.owner,
            c.created.isoformat(),
            f"{c.drift} pins",
            f"{days}d {hours}h" if days else f"{hours}h {age.seconds // 60 % 60}m",
        )
    _console().print(table)


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

    from mlops import challenger, automation
    from spec.project import stack_file_name
    from spec.errors import ConfigError

    root = _root()
    stack = challenger.require_challenger(root, name)
    if not automation.available() and not config_only:
        raise ConfigError.one(
            stack_file_name(stack), "", "the Pulumi CLI is not installed, so its resources cannot be destroyed: "
            "install it, or pass --config-only to remove only the file",
        )  # fmt: skip
    _confirm(f"Destroy {stack}{' (file only)' if config_only else ''}?", yes)
    if not config_only:
        automation.destroy_and_remove(root, stack, lambda line: typer.echo(line, nl=False))
    os.unlink(root / stack_file_name(stack))
    if config_only:
        typer.echo(
            f"Removed {stack_file_name(stack)}. Deployed resources, if any, remain: run pulumi destroy -s {stack}."
        )
    else:
        typer.echo(f"Destroyed {stack} and removed {stack_file_name(stack)}.")


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

    entry = catalogue.get(_root(), component)
    from rich.table import Table

    table = Table(title=f"{entry.type} {entry.name} ({entry.image})", title_justify="left")
    for column in ("default", "id", "label", "digest", "created"):
        table.add_column(column)
    default = entry.find_version(entry.default_version)
    for v in sorted(entry.versions, key=lambda v: v.id, reverse=True):
        table.add_row("*" if v is default else "", str(v.id), v.label or "-", v.digest, v.created.isoformat())
    _console().print(table)


@version_app.command("add")
@user_errors
def version_add(
    component: Annotated[str, typer.Argument(help="A catalogue component.")],
    digest: Annotated[str, typer.Option("--digest", help="The image digest: sha256:<64 hex>.")],
    label: Annotated[str | None, typer.Option("--label", help="A label such as v4.")] = None,
    app_config: Annotated[
        Path | None, typer.Option("--app-config", help="YAML file: this version's app config.")
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default version.")] = False,
) -> None:
    """Add a version (the next id, created now)."""
    from mlops import catalogue

    new_id = catalogue.add(_root(), component, digest, label, app_config, default)
    typer.echo(
        f"Added {component} version {new_id}{f' ({label})' if label else ''}{', the default' if default else ''}."
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

    found = catalogue.tag(_root(), component, version, label)
    typer.echo(f"Tagged {component} version {found} as {label}.")


@version_app.command("set-default")
@user_errors
def version_set_default(
    component: Annotated[str, typer.Argument(help="A catalogue component.")],
    version: Annotated[str, typer.Argument(metavar="ID|LABEL", help="The version.")],
) -> None:
    """Make a version the default (what `mlops component add` pins when no version is given)."""
    from mlops import catalogue

    found = catalogue.set_default(_root(), component, version)
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

    root = _root()
    update = commit(root, lambda: prepare_add(root, stack, name, version))
    typer.echo(f"Added {name} version {update.after.by_name[name].version.id} to {stack}. Deploy: pulumi up -s {stack}")


@component_app.command("remove")
@user_errors
def component_remove(
    name: Annotated[str, typer.Argument(help="A component pinned in the stack.")], stack: StackOpt, yes: YesOpt = False
) -> None:
    """Remove a component's pin from the stack (its resources go at the next pulumi up)."""
    from mlops.promotion import commit, prepare_remove

    root = _root()
    prepare_remove(root, stack, name)
    _confirm(f"Remove {name} from {stack}?", yes)
    commit(root, lambda: prepare_remove(root, stack, name))
    typer.echo(f"Removed {name} from {stack}. Deploy: pulumi up -s {stack}")


# --------------------------------------------------------------------------- settings

settings_app = typer.Typer(
    help="replicas, worker_group, low_latency_mode per level: list, set, inherit.", no_args_is_help=True
)
app.add_typer(settings_app, name="settings")
ComponentOpt = Annotated[str | None, typer.Option("--component", help="Act on this component's level.")]
ProjectOpt = Annotated[bool, typer.Option("--project", help="Act on the project level (Pulumi.yaml).")]


@settings_app.command("list")
@user_errors
def settings_list(stack: StackOpt, component: ComponentOpt = None) -> None:
    """Each setting's value and the level it comes from (built-in, project, environment, component)."""
    from spec.environment import load_environment
    from mlops.promotion import require_stack
    from spec.schema import SETTING_KEYS

    root = _root()
    require_stack(root, stack)
    env = load_environment(root, stack)
    if component is not None:
        from mlops.promotion import pinned

        pinned(env, component)
    from rich.table import Table

    from spec.environment import resolve_settings
    from spec.schema import Settings

    chosen = [env.by_name[component]] if component else env.components
    table = Table(title=f"Settings of {stack}" + (f" / {component}" if component else ""), title_justify="left")
    for column in ("component", "key", "value", "level"):
        table.add_column(column)
    if not component:
        resolved = resolve_settings(env.project_settings, env.config.settings, Settings())
        for key in SETTING_KEYS:
            table.add_row("(environment)", key, _setting_text(resolved[key].value), resolved[key].source)
    for c in chosen:
        for key in SETTING_KEYS:
            table.add_row(c.name, key, _setting_text(c.settings[key].value), c.settings[key].source)
    _console().print(table)


def _setting_text(value) -> str:
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _settings_change(stack: str | None, key: str, value, component: str | None, project: bool) -> str:
    from mlops import layering

    root = _root()
    if project:
        if component or stack:
            raise _fail(ValueError("--project acts on Pulumi.yaml: give neither -s nor --component"))
        stacks = layering.set_project_setting(root, key, value)
        return f"Pulumi.yaml (checked {', '.join(stacks)})"
    if not stack:
        raise _fail(ValueError("give -s STACK (the environment level) or --project"))
    update = layering.set_setting(root, stack, component, key, value)
    where = f"{stack} / {component}" if component else stack
    return where if update.changed else f"{where} (unchanged)"


@settings_app.command("set")
@user_errors
def settings_set(
    key: Annotated[str, typer.Argument(help="replicas, worker_group or low_latency_mode.")],
    value: Annotated[str, typer.Argument(help="The value (replicas 3, worker_group gpu-pool, low_latency_mode true).")],
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
    key: Annotated[str, typer.Argument(help="replicas, worker_group or low_latency_mode.")],
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="The stack (environment level).")] = None,
    component: ComponentOpt = None,
    project: ProjectOpt = False,
) -> None:
    """Remove a level's value so it inherits from the level above."""
    from mlops.layering import parse_value

    parse_value(key, "1" if key == "replicas" else "true" if key == "low_latency_mode" else "x")
    where = _settings_change(stack, key, None, component, project)
    typer.echo(f"{key} now inherits for {where}.")


# --------------------------------------------------------------------------- smoke


@app.command()
@user_errors
def smoke(
    stack: StackOpt,
    outputs_file: Annotated[
        Path | None,
        typer.Option("--outputs-file", help="Outputs as `pulumi stack output --json --show-secrets` prints them."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for every component to answer.")] = 300,
) -> None:
    """Call every component over HTTP (health, and a model's sample request); exit 0 only when all are healthy."""
    import os

    from mlops import automation
    from mlops import smoke as smoke_checks
    from spec.project import load_catalogue
    from spec.errors import ConfigError

    root = _root()
    from mlops.promotion import read_outputs_file, require_stack

    require_stack(root, stack)
    if outputs_file is not None:
        outputs, display = read_outputs_file(outputs_file), str(outputs_file)
    elif automation.available():
        outputs, display = automation.outputs(root, stack), f"outputs of stack {stack}"
    else:
        raise ConfigError.one("--outputs-file", "", "needs the Pulumi CLI on PATH, or --outputs-file F")
    targets = smoke_checks.targets(outputs, load_catalogue(root), display)
    api_key = os.environ.get("MLOPS_API_KEY") or outputs.get("api_key")
    if any(t.type == "app" for t in targets) and not api_key:
        raise ConfigError.one(
            display, "api_key", "apps need the API key: set MLOPS_API_KEY, or export outputs with --show-secrets"
        )
    if timeout <= 0:
        raise ConfigError.one("--timeout", "", f"{timeout} is not a positive number of seconds")
    results = smoke_checks.run(targets, api_key, timeout)
    from rich.table import Table

    table = Table(title=f"Smoke tests of {stack}", title_justify="left")
    for column in ("component", "type", "check", "result", "attempts", "seconds"):
        table.add_column(column)
    for r in results:
        path = r.target.url.split("://", 1)[-1].split("/", 1)[-1]
        verdict = f"{r.status or '-'} {r.detail}" if not r.ok else f"{r.status} ok"
        table.add_row(
            r.target.component,
            r.target.type,
            f"{r.target.method} /{path}",
            verdict,
            str(r.attempts),
            f"{r.seconds:.1f}",
        )
    _console().print(table)
    failed = [r for r in results if not r.ok]
    if failed:
        typer.echo(f"{len(failed)} of {len(results)} checks failed.", err=True)
        raise typer.Exit(1)
    typer.echo(f"All {len(results)} checks passed.")


def main() -> None:
    """The console script: usage mistakes (a missing argument, an unknown option) are one line
    and exit 2, like every other error of this command."""
    import sys

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
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
