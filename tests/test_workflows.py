"""The GitHub workflows, validated offline: the workflow JSON schema, zizmor's security audit, and
every `mlops` command line they run parsed against the CLI (a renamed flag breaks a test, not a
release)."""

from __future__ import annotations

import json
import os
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


def test_zizmor_auditor_finds_nothing() -> None:
    """The auditor persona: every audit at every severity and confidence, pedantic ones included."""
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--persona", "auditor", str(REPO / ".github" / "workflows")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_they_run_the_delivery_commands() -> None:
    commands = {" ".join(args[:2]) if args[0] == "challenger" else args[0] for _, args in mlops_lines()}
    assert {"promote", "smoke", "rollback", "challenger destroy", "challenger create", "plan", "review"} <= commands


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

    def test_secrets_and_write_tokens_only_in_jobs_bound_to_an_environment(self) -> None:
        for name, job_name, job in all_jobs():
            text = json.dumps(job)
            if "secrets." in text or "github.token" in text:
                assert job.get("environment"), (name, job_name)
            if not job.get("environment"):
                assert job["permissions"] == {"contents": "read"}, (name, job_name)

    def test_no_expressions_inside_scripts(self) -> None:
        """Values reach scripts through env: an expression in a script is a code injection."""
        for name, script in run_scripts():
            assert "${{" not in script, (name, script)

    def test_checkouts_keep_no_credentials(self) -> None:
        for name, job_name, job in all_jobs():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, (name, job_name)

    def test_every_job_that_reaches_gke_uses_wif_and_the_auth_plugin(self) -> None:
        reaching = 0
        for name, job_name, job in all_jobs():
            steps = job["steps"]
            first = next((i for i, s in enumerate(steps) if REACHES_GKE.search(s.get("run", ""))), None)
            if first is None:
                continue
            reaching += 1
            auth = uses(steps, "google-github-actions/auth@")
            gcloud = uses(steps, "google-github-actions/setup-gcloud@")
            assert auth is not None and gcloud is not None, (name, job_name)
            assert auth < gcloud < first, (name, job_name)
            assert "gke-gcloud-auth-plugin" in steps[gcloud]["with"]["install_components"], (name, job_name)
            assert job["permissions"].get("id-token") == "write", (name, job_name)
        assert reaching == 7  # PR preview, challenger, cleanup; integration; promote preview, deploy; cleanup


class TestRollback:
    @pytest.mark.parametrize("workflow", ["deploy-integration.yml", "promote.yml"])
    def test_a_failed_up_or_failed_smoke_tests_roll_back_and_still_fail(self, workflow: str) -> None:
        steps = workflows()[workflow]["jobs"]["deploy"]["steps"]
        ids = {s.get("id"): i for i, s in enumerate(steps)}
        assert "pulumi up" in steps[ids["up"]]["run"] and "mlops smoke" in steps[ids["smoke"]]["run"]
        index, rollback = next((i, s) for i, s in enumerate(steps) if "mlops rollback" in s.get("run", ""))
        assert rollback["if"] == "failure() && (steps.up.outcome == 'failure' || steps.smoke.outcome == 'failure')"
        assert index > ids["smoke"] > ids["up"]
        assert rollback["run"].index("mlops rollback") < rollback["run"].index("pulumi up")
        assert rollback["run"].rstrip().endswith("exit 1")  # the job still fails


