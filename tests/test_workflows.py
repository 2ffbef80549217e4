"""The GitHub workflows, validated offline: the workflow JSON schema, zizmor's security audit, and
every `mlops` command line they run parsed against the CLI (a renamed flag breaks a test, not a
release)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from mlops.cli import app

from .conftest import REPO, load_yaml

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is in requirements.txt and must be installed"
    return found


def workflows() -> dict[str, Any]:
    return {p.name: load_yaml(p) for p in WORKFLOWS}


def run_scripts() -> list[tuple[str, str]]:
    scripts = []
    for name, workflow in workflows().items():
        for job in workflow["jobs"].values():
            scripts += [(name, step["run"]) for step in job["steps"] if "run" in step]
    return scripts


def mlops_lines() -> list[tuple[str, list[str]]]:
    """Every `mlops ...` invocation in the run scripts, as argument lists ($VARS as placeholders)."""
    found = []
    for name, script in run_scripts():
        for line in script.splitlines():
            # Every workflow runs the CLI as .venv/bin/mlops: prose that mentions mlops is not a call.
            match = re.search(r"\.venv/bin/mlops\s+(.*)", line)
            if not match or line.lstrip().startswith("#"):
                continue
            command = re.split(r"\)|\s(?:\|\||&&|\||>|2>|;)\s", match.group(1))[0]
            command = re.sub(r"\$\{?\w+\}?", "x", command)
            found.append((name, shlex.split(command)))
    return found


def remaining(ctx: Any) -> list[str]:
    """A group context's unparsed words: the subcommand name, then its arguments."""
    protected = getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", [])
    return [*protected, *ctx.args]


def test_the_four_workflows_exist() -> None:
    triggers = {name: set(w["on"]) for name, w in workflows().items()}
    assert set().union(*triggers.values()) >= {"pull_request", "push", "workflow_dispatch", "schedule"}


def test_workflow_schema() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_high() -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--min-severity", "high", str(REPO / ".github" / "workflows")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_they_run_the_delivery_commands() -> None:
    commands = {" ".join(args[:2]) if args[0] == "challenger" else args[0] for _, args in mlops_lines()}
    assert {"promote", "smoke", "rollback", "challenger destroy", "challenger create", "plan", "diff"} <= commands


@pytest.mark.parametrize(("workflow", "args"), mlops_lines(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_every_mlops_command_line_parses(workflow: str, args: list[str]) -> None:
    command = get_command(app)
    ctx = command.make_context("mlops", list(args))
    while hasattr(command, "resolve_command"):
        _, command, rest = command.resolve_command(ctx, remaining(ctx))
        ctx = command.make_context(command.name, rest, parent=ctx)
    assert ctx.command is command


def test_a_renamed_flag_would_fail() -> None:
    command = get_command(app)
    ctx = command.make_context("mlops", ["promote", "x", "--sorce", "deployed"])
    _, sub, rest = command.resolve_command(ctx, remaining(ctx))
    with pytest.raises(Exception, match="No such option"):
        sub.make_context(sub.name, rest, parent=ctx)


class TestSafety:
    def test_least_privilege_and_pinned_actions(self) -> None:
        for name, workflow in workflows().items():
            assert workflow["permissions"] == {}, name  # nothing by default; each job asks for what it needs
            for job_name, job in workflow["jobs"].items():
                assert "permissions" in job, (name, job_name)
                for step in job["steps"]:
                    if "uses" in step:
                        assert re.match(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$", step["uses"]), step["uses"]

    def test_one_run_per_stack_at_a_time(self) -> None:
        for name, workflow in workflows().items():
            assert workflow["concurrency"]["cancel-in-progress"] is False, name
        assert workflows()["deploy-integration.yml"]["concurrency"]["group"] == "stack-integration"
        assert workflows()["promote.yml"]["concurrency"]["group"] == "stack-${{ inputs.to }}"

    def test_production_promotion_waits_in_its_environment(self) -> None:
        promote = workflows()["promote.yml"]
        assert "production" in promote["on"]["workflow_dispatch"]["inputs"]["to"]["options"]
        deploy = promote["jobs"]["deploy"]
        assert deploy["environment"] == "${{ inputs.to }}"  # to: production -> environment: production
        assert deploy["needs"] == "preview"

    def test_failed_smoke_tests_roll_back_and_still_fail(self) -> None:
        for name in ("deploy-integration.yml", "promote.yml"):
            steps = workflows()[name]["jobs"]["deploy"]["steps"]
            rollback = next(s for s in steps if "mlops rollback" in s.get("run", ""))
            assert rollback["if"] == "failure() && steps.smoke.conclusion == 'failure'"
            assert "pulumi up" in rollback["run"] and rollback["run"].rstrip().endswith("exit 1")
