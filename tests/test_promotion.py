"""diff, promote, pin, rollback, history, status: in-process CLI tests on temporary copies of the
project, and the properties promotion must keep. (What `plan` writes: test_plan_output.py; writes
to the stack files: test_stack_file_writes.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.history import LOG_FILE
from spec.environment import load_environment

from .conftest import edit_stack, stack_config

PULUMI = shutil.which("pulumi")
needs_pulumi = pytest.mark.skipif(PULUMI is None, reason="needs the Pulumi CLI on PATH (not installable here)")


@pytest.fixture()
def cli(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLOPS_USER", "alice")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def pins(root: Path, stack: str) -> list[tuple[str, int]]:
    return [(c.name, c.version.id) for c in load_environment(root, stack).components]


def without_pins(text: str) -> list[str]:
    """The file's lines minus the pins block and the provenance block."""
    kept, skipping = [], False
    for line in text.splitlines():
        if line.startswith("  mlops:components:") or line.startswith("  mlops:promoted_from:"):
            skipping = True
            continue
        if skipping and line.startswith("    "):
            continue
        skipping = False
        kept.append(line)
    return kept


class TestPromote:
    def test_promote_copies_pins_and_nothing_else(self, project: Path, cli) -> None:
        before = (project / "Pulumi.uat.yaml").read_text()
        result = cli("promote", "integration", "uat", "--no-deploy", "--yes")
        assert result.exit_code == 0, result.output
        after = (project / "Pulumi.uat.yaml").read_text()
        assert pins(project, "uat") == pins(project, "integration")
        assert without_pins(after) == without_pins(before)  # every other byte, comments included
        assert after.startswith("# UAT: user acceptance testing")
        assert "secure: v1:UXpJb1h3RkVMTTZ0cDlOZzp5a0RQbE5jQmJLRXZtTnp1R1hXaGlrdW1rV2pRPT0=" in after
        provenance = stack_config(project, "uat")["mlops:promoted_from"]
        assert provenance["stack"] == "integration" and provenance["source"] == "config"
        assert provenance["user"] == "alice"
        assert cli("diff", "integration", "uat").exit_code == 0

    def test_default_target_is_promotes_to_and_keeps_target_settings(self, project: Path, cli) -> None:
        result = cli("promote", "uat", "--no-deploy", "--yes")
        assert result.exit_code == 0, result.output
        production = {p["name"]: p for p in stack_config(project, "production")["mlops:components"]}
        assert production["nlp_document_classifier"]["settings"] == {
            "replicas": 4,
            "rate_limit": {"requests_per_minute": 20},
        }
        assert production["document_tagging"]["settings"] == {"low_latency_mode": True}
        assert pins(project, "production") == pins(project, "uat")

    def test_dry_run_writes_nothing(self, project: Path, cli) -> None:
        before = (project / "Pulumi.uat.yaml").read_bytes()
        result = cli("promote", "integration", "--dry-run")
        assert result.exit_code == 0
        assert "Dry run" in result.output and "document_tagging" in result.output
        assert (project / "Pulumi.uat.yaml").read_bytes() == before
        assert not (project / LOG_FILE).exists()

    def test_promoting_again_is_a_no_op(self, project: Path, cli) -> None:
        assert cli("promote", "integration", "--no-deploy", "--yes").exit_code == 0
        text = (project / "Pulumi.uat.yaml").read_text()
        result = cli("promote", "integration", "--no-deploy", "--yes")
        assert result.exit_code == 0 and "Nothing to promote" in result.output
        assert (project / "Pulumi.uat.yaml").read_text() == text
        assert len((project / LOG_FILE).read_text().splitlines()) == 1

    def test_against_the_chain_needs_force(self, project: Path, cli) -> None:
        result = cli("promote", "integration", "production", "--no-deploy", "--yes")
        assert result.exit_code == 2
        assert "pass --force" in result.output
        forced = cli("promote", "integration", "production", "--no-deploy", "--yes", "--force")
        assert forced.exit_code == 0, forced.output

    def test_without_a_cli_it_prints_the_commands_to_deploy(self, project: Path, cli, monkeypatch) -> None:
        monkeypatch.setenv("PATH", "/nonexistent")
        result = cli("promote", "integration", "--yes")
        assert result.exit_code == 0
        assert "pulumi preview --diff -s uat" in result.output and "pulumi up -s uat" in result.output

    def test_confirmation_is_required_without_yes(self, project: Path, cli) -> None:
        before = (project / "Pulumi.uat.yaml").read_bytes()
        result = CliRunner().invoke(app, ["promote", "integration", "--no-deploy"], input="n\n")
        assert result.exit_code != 0
        assert (project / "Pulumi.uat.yaml").read_bytes() == before


