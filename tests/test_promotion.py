"""plan, diff, promote, pin, rollback, history, status: in-process CLI tests on temporary copies of
the project, and the properties promotion must keep."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from typer.testing import CliRunner

from mlops import stackfile
from mlops.cli import app
from mlops.history import LOG_FILE
from spec.environment import load_environment
from spec.files import parse_yaml

from .conftest import K8S_VERSION, edit_stack, load_yaml, stack_config
from .crd_validate import is_custom, validate_custom

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


class TestPlan:
    def test_plan_writes_valid_manifests_grouped_by_component(self, project: Path, cli, tmp_path: Path) -> None:
        out = tmp_path / "plan"
        result = cli("plan", "-s", "integration", "--out", str(out))
        assert result.exit_code == 0, result.output
        groups = {p.name for p in out.iterdir() if p.is_dir()}
        assert groups == {
            "_environment",
            "_worker_groups",
            "document_tagging",
            "nlp_document_classifier",
            "sentiment_analysis",
        }
        manifests = [load_yaml(p) for p in out.glob("*/*.yaml") if p.parent.name != "_worker_groups"]
        # 6 of the environment (with the Gateway and its redirect), 7 per component (ServiceAccount,
        # NetworkPolicy, HTTPRoute, HealthCheckPolicy ...; integration runs one replica: no budget)
        assert len(manifests) == 31  # 3 components x 8 objects, and 7 of the environment's
        for manifest in manifests:
            if is_custom(manifest):
                validate_custom(manifest)
            else:
                kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        pool = load_yaml(out / "_worker_groups" / "nodepool-integration-pool.yaml")
        assert pool["inputs"]["nodeConfig"]["machineType"] == "n1-highmem-4"

    def test_no_secret_reaches_stdout_or_the_plan(self, project: Path, cli, tmp_path: Path) -> None:
        edit_stack(project, "uat", lambda c: c.pop("mlops:api_key"))  # the program generates one
        out = tmp_path / "plan"
        outputs = [cli("plan", "-s", "uat", "--out", str(out)).output]
        outputs += [cli(*args).output for args in (["status", "-s", "integration"], ["diff", "integration", "uat"])]
        outputs.append(cli("promote", "integration", "--no-deploy", "--yes").output)
        written = "".join(p.read_text() for p in out.rglob("*.yaml"))
        ciphertext = stack_config(project, "integration")["mlops:api_key"]["secure"]
        for text in [*outputs, written]:
            assert "offline-generated-secret" not in text
            assert ciphertext not in text
        secret = load_yaml(out / "_environment" / "secret-mlops-api-key.yaml")
        assert secret["stringData"] == {"api-key": "<secret>"}


class TestPlanDirectory:
    """`plan` writes next to --out and swaps the result in: the old plan or the new one, never a
    mix, and never anything but a plan replaced."""

    @staticmethod
    def snapshot(directory: Path) -> dict[str, str]:
        return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}

    @staticmethod
    def leftovers(directory: Path) -> list[str]:
        return sorted(p.name for p in directory.parent.iterdir() if p.name.startswith(f".{directory.name}."))

    def test_rerun_replaces_its_own_plan(self, project: Path, cli, tmp_path: Path) -> None:
        out = tmp_path / "plan"
        assert cli("plan", "-s", "integration", "--out", str(out)).exit_code == 0
        (out / "document_tagging" / "stale.yaml").write_text("kind: Stale\n")
        result = cli("plan", "-s", "uat", "--out", str(out))
        assert result.exit_code == 0, result.output
        assert not (out / "document_tagging" / "stale.yaml").exists()
        assert (out / ".mlops-plan").read_text().startswith("stack: uat\n")
        assert self.leftovers(out) == []

    def test_refuses_a_directory_that_is_not_a_plan(self, project: Path, cli, tmp_path: Path) -> None:
        out = tmp_path / "mine"
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
        result = cli("plan", "-s", "integration", "--out", str(out))
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [
            f"--out: {out}: exists and holds no .mlops-plan (not a plan); give a new or empty directory"
        ]
        assert (out / "notes.txt").read_text() == "keep me"
        assert self.leftovers(out) == []

    def test_unreadable_out_is_one_line(
        self, project: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        out = tmp_path / "locked"
        out.mkdir()

        def denied(self):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(Path, "iterdir", denied)
        result = cli("plan", "-s", "integration", "--out", str(out))
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [f"--out: {out}: cannot read it: Permission denied"]

    def fails_over_a_plan(self, cli, out: Path, stack: str, breaking) -> str:
        """Plan integration into `out`, break something, plan `stack` over it: the second plan
        must fail in one line, leave the first whole and nothing behind. Its output."""
        assert cli("plan", "-s", "integration", "--out", str(out)).exit_code == 0
        before = self.snapshot(out)
        breaking()
        result = cli("plan", "-s", stack, "--out", str(out))
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert self.snapshot(out) == before
        assert self.leftovers(out) == []
        return result.output.strip()

    def test_failed_program_keeps_the_old_plan(self, project: Path, cli, tmp_path: Path) -> None:
        def misspell() -> None:
            edit_stack(project, "integration", lambda c: c.__setitem__("mlops:setings", {"replicas": 2}))

        output = self.fails_over_a_plan(cli, tmp_path / "plan", "integration", misspell)
        assert output.startswith("Pulumi.integration.yaml: mlops:setings")

    def test_failed_writer_is_one_line_and_keeps_the_old_plan(
        self, project: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def full_disk(root: str, entries: list) -> int:
            raise OSError(28, "No space left on device", str(Path(root) / entries[0][0]))

        out = tmp_path / "plan"
        # Over integration's plan, uat's objects (another namespace) are all written anew.
        output = self.fails_over_a_plan(
            cli, out, "uat", lambda: monkeypatch.setattr("mlops.plan.write_files", full_disk)
        )
        assert output.startswith(f"--out: {out}: cannot write the plan: ")
        assert output.endswith(".yaml: No space left on device")

    def test_failed_swap_puts_the_old_plan_back(
        self, project: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        replace = os.replace

        def failing_replace(source, destination):
            if ".new-" in str(source):
                raise OSError(28, "No space left on device")
            return replace(source, destination)

        out = tmp_path / "plan"
        output = self.fails_over_a_plan(
            cli, out, "uat", lambda: monkeypatch.setattr("mlops.plan.os.replace", failing_replace)
        )
        assert output == f"--out: {out}: cannot write the plan: No space left on device"


class TestPlanFiles:
    """The plan's file writer: YAML a parser reads back as the same data, every file new, and the
    same plan whether one process or several write it."""

    def test_writes_documents_that_read_back_equal(self, tmp_path: Path) -> None:
        from mlops.plan_files import write_files

        body = {"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"on": "yes", "n": "1", "t": "2026-01-01"}}
        (tmp_path / "g").mkdir()
        assert write_files(str(tmp_path), [("g/configmap-a.yaml", body)]) == 1
        assert load_yaml(tmp_path / "g" / "configmap-a.yaml") == body

    def test_never_overwrites(self, tmp_path: Path) -> None:
        from mlops.plan_files import write_files

        (tmp_path / "g").mkdir()
        write_files(str(tmp_path), [("g/a.yaml", {"a": 1})])
        with pytest.raises(FileExistsError):
            write_files(str(tmp_path), [("g/a.yaml", {"a": 2})])
        assert load_yaml(tmp_path / "g" / "a.yaml") == {"a": 1}

    def test_worker_processes_write_the_same_plan(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from mlops import plan
        from spec.environment import load_environment

        env = load_environment(project, "production")
        serial = plan.write_plan(env, tmp_path / "serial")
        monkeypatch.setattr(plan, "_PARALLEL_FROM", 1)
        parallel = plan.write_plan(env, tmp_path / "parallel")
        assert len(serial.files) == len(parallel.files) > 10
        for a, b in zip(serial.files, parallel.files, strict=True):
            assert a.relative_to(tmp_path / "serial") == b.relative_to(tmp_path / "parallel")
            assert a.read_bytes() == b.read_bytes()


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


class TestAtomicity:
    """A write interrupted at any point leaves the old file or the new one, never a mix."""

    @pytest.mark.parametrize("fail_at", ["write", "fsync", "chmod", "replace"])
    def test_interrupted_before_the_rename_keeps_the_old_file(self, tmp_path: Path, monkeypatch, fail_at: str) -> None:
        path = tmp_path / "Pulumi.uat.yaml"
        path.write_text("old\n")

        def boom(*_args, **_kwargs):
            raise KeyboardInterrupt(fail_at)

        target = {"write": "io.TextIOWrapper.write", "fsync": "os.fsync", "chmod": "os.chmod", "replace": "os.replace"}
        if fail_at == "write":
            monkeypatch.setattr(os, "fdopen", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt("write")))
        else:
            monkeypatch.setattr(target[fail_at], boom)
        with pytest.raises(KeyboardInterrupt):
            stackfile.atomic_write(path, "new\n")
        monkeypatch.undo()
        assert path.read_text() == "old\n"
        assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.uat.yaml"]  # no temporary left behind

    def test_interrupted_after_the_rename_has_the_new_file(self, tmp_path: Path, monkeypatch) -> None:
        path = tmp_path / "Pulumi.uat.yaml"
        path.write_text("old\n")
        real_fsync = os.fsync
        calls = []

        def fsync(fd: int) -> None:
            calls.append(fd)
            if len(calls) == 2:  # the directory fsync, after the rename
                raise KeyboardInterrupt
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        with pytest.raises(KeyboardInterrupt):
            stackfile.atomic_write(path, "new\n")
        assert path.read_text() == "new\n"

    def test_killed_writers_never_leave_a_torn_file(self, project: Path) -> None:
        """Processes killed mid-promotion: the file always parses and is one of the valid states."""
        script = (
            "import sys, os; from pathlib import Path; from mlops.promotion import commit, prepare_pin\n"
            "root = Path(sys.argv[1])\n"
            "for i in range(200):\n"
            "    v = ['151', '154', '158'][i % 3]\n"
            "    commit(root, lambda: prepare_pin(root, 'uat', 'document_tagging', v))\n"
        )
        for _ in range(3):
            process = subprocess.Popen([sys.executable, "-c", script, str(project)])
            try:
                process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            env = load_environment(project, "uat")  # parses and validates
            assert env.by_name["document_tagging"].version.id in (151, 154, 158)


class TestConcurrency:
    def test_concurrent_writers_are_serialized(self, project: Path) -> None:
        """Four processes pin at once; the log forms one chain (each record starts where the
        previous ended), so no write was lost or interleaved."""
        env = dict(os.environ, MLOPS_USER="ci")
        versions = ["151", "152", "154", "158"]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "mlops.cli", "pin", "document_tagging", v, "-s", "uat", "--no-deploy", "--yes"],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for v in versions
        ]
        for process in processes:
            assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
        records = [json.loads(line) for line in (project / LOG_FILE).read_text().splitlines()]
        assert 1 <= len(records) <= 4
        for previous, current in itertools.pairwise(records):
            assert current["pins_before"] == previous["pins_after"]
        final = dict(pins(project, "uat"))["document_tagging"]
        assert {p["name"]: p["version"] for p in records[-1]["pins_after"]}["document_tagging"] == final


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


def test_plan_files_never_hold_anchors_or_aliases(tmp_path: Path) -> None:
    """One dict used in two places of a manifest is written out twice, never `&id001`/`*id001`."""
    from mlops.plan_files import dump_yaml

    shared = {"matchLabels": {"app": "x"}}
    text = dump_yaml({"spec": {"selector": shared, "template": {"selector": shared}}})
    assert "&" not in text and "*" not in text
    assert parse_yaml(text, "x.yaml") == {"spec": {"selector": shared, "template": {"selector": shared}}}


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
    """Past PARALLEL_FROM changed components half of them are compared in a forked process; the
    result is the same list, in the same order."""
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
    # This process did only its half (the forked one did the other, and did not fail).
    assert in_this_process == [["document_tagging", "sentiment_analysis"]]
