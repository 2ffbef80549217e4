"""The catalogue (`mlops version`), components in a stack (`mlops component`) and the settings
hierarchy (`mlops settings`) from the command line, on temporary copies of the project."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from spec.environment import load_environment
from spec.project import load_catalogue

from .conftest import Runner, load_yaml, stack_config

DIGEST = "sha256:" + "ab" * 32
CATALOGUE = Path("config") / "components" / "document_tagging.yaml"


@pytest.fixture()
def cli(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return invoke


def kept_lines(before: str, after: str) -> bool:
    """Every line of `before` is still in `after`, in order (comments included)."""
    remaining = iter(after.splitlines())
    return all(any(line == other for other in remaining) for line in before.splitlines())


class TestVersions:
    def test_list_marks_the_default(self, project: Path, cli) -> None:
        result = cli("version", "list", "document_tagging")
        assert result.exit_code == 0
        row = next(line for line in result.output.splitlines() if " 158 " in line)
        assert "*" in row and "v3" in row

    def test_add_takes_the_next_id_keeps_comments_and_can_become_default(self, project: Path, cli, tmp_path) -> None:
        before = (project / CATALOGUE).read_text()
        config = tmp_path / "app.yaml"
        config.write_text("target: category\nthreshold: 0.7\n")
        result = cli(
            "version",
            "add",
            "document_tagging",
            "--digest",
            DIGEST,
            "--label",
            "v4",
            "--app-config",
            str(config),
            "--default",
        )
        assert result.exit_code == 0, result.output
        after = (project / CATALOGUE).read_text()
        unchanged = "\n".join(line for line in before.splitlines() if not line.startswith("default_version:"))
        assert kept_lines(unchanged, after)
        assert "default_version: 159" in after
        entry = load_catalogue(project)["document_tagging"]
        new = entry.find_version("v4")
        assert new is not None and new.id == 159 and new.digest == DIGEST
        assert new.app_config == {"target": "category", "threshold": 0.7}
        assert entry.default_version == 159
        second = cli("version", "add", "document_tagging", "--digest", "sha256:" + "cd" * 32)
        assert second.exit_code == 0 and "version 160" in second.output

    def test_tag_and_set_default(self, project: Path, cli) -> None:
        assert cli("version", "tag", "document_tagging", "152", "v1-hotfix").exit_code == 0
        assert cli("version", "set-default", "document_tagging", "v1-hotfix").exit_code == 0
        entry = load_catalogue(project)["document_tagging"]
        assert entry.find_version("v1-hotfix").id == 152 and entry.default_version == 152
        raw = load_yaml(project / CATALOGUE)["versions"][1]
        assert list(raw)[:2] == ["id", "label"]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["add", "document_tagging", "--digest", "sha256:abc"], "not an image digest"),
            (["add", "document_tagging", "--digest", DIGEST, "--label", "v2"], "'v2' already names version 154"),
            (["add", "document_tagging", "--digest", DIGEST, "--label", "7"], "must start with a letter"),
            (["add", "document_taging", "--digest", DIGEST], "did you mean 'document_tagging'"),
            (
                [
                    "add",
                    "document_tagging",
                    "--digest",
                    "sha256:" + "6a756cb96682f10f679ac1185fb0b902937523e4c852258e9a13c160548f576a"[0:64],
                ],
                "is version 158 already",
            ),
            (["tag", "document_tagging", "999", "v9"], "no version '999'"),
            (["tag", "document_tagging", "151", "v3"], "'v3' already names version 158"),
            (["set-default", "document_tagging", "v9"], "no version 'v9'"),
            (
                ["add", "document_tagging", "--digest", DIGEST, "--app-config", "missing.yaml"],
                "missing.yaml: file not found",
            ),
        ],
    )
    def test_bad_input(self, project: Path, cli, args: list[str], message: str) -> None:
        before = (project / CATALOGUE).read_bytes()
        result = cli("version", *args)
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert (project / CATALOGUE).read_bytes() == before


class TestComponents:
    def test_add_default_version_then_remove(self, project: Path, cli) -> None:
        cli("component", "remove", "sentiment_analysis", "-s", "uat", "--yes")
        assert "sentiment_analysis" not in load_environment(project, "uat").by_name
        result = cli("component", "add", "sentiment_analysis", "-s", "uat")
        assert result.exit_code == 0, result.output
        assert load_environment(project, "uat").by_name["sentiment_analysis"].version.id == 210  # the default
        cli("component", "remove", "sentiment_analysis", "-s", "uat", "--yes")
        assert cli("component", "add", "sentiment_analysis", "-s", "uat", "--version", "v1").exit_code == 0
        assert load_environment(project, "uat").by_name["sentiment_analysis"].version.id == 201
        assert cli("rollback", "-s", "uat", "--no-deploy", "--yes").exit_code == 0  # adds are logged: undoable
        assert "sentiment_analysis" not in load_environment(project, "uat").by_name

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["add", "document_tagging", "-s", "uat"], "is pinned already"),
            (["add", "nope", "-s", "uat"], "no catalogue component 'nope'"),
            (["add", "document_tagging", "-s", "challenger-x"], "no such stack"),
            (["remove", "nope", "-s", "uat", "--yes"], "'nope' is not pinned"),
        ],
    )
    def test_bad_input(self, project: Path, cli, args: list[str], message: str) -> None:
        before = (project / "Pulumi.uat.yaml").read_bytes()
        result = cli("component", *args)
        assert result.exit_code == 2 and message in result.output
        assert (project / "Pulumi.uat.yaml").read_bytes() == before


class TestSettings:
    def test_list_shows_values_and_levels(self, project: Path, cli) -> None:
        result = cli("settings", "list", "-s", "production", "--component", "nlp_document_classifier")
        assert result.exit_code == 0
        lines = result.output.splitlines()
        assert any("replicas" in line and " 4 " in line and "component" in line for line in lines)
        assert any("worker_group" in line and "production-pool" in line and "environment" in line for line in lines)
        assert any("low_latency_mode" in line and "false" in line and "project" in line for line in lines)

    def test_set_and_inherit_at_each_level_reach_the_program(self, project: Path, cli, offline_engine: Runner) -> None:
        text = (project / "Pulumi.uat.yaml").read_text()
        assert cli("settings", "set", "replicas", "3", "-s", "uat").exit_code == 0
        assert stack_config(project, "uat")["mlops:settings"] == {"worker_group": "uat-pool", "replicas": 3}
        assert (
            cli("settings", "set", "low_latency_mode", "true", "-s", "uat", "--component", "document_tagging").exit_code
            == 0
        )
        env = load_environment(project, "uat")
        assert (
            env.by_name["sentiment_analysis"].replicas,
            env.by_name["sentiment_analysis"].settings["replicas"].source,
        ) == (3, "environment")
        assert env.by_name["document_tagging"].settings["low_latency_mode"].source == "component"
        run = offline_engine(project, "uat")
        assert {r.inputs["spec"]["replicas"] for r in run.resources if r.kind == "Deployment"} == {3}
        assert cli("settings", "inherit", "replicas", "-s", "uat").exit_code == 0
        assert (
            cli("settings", "inherit", "low_latency_mode", "-s", "uat", "--component", "document_tagging").exit_code
            == 0
        )
        assert load_environment(project, "uat").by_name["sentiment_analysis"].settings["replicas"].source == "project"
        # back to the original file, comments and all (pins rewritten as ids)
        assert [
            line
            for line in (project / "Pulumi.uat.yaml").read_text().splitlines()
            if "mlops:components" not in line and "{name:" not in line
        ] == [line for line in text.splitlines() if "mlops:components" not in line and "{name:" not in line]

    def test_project_level_keeps_comments_and_checks_every_stack(self, project: Path, cli) -> None:
        before = (project / "Pulumi.yaml").read_text()
        assert cli("settings", "set", "low_latency_mode", "true", "--project").exit_code == 0
        after = (project / "Pulumi.yaml").read_text()
        assert "# Project level of the settings hierarchy" in after
        assert load_yaml(project / "Pulumi.yaml")["config"]["mlops:settings"]["value"]["low_latency_mode"] is True
        assert len(after.splitlines()) == len(before.splitlines())
        refused = cli("settings", "set", "worker_group", "gpu-pool", "--project")
        assert refused.exit_code == 2 and "worker group 'gpu-pool'" in refused.output
        assert (project / "Pulumi.yaml").read_text() == after  # put back as it was

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["set", "replicas", "1", "-s", "production"], "needs replicas >= 2"),
            (["set", "replicas", "0", "-s", "uat"], "'0' is not a positive integer"),
            (["set", "replicas", "two", "-s", "uat"], "'two' is not a positive integer"),
            (["set", "low_latency_mode", "yes", "-s", "uat"], "use true or false"),
            (["set", "worker_group", "gpu", "-s", "uat"], "worker group 'gpu' is not declared"),
            (["set", "replica", "2", "-s", "uat"], "did you mean 'replicas'"),
            (["set", "replicas", "2", "-s", "uat", "--component", "nope"], "'nope' is not pinned"),
            (["inherit", "replicas", "-s", "production", "--component", "nlp_document_classifier"], None),
        ],
    )
    def test_bad_input(self, project: Path, cli, args: list[str], message: str | None) -> None:
        files = {p: p.read_bytes() for p in project.glob("Pulumi*.yaml")}
        result = cli("settings", *args)
        if message is None:  # inheriting production's 3 replicas is fine: it is the allowed case
            assert result.exit_code == 0, result.output
            return
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert {p: p.read_bytes() for p in files} == files