class TestDeployedSource:
    def outputs(self, tmp_path: Path, pins_: list[dict] | None) -> Path:
        path = tmp_path / "outputs.json"
        data = {"project": "document-tagging", "environment": "integration"}
        if pins_ is not None:
            data["pins"] = pins_
        path.write_text(json.dumps(data))
        return path

    def test_takes_the_pins_from_the_outputs_file_and_warns(self, project: Path, cli, tmp_path: Path) -> None:
        running = [
            {"name": "document_tagging", "type": "model", "version": 154},
            {"name": "nlp_document_classifier", "type": "app", "version": 160},
            {"name": "sentiment_analysis", "type": "model", "version": 207},
        ]
        result = cli(
            "promote", "integration", "--source", "deployed", "--outputs-file", str(self.outputs(tmp_path, running)),
            "--no-deploy", "--yes",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "differ" in result.output  # the file says 158/161, it runs 154/160
        assert pins(project, "uat") == [(p["name"], p["version"]) for p in running]
        assert stack_config(project, "uat")["mlops:promoted_from"]["source"] == "deployed"

    def test_outputs_without_pins_is_one_line_and_nothing_written(self, project: Path, cli, tmp_path: Path) -> None:
        before = (project / "Pulumi.uat.yaml").read_bytes()
        path = self.outputs(tmp_path, None)
        result = cli("promote", "integration", "--source", "deployed", "--outputs-file", str(path), "--yes")
        assert result.exit_code == 2
        assert (
            result.output.strip()
            == f"{path}: pins: no pins output: was the stack deployed with this program? (`pulumi up` exports it)"
        )
        assert (project / "Pulumi.uat.yaml").read_bytes() == before


class TestPinRollbackHistory:
    def test_pin_by_label_then_rollback(self, project: Path, cli) -> None:
        before = pins(project, "uat")
        result = cli("pin", "document_tagging", "v1", "-s", "uat", "--no-deploy", "--yes")
        assert result.exit_code == 0, result.output
        assert dict(pins(project, "uat"))["document_tagging"] == 151
        assert cli("rollback", "-s", "uat", "--no-deploy", "--yes").exit_code == 0
        assert pins(project, "uat") == before

    def test_rollback_after_promote_restores_the_pins(self, project: Path, cli) -> None:
        before = pins(project, "uat")
        assert cli("promote", "integration", "--no-deploy", "--yes").exit_code == 0
        assert pins(project, "uat") != before
        assert cli("rollback", "-s", "uat", "--no-deploy", "--yes").exit_code == 0
        assert pins(project, "uat") == before
        assert cli("diff", "integration", "uat").exit_code == 1

    def test_history_lists_every_change(self, project: Path, cli) -> None:
        cli("promote", "integration", "--no-deploy", "--yes")
        cli("pin", "sentiment_analysis", "205", "-s", "uat", "--no-deploy", "--yes")
        cli("rollback", "-s", "uat", "--no-deploy", "--yes")
        result = cli("history", "-s", "uat")
        assert result.exit_code == 0
        for word in ("promote", "pin", "rollback", "alice", "sentiment_analysis 210->205"):
            assert word in result.output
        records = [json.loads(line) for line in (project / LOG_FILE).read_text().splitlines()]
        assert [r["action"] for r in records] == ["promote", "pin", "rollback"]
        assert records[1]["pins_before"] == records[0]["pins_after"]

    def test_rollback_with_no_history(self, project: Path, cli) -> None:
        result = cli("rollback", "-s", "uat", "--yes")
        assert result.exit_code == 2
        assert "nothing to roll back" in result.output


class TestDiffAndStatus:
    def test_diff_formats_and_exit_codes(self, project: Path, cli) -> None:
        text = cli("diff", "integration", "uat")
        assert text.exit_code == 1
        markdown = cli("diff", "integration", "uat", "--format", "markdown")
        assert markdown.exit_code == 1
        assert "| document_tagging | model | 154 (v2) | 158 (v3) | **changed** |" in markdown.output
        data = json.loads(cli("diff", "integration", "uat", "--format", "json").output)
        assert {p["name"]: p["change"] for p in data["pins"]} == {
            "document_tagging": "changed",
            "nlp_document_classifier": "changed",
            "sentiment_analysis": "changed",
        }
        kinds = {(r["kind"], r["status"]) for r in data["resources"]}
        assert ("Deployment", "changed") in kinds
        changed = next(r for r in data["resources"] if r["object"] == "sentiment-analysis")
        assert "spec.template.spec.containers[0].image" in changed["fields"]
        assert "spec.replicas" not in changed["fields"]

    def test_diff_shows_added_and_removed_components(self, project: Path, cli) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:components"].pop())
        data = json.loads(cli("diff", "integration", "uat", "--format", "json").output)
        change = {p["name"]: p["change"] for p in data["pins"]}
        assert change["sentiment_analysis"] == "added"
        added = {r["kind"] for r in data["resources"] if r["status"] == "added"}
        assert {"Deployment", "Service", "ConfigMap", "HTTPRoute", "PodDisruptionBudget"} <= added

    def test_status_shows_versions_settings_sources_and_urls(self, project: Path, cli) -> None:
        result = cli("status", "-s", "production")
        assert result.exit_code == 0
        assert "4 (component)" in result.output and "3 (environment)" in result.output
        assert "true (component)" in result.output
        url = "https://ml.acme.example/api/v1/projects/document-tagging/environments/production/apps/nlp_document_classifier/"
        assert url in result.output

    def test_status_live_from_outputs_file(self, project: Path, cli, tmp_path: Path) -> None:
        outputs = tmp_path / "o.json"
        outputs.write_text(json.dumps({"components": {"document_tagging": {"version": 154}}}))
        result = cli("status", "-s", "uat", "--outputs-file", str(outputs))
        assert result.exit_code == 0
        assert "deployed" in result.output and "154" in result.output


class TestErrors:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["promote", "integraton", "--yes"], "Pulumi.integraton.yaml: no such stack (did you mean 'integration'?)"),
            (["promote", "uat", "uat", "--yes", "--force"], "cannot promote 'uat' to itself"),
            (["promote", "production", "--yes"], "ends the promotion chain"),
            (["pin", "document_taging", "v1", "-s", "uat", "--yes"], "did you mean 'document_tagging'"),
            (["pin", "document_tagging", "v7", "-s", "uat", "--yes"], "no version 'v7'"),
            (["status", "-s", "prod"], "no such stack (did you mean 'production'?)"),
            (["diff", "integration", "uat", "--format", "html"], "use text, markdown or json"),
            (["promote", "integration", "--source", "live", "--yes"], "use config or deployed"),
            (["history", "-s", "nope"], "no such stack"),
        ],
    )
    def test_one_line_exit_2_nothing_written(self, project: Path, cli, args: list[str], message: str) -> None:
        files = {p: p.read_bytes() for p in project.glob("Pulumi*.yaml")}
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert {p: p.read_bytes() for p in files} == files
        assert not (project / LOG_FILE).exists()

    def test_malformed_target_file(self, project: Path, cli) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:components"][0].update(versoin=3))
        before = (project / "Pulumi.uat.yaml").read_bytes()
        result = cli("promote", "integration", "--yes", "--no-deploy")
        assert result.exit_code == 2
        assert result.output.strip().startswith(
            "Pulumi.uat.yaml: mlops:components[document_tagging].versoin: unknown key"
        )
        assert (project / "Pulumi.uat.yaml").read_bytes() == before


