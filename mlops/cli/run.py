"""`mlops run`: start components on this machine with a stack's config (mlops/local_run.py)."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from mlops.cli.common import app, print_table, project_root, user_errors

if TYPE_CHECKING:
    from mlops.local_run import LocalComponent

READY_SECONDS = 60.0
STOP_SECONDS = 10.0


def _default_stack(root: Path) -> str:
    """The start of the promotion chain (where merges land: integration)."""
    from mlops.overview import chain_order
    from spec.environment import load_environment
    from spec.errors import ConfigError
    from spec.project import list_stacks

    stacks = list_stacks(root)
    envs = {}
    for stack in stacks:
        with contextlib.suppress(ConfigError):
            envs[stack] = load_environment(root, stack)
    ordered = chain_order(envs, stacks)
    if not ordered:
        raise ConfigError.one("--stack", "", "no valid stack file in this project: name one with -s STACK")
    return ordered[0]


def _pump(name: str, stream: IO[str], width: int, tail: list[str]) -> None:
    """Copy a component's output to ours, each line prefixed with its name; keep the last lines."""
    for line in stream:
        tail.append(line.rstrip())
        del tail[:-20]
        sys.stdout.write(f"{name:<{width}} | {line}")
        sys.stdout.flush()


def _healthy(url: str) -> bool:
    import urllib.error
    import urllib.request  # here: every other command pays for what a module imports

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(processes: dict[str, subprocess.Popen[str]]) -> None:
    """SIGTERM to each component's process group (uvicorn finishes its requests), then SIGKILL."""
    for process in processes.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@app.command()
@user_errors
def run(
    component: Annotated[str | None, typer.Argument(help="The component to run (omit with --all).")] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack", "-s", help="Whose pins and environment config to run with (default: the chain's start)."
        ),
    ] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="Port for COMPONENT (default: a free one).")] = None,
    all_components: Annotated[bool, typer.Option("--all", help="Run every component the stack pins.")] = False,
    artifacts: Annotated[
        Path | None,
        typer.Option(
            "--artifacts", help="Local mirror of the model buckets, <DIR>/<bucket>/<object> (default: artifacts/)."
        ),
    ] = None,
) -> None:
    """Run components locally, configured as the stack configures their pods; Ctrl-C stops them.

    Each gets its pinned version's app config, the stack's environment config (secrets left out).

    A generated API key, and the local URLs of the components it calls, come with them.

    While they run, `mlops smoke --local` checks them."""
    from mlops import local_run
    from spec.environment import load_environment
    from spec.errors import ConfigError

    root = project_root()
    if all_components == (component is not None):
        raise ConfigError.one("COMPONENT", "", "name one component, or give --all (not both)")
    if port is not None and (all_components or not 1 <= port <= 65535):
        raise ConfigError.one("--port", "", "is for one component, a number from 1 to 65535")
    stack = stack or _default_stack(root)
    env = load_environment(root, stack)
    if component is not None and component not in env.by_name:
        pinned = ", ".join(c.name for c in env.components) or "none"
        raise ConfigError.one(
            f"Pulumi.{stack}.yaml", "mlops:components", f"{component!r} is not pinned (pinned: {pinned})"
        )
    names = [c.name for c in env.components] if all_components else [component]
    mirror = (artifacts or root / local_run.MIRROR_DIR).resolve()
    if artifacts is not None and not mirror.is_dir():
        raise ConfigError.one("--artifacts", "", f"{artifacts} is not a folder")
    running = local_run.running_urls(root, stack)
    clash = sorted(set(names) & set(running))
    if clash:
        raise ConfigError.one(
            str(local_run.state_file(root, stack).relative_to(root)),
            clash[0],
            f"already runs at {running[clash[0]]}: stop that mlops run first",
        )
    ports = {name: (port if port is not None else local_run.free_port()) for name in names}
    planned = local_run.plan(root, env, names, ports, running, mirror)
    _, secret_keys = local_run.local_environment_config(env)
    for key in secret_keys:
        typer.echo(f"note: environment config {key} is a secret and is left out locally", err=True)
    for item in planned:
        missing = [
            c
            for c in env.by_name[item.name].catalogue.calls
            if c in env.by_name and c not in ports and c not in running
        ]
        if missing:
            typer.echo(
                f"note: {item.name} calls {', '.join(missing)}, which is not running locally (use --all)", err=True
            )
    key_file = local_run.write_files(root, env, names)
    _supervise(root, stack, planned, key_file)


def _supervise(root: Path, stack: str, planned: "list[LocalComponent]", key_file: Path) -> None:
    from mlops import local_run
    from spec.errors import ConfigError

    width = max(len(item.name) for item in planned)
    processes: dict[str, subprocess.Popen[str]] = {}
    tails: dict[str, list[str]] = {}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    stopping = False
    dead: set[str] = set()

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and a plain kill stop the run the same way (handled explicitly: a run started in
    # the background by a script inherits an ignored SIGINT).
    previous = {sig: signal.signal(sig, on_term) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for item in planned:
            try:
                process = subprocess.Popen(
                    item.command,
                    cwd=item.directory,
                    env={**base_env, **item.env},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,  # its own process group: stopped as a whole
                )
            except OSError as exc:
                raise ConfigError.one(
                    f"config/components/{item.name}.yaml",
                    "run.command",
                    f"cannot start {item.command[0]!r} ({exc.strerror or exc}): fix the command",
                ) from None
            processes[item.name] = process
            tails[item.name] = []
            assert process.stdout is not None
            threading.Thread(
                target=_pump, args=(item.name, process.stdout, width, tails[item.name]), daemon=True
            ).start()
        waiting = {item.name: item for item in planned}
        deadline = time.monotonic() + READY_SECONDS
        while waiting:
            for name, item in list(waiting.items()):
                if processes[name].poll() is not None:
                    last = tails[name][-1] if tails[name] else "no output"
                    raise typer.Exit(_failed(f"{name} stopped with exit code {processes[name].returncode}: {last}"))
                if _healthy(item.url + item.health_path):
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise typer.Exit(
                    _failed(f"{', '.join(waiting)} did not answer its health path within {READY_SECONDS:.0f} s")
                )
            time.sleep(0.2)
        local_run.write_state(root, stack, {i.name: (i, processes[i.name].pid) for i in planned}, key_file)
        rows = [[i.name, i.type, i.version, i.url + "/"] for i in planned]
        print_table(f"Running locally with {stack}'s config", ["component", "type", "version", "URL"], rows)
        shown = key_file.relative_to(root) if key_file.is_relative_to(root) else key_file
        typer.echo(f"API key (apps check X-API-Key): the file {shown}")
        typer.echo(f"Check them: mlops smoke --local (-s {stack})     Stop: Ctrl-C")
        # Like a compose file's services: one that stops is reported and the others keep running
        # (smoke tests then fail on it); the run ends when all have stopped, or on Ctrl-C.
        while len(dead) < len(processes):
            for name, process in processes.items():
                if name not in dead and process.poll() is not None:
                    dead.add(name)
                    typer.echo(f"{name} stopped with exit code {process.returncode}", err=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        stopping = True
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(processes)
        local_run.forget(root, stack, [i.name for i in planned])
    if stopping:
        typer.echo("Stopped.")
    if dead:
        stopped = ", ".join(sorted(dead))
        raise typer.Exit(_failed(f"{len(dead)} of {len(processes)} components stopped on their own: {stopped}"))


def _failed(message: str) -> int:
    typer.echo(message, err=True)
    return 1
