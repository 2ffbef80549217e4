"""`mlops smoke`: call every deployed component over HTTP."""

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.common import (
    app,
    print_table,
    project_root,
    user_errors,
)

# --------------------------------------------------------------------------- smoke


@app.command()
@user_errors
def smoke(
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="The stack (with --local: optional when one local run is going)."),
    ] = None,
    outputs_file: Annotated[
        Path | None,
        typer.Option("--outputs-file", help="Outputs as `pulumi stack output --json --show-secrets` prints them."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for every component to answer.")] = 300,
    local: Annotated[
        bool, typer.Option("--local", help="Check the components `mlops run -s STACK` runs on this machine.")
    ] = False,
) -> None:
    """Call every component over HTTP (health, and a model's sample request); exit 0 only when all are healthy."""
    import os

    from mlops import automation
    from mlops import smoke as smoke_checks
    from spec.errors import ConfigError
    from spec.project import load_catalogue

    root = project_root()
    from mlops.outputs import read_outputs_file
    from mlops.promotion import require_stack

    local_key = None
    if local and outputs_file is not None:
        raise ConfigError.one("--local", "", "checks what mlops run started: leave out --outputs-file")
    if stack is None:
        if not local:
            raise ConfigError.one("--stack", "", "name the stack to check: mlops smoke -s STACK")
        from mlops.local_run import running_stacks

        found = running_stacks(root)
        if len(found) != 1:
            where = f"{', '.join(found)} run locally: name one with -s" if found else "nothing runs locally"
            raise ConfigError.one("--stack", "", f"{where} (start components with mlops run --all)")
        stack = found[0]
    require_stack(root, stack)
    if local:
        from mlops.local_run import smoke_outputs

        outputs, local_key = smoke_outputs(root, stack)
        display = f"local run of {stack}"
    elif outputs_file is not None:
        outputs, display = read_outputs_file(outputs_file), str(outputs_file)
    elif automation.available():
        outputs, display = automation.outputs(root, stack), f"outputs of stack {stack}"
    else:
        raise ConfigError.one("--outputs-file", "", "needs the Pulumi CLI on PATH, or --outputs-file F")
    targets = smoke_checks.targets(outputs, load_catalogue(root), display)
    api_key = local_key or os.environ.get("MLOPS_API_KEY") or outputs.get("api_key")
    if any(t.type == "app" for t in targets) and not api_key:
        raise ConfigError.one(
            display, "api_key", "apps need the API key: set MLOPS_API_KEY, or export outputs with --show-secrets"
        )
    if timeout <= 0:
        raise ConfigError.one("--timeout", "", f"{timeout} is not a positive number of seconds")
    results = smoke_checks.run(targets, api_key, timeout)
    rows = []
    for r in results:
        path = r.target.url.split("://", 1)[-1].split("/", 1)[-1]
        verdict = f"{r.status or '-'} {r.detail}" if not r.ok else f"{r.status} ok"
        rows.append(
            [
                r.target.component,
                r.target.type,
                f"{r.target.method} /{path}",
                verdict,
                str(r.attempts),
                f"{r.seconds:.1f}",
            ]
        )
    print_table(f"Smoke tests of {stack}", ["component", "type", "check", "result", "attempts", "seconds"], rows)
    failed = [r for r in results if not r.ok]
    if failed:
        typer.echo(f"{len(failed)} of {len(results)} checks failed.", err=True)
        raise typer.Exit(1)
    typer.echo(f"All {len(results)} checks passed.")