class TestApprovedPromotion:
    """The deploy job applies exactly the stack file the preview job wrote and previewed."""

    def test_the_preview_job_bundles_file_preview_and_log_line_with_hashes(self) -> None:
        preview = workflows()["promote.yml"]["jobs"]["preview"]
        assert preview["environment"] == "${{ inputs.to }}-preview"
        scripts = "\n".join(s.get("run", "") for s in preview["steps"])
        assert "--source deployed --outputs-file from-outputs.json --no-deploy --yes" in scripts
        assert 'pulumi preview --diff --non-interactive -s "$TO" 2>&1 | tee promotion/preview.txt' in scripts
        assert "> SHA256SUMS" in scripts
        uploads = [s for s in preview["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
        assert len(uploads) == 1 and uploads[0]["with"]["path"] == "promotion/"
        assert preview["outputs"]["sums"] == "${{ steps.bundle.outputs.sums }}"

    def test_the_deploy_job_checks_the_hashes_before_it_deploys(self) -> None:
        steps = workflows()["promote.yml"]["jobs"]["deploy"]["steps"]
        ids = {s.get("id"): i for i, s in enumerate(steps)}
        download = uses(steps, "actions/download-artifact@")
        verify = next(i for i, s in enumerate(steps) if "sha256sum --check" in s.get("run", ""))
        place = next(i for i, s in enumerate(steps) if 'cp "promotion/Pulumi.${TO}.yaml"' in s.get("run", ""))
        assert download is not None and download < verify < place < ids["up"]
        assert steps[download]["with"]["name"] == "promotion"
        assert steps[verify]["env"]["SUMS"] == "${{ needs.preview.outputs.sums }}"

    def test_the_deploy_job_never_reads_the_source_again(self) -> None:
        deploy = workflows()["promote.yml"]["jobs"]["deploy"]
        scripts = "\n".join(s.get("run", "") for s in deploy["steps"])
        assert "mlops promote" not in scripts
        for line in scripts.splitlines():
            assert not ("stack output" in line and "FROM" in line), line

    def test_a_changed_file_or_an_extra_file_fails_the_check(self, tmp_path: Path) -> None:
        """The preview job's hashing script and the deploy job's checking script, run for real."""
        jobs = workflows()["promote.yml"]["jobs"]
        bundle = next(s["run"] for s in jobs["preview"]["steps"] if s.get("id") == "bundle")
        check = next(s["run"] for s in jobs["deploy"]["steps"] if "sha256sum --check" in s.get("run", ""))
        (tmp_path / "promotion").mkdir()
        for file, text in {"Pulumi.uat.yaml": "config: {}\n", "preview.txt": "~ 1 to update\n"}.items():
            (tmp_path / "promotion" / file).write_text(text)
        (tmp_path / "promotion" / "promotion.jsonl").write_text('{"action":"promote"}\n')
        (tmp_path / "promote.txt").write_text("pins\n")
        env = {"PATH": os.environ["PATH"], "TO": "uat", "FROM": "integration"}
        env |= {"GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}

        def run(script: str, **extra: str) -> int:
            done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env | extra, capture_output=True)
            return done.returncode

        assert run(bundle) == 0
        sums = (tmp_path / "out").read_text().strip().removeprefix("sums=")
        assert run(check, SUMS=sums) == 0
        assert run(check, SUMS="0" * 64) != 0
        (tmp_path / "promotion" / "extra.yaml").write_text("x")
        assert run(check, SUMS=sums) != 0
        (tmp_path / "promotion" / "extra.yaml").unlink()
        (tmp_path / "promotion" / "Pulumi.uat.yaml").write_text("config: {changed: true}\n")
        assert run(check, SUMS=sums) != 0


class TestCommitsGoThroughPullRequests:
    def test_every_push_is_a_new_bot_branch_followed_by_a_pull_request(self) -> None:
        pushes = 0
        for name, script in run_scripts():
            lines = script.splitlines()
            for number, line in enumerate(lines):
                if "git push" not in line:
                    continue
                pushes += 1
                assert line.strip().endswith('"HEAD:refs/heads/${branch}"'), (name, line)
                assert "--force" not in line and " -f " not in line, (name, line)
                assert re.search(r'^\s*branch="mlops/[^"]+-\$\{GITHUB_RUN_ID\}"$', script, re.M), name
                assert any("gh pr create" in later for later in lines[number + 1 :]), (name, line)
        assert pushes == 4  # integration rollback; promotion; promotion rollback; challenger cleanup


class TestPullRequestReview:
    def test_the_review_runs_against_the_base_branch(self) -> None:
        review = workflows()["pull-request.yml"]["jobs"]["review"]
        checkout = review["steps"][uses(review["steps"], "actions/checkout@")]
        assert checkout["with"]["fetch-depth"] == 0
        step = next(s for s in review["steps"] if s.get("id") == "review")
        assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"
        assert '.venv/bin/mlops review --base "origin/${BASE_REF}" --format markdown' in step["run"]

    def test_one_comment_found_by_its_marker_and_updated(self) -> None:
        comment = workflows()["pull-request.yml"]["jobs"]["comment"]
        script = comment["steps"][-1]["run"]
        assert "marker='<!-- mlops-review -->'" in script and "startswith" in script
        assert "--method PATCH" in script and "--method POST" in script
        assert comment["permissions"] == {"pull-requests": "write"}
        assert set(comment["needs"]) == {"review", "preview"}

    def test_previews_with_a_backend_in_an_environment(self) -> None:
        preview = workflows()["pull-request.yml"]["jobs"]["preview"]
        assert preview["environment"] == "preview" and "vars.PULUMI_BACKEND != ''" in preview["if"]
        script = "\n".join(s.get("run", "") for s in preview["steps"])
        assert 'pulumi preview --diff --non-interactive -s "$stack"' in script and "affected_stacks" in script


# A command that talks to the cluster (the Pulumi engine through the Kubernetes provider).
REACHES_GKE = re.compile(r"pulumi (up|preview|destroy|refresh)\b|mlops challenger destroy\b")


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_name, job) for name, w in workflows().items() for job_name, job in w["jobs"].items()]


def uses(steps: list[dict[str, Any]], action: str) -> int | None:
    """The index of the first step that uses `action` (owner/name@)."""
    return next((i for i, s in enumerate(steps) if s.get("uses", "").startswith(action)), None)