@needs_pulumi
class TestWithPulumiCli:
    """Run only where the Pulumi CLI is installed (it cannot be installed on the build machines)."""

    def test_preview_of_a_local_backend_stack(self, project: Path, tmp_path: Path, monkeypatch) -> None:
        from mlops import automation as deploy

        monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")
        assert deploy.available()
        subprocess.run([PULUMI, "stack", "init", "uat"], cwd=project, check=True)
        with pytest.raises(Exception):  # noqa: B017 - no GCP credentials: preview must fail loudly, not hang
            deploy.preview_and_up(project, "uat", lambda _line: None)


def test_a_pulumi_cli_failure_is_one_line_not_a_traceback(project: Path, cli, monkeypatch) -> None:
    """What the Automation API raises when the CLI fails (here: the stack is not in the backend)."""
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    from mlops import automation as deploy

    def missing_stack(*_args, **_kwargs):
        raise CommandError(CommandResult(stdout="", stderr="error: no stack named 'integration' found", code=255))

    monkeypatch.setattr(deploy, "available", lambda: True)
    monkeypatch.setattr(deploy, "outputs", missing_stack)
    before = (project / "Pulumi.uat.yaml").read_bytes()
    result = cli("promote", "integration", "--source", "deployed", "--yes")
    assert result.exit_code == 2
    assert result.output.strip() == "pulumi: error: no stack named 'integration' found"
    assert (project / "Pulumi.uat.yaml").read_bytes() == before


def test_a_long_table_is_plain_aligned_columns(project: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past RICH_ROWS rows a table is plain text: the same columns and values, aligned."""
    monkeypatch.setattr("mlops.cli.common.RICH_ROWS", 1)
    result = cli("status", "-s", "uat")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("component  "))
    assert set(lines[header + 1]) <= {"-", " "}
    rows = lines[header + 2 : header + 5]
    assert [r.split()[0] for r in rows] == ["document_tagging", "nlp_document_classifier", "sentiment_analysis"]
    column = lines[header].index("version")
    assert all(r[column - 2 : column] == "  " and r[column].isdigit() for r in rows)  # aligned under its header


def test_changes_worked_out_in_two_processes_equal_one(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past PARALLEL_FROM changed components two in five of them are compared in a forked process;
    the result is the same list, in the same order."""
    from mlops import changes
    from mlops.promotion import prepare_promotion

    update = prepare_promotion(project, "integration", "uat")
    serial = update.resources()
    monkeypatch.setattr(changes, "PARALLEL_FROM", 1)
    monkeypatch.setattr(changes.os, "cpu_count", lambda: 2)
    in_this_process: list[list[str]] = []
    work = changes._changes

    def recorded(before, after, touched):  # type: ignore[no-untyped-def]
        in_this_process.append(list(touched))
        return work(before, after, touched)

    monkeypatch.setattr(changes, "_changes", recorded)
    forked = update.resources()
    assert serial and [c.__dict__ for c in forked] == [c.__dict__ for c in serial]
    # This process did only its share (the forked one did the rest, and did not fail).
    assert in_this_process == [["document_tagging", "sentiment_analysis"]]
