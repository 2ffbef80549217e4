"""What `plan` writes: valid manifests grouped by component, no secret in them, a directory swapped
in whole (the old plan or the new one, never a mix), and the file writer under it. In-process CLI
tests on temporary copies of the project."""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import pytest

from spec.files import parse_yaml

from .conftest import K8S_VERSION, edit_stack, load_yaml, stack_config
from .crd_validate import is_custom, validate_custom
from .test_promotion import cli as cli  # the fixture (the alias marks it as re-exported)


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


def test_plan_files_never_hold_anchors_or_aliases(tmp_path: Path) -> None:
    """One dict used in two places of a manifest is written out twice, never `&id001`/`*id001`."""
    from mlops.plan_files import dump_yaml

    shared = {"matchLabels": {"app": "x"}}
    text = dump_yaml({"spec": {"selector": shared, "template": {"selector": shared}}})
    assert "&" not in text and "*" not in text
    assert parse_yaml(text, "x.yaml") == {"spec": {"selector": shared, "template": {"selector": shared}}}
