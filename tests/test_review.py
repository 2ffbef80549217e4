"""`mlops review --base REF`: a throw-away git repository holding the project's files, committed as
the base, then edited the way pull requests edit them. Every change to what runs must show (a PR
that only changes replicas, one environment config key, a secret, a worker group), a secret only
ever as [secret], and a version changed in place is rejected: versions are immutable."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops.cli import app

from .conftest import REPO, edit_stack, edit_yaml, set_pin_settings

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
API_KEY = "v1:Vm9rUFd6dHlOb0pYZ0xhRDpRcXRvWmhNY0NLZlN0bXhGc2k1bkVkR2pQbmJzRUJ3PT0="
NEW_CIPHERTEXT = "v1:bmV3LWNpcGhlcnRleHQtdGhhdC1tdXN0LW5ldmVyLWJlLXByaW50ZWQ="


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's files in a fresh git repository, committed: the pull request's base."""
    root = tmp_path / "repo"
    root.mkdir()
    for path in REPO.glob("Pulumi*.yaml"):
        shutil.copy(path, root / path.name)
    shutil.copytree(REPO / "config" / "components", root / "config" / "components")
    subprocess.run([*GIT, "init", "--quiet", "--initial-branch=main"], cwd=root, check=True)
    commit(root, "base")
    monkeypatch.chdir(root)
    return root


def commit(root: Path, message: str) -> None:
    subprocess.run([*GIT, "add", "--all"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "--quiet", "--allow-empty", "-m", message], cwd=root, check=True)


def review(*args: str) -> Any:
    return CliRunner().invoke(app, ["review", "--base", "main", *args], catch_exceptions=False)


def as_json() -> dict[str, Any]:
    result = review("--format", "json")
    assert result.exit_code in (0, 2), result.output
    return json.loads(result.stdout)


def stack(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["stacks"] if s["stack"] == name)


def rows(section: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    return {c["subject"]: (c["change"], c["before"], c["after"]) for c in section}


def objects(data: dict[str, Any], name: str) -> dict[str, tuple[str, list[str]]]:
    return {f"{o['kind']}/{o['object']}": (o["status"], o["fields"]) for o in stack(data, name)["objects"]}


class TestEveryChangeShows:
    def test_nothing_changed_says_so(self, repo: Path) -> None:
        for fmt in ("text", "markdown"):
            result = review("--format", fmt)
            assert result.exit_code == 0, result.output
            assert "No change to what runs." in result.stdout
        data = as_json()
        assert (data["changed"], data["rejected"], data["affected_stacks"]) == (False, False, [])

    def test_only_replicas_of_one_pin(self, repo: Path) -> None:
        edit_stack(repo, "integration", set_pin_settings("sentiment_analysis", replicas=3))
        data = as_json()
        integration = stack(data, "integration")
        assert rows(integration["settings"]) == {
            "mlops:components[sentiment_analysis].settings.replicas": ("added", "-", "3")
        }
        assert rows(integration["resolved"]) == {
            "sentiment_analysis.replicas": ("changed", "1 (environment)", "3 (component)")
        }
        status, fields = objects(data, "integration")["Deployment/sentiment-analysis"]
        assert status == "changed" and fields[0] == "spec.replicas"
        assert data["affected_stacks"] == ["integration"] and data["changed"] is True
        markdown = review("--format", "markdown")
        assert markdown.exit_code == 0
        assert "No change to what runs." not in markdown.stdout
        assert "| sentiment_analysis.replicas | changed | 1 (environment) | 3 (component) |" in markdown.stdout
        assert "No change to what runs in: `production`, `uat`." in markdown.stdout

    def test_replicas_at_the_environment_level(self, repo: Path) -> None:
        edit_stack(repo, "integration", lambda c: c["mlops:settings"].update(replicas=2))
        integration = stack(as_json(), "integration")
        assert rows(integration["settings"]) == {"mlops:settings.replicas": ("changed", "1", "2")}
        resolved = rows(integration["resolved"])
        assert resolved["document_tagging.replicas"] == ("changed", "1 (environment)", "2 (environment)")
        assert len(resolved) == 3  # every component inherits it

    def test_replicas_at_the_project_level(self, repo: Path) -> None:
        edit_yaml(repo / "Pulumi.yaml", lambda d: d["config"]["mlops:settings"]["value"].update(replicas=3))
        data = as_json()
        assert rows(data["project"]) == {"Pulumi.yaml mlops:settings.replicas": ("changed", "2", "3")}
        # UAT sets no replicas of its own: it inherits the project's; the others override it.
        assert rows(stack(data, "uat")["resolved"])["sentiment_analysis.replicas"] == (
            "changed",
            "2 (project)",
            "3 (project)",
        )
        assert stack(data, "integration")["resolved"] == []
        status, fields = objects(data, "uat")["Deployment/sentiment-analysis"]
        assert status == "changed" and fields[0] == "spec.replicas"

    def test_only_an_environment_config_key(self, repo: Path) -> None:
        edit_stack(repo, "integration", lambda c: c["mlops:environment_config"].update(log_level="INFO"))
        data = as_json()
        assert rows(stack(data, "integration")["environment_config"]) == {"log_level": ("changed", "DEBUG", "INFO")}
        changed = objects(data, "integration")
        assert changed["ConfigMap/environment-config"][0] == "changed"
        # The pods carry the environment config's hash, so every Deployment rolls: shown too.
        assert changed["Deployment/document-tagging"][0] == "changed"
        assert data["affected_stacks"] == ["integration"]

    def test_a_worker_group_resized(self, repo: Path) -> None:
        edit_stack(repo, "uat", lambda c: c["mlops:worker_groups"]["uat-pool"].update(max_size=5))
        data = as_json()
        assert rows(stack(data, "uat")["worker_groups"]) == {"uat-pool.max_size": ("changed", "3", "5")}
        status, fields = objects(data, "uat")["NodePool/uat-pool"]
        assert status == "changed" and any("max_node_count" in f for f in fields)

    def test_a_pin_moved_to_another_version(self, repo: Path) -> None:
        edit_stack(repo, "uat", lambda c: c["mlops:components"][2].update(version=207))
        pins = rows(stack(as_json(), "uat")["pins"])
        change, before, after = pins["sentiment_analysis"]
        assert change == "version changed" and before.startswith("205 (v2) sha256:") and after.startswith("207 ")


def test_a_canary_shows_as_a_pin_change_and_its_objects(repo: Path) -> None:
    def start(config: dict[str, Any]) -> None:
        config["mlops:components"][0]["canary"] = {"version": 154, "weight": 10, "sticky": True}

    edit_stack(repo, "integration", start)
    integration = stack(as_json(), "integration")
    assert rows(integration["pins"])["document_tagging.canary"] == ("canary changed", "-", "154 10% sticky")
    assert objects(as_json(), "integration")["Deployment/document-tagging-canary"][0] == "added"


class TestSecrets:
    def test_a_changed_secret_shows_as_secret_only(self, repo: Path) -> None:
        edit_stack(repo, "integration", lambda c: c["mlops:environment_config"].update(token={"secure": API_KEY}))
        commit(repo, "a secret in the environment config")

        def rotate(config: dict[str, Any]) -> None:
            config["mlops:api_key"] = {"secure": NEW_CIPHERTEXT}
            config["mlops:environment_config"]["token"] = {"secure": NEW_CIPHERTEXT}

        edit_stack(repo, "integration", rotate)
        integration = stack(as_json(), "integration")
        assert rows(integration["config"]) == {"mlops:api_key": ("[secret] changed", "[secret]", "[secret]")}
        assert rows(integration["environment_config"]) == {"token": ("[secret] changed", "[secret]", "[secret]")}
        for fmt in ("text", "markdown", "json"):
            result = review("--format", fmt)
            assert result.exit_code == 0, result.output
            assert "[secret] changed" in result.stdout
            assert "v1:" not in result.output, fmt  # neither ciphertext, old or new

    def test_a_secret_replacing_a_plain_value_is_masked(self, repo: Path) -> None:
        edit_stack(repo, "uat", lambda c: c["mlops:environment_config"].update(log_level={"secure": NEW_CIPHERTEXT}))
        assert rows(stack(as_json(), "uat")["environment_config"]) == {"log_level": ("changed", "INFO", "[secret]")}


class TestCatalogue:
    def _edit_version(self, repo: Path, component: str, version: int, **fields: Any) -> None:
        def change(data: dict[str, Any]) -> None:
            next(v for v in data["versions"] if v["id"] == version).update(fields)

        edit_yaml(repo / "config" / "components" / f"{component}.yaml", change)

    def test_a_digest_changed_in_place_is_rejected(self, repo: Path) -> None:
        self._edit_version(repo, "sentiment_analysis", 210, digest="sha256:" + "ab" * 32)
        result = review("--format", "markdown")
        assert result.exit_code == 2
        top = result.stdout.split("####")[0]
        assert "**Rejected: versions are immutable: add a new version instead.**" in top
        assert "config/components/sentiment_analysis.yaml: versions[id=210].digest" in top
        assert result.stderr.strip().splitlines() == [
            "config/components/sentiment_analysis.yaml: versions[id=210].digest: changed in place: "
            "versions are immutable: add a new version instead"
        ]
        data = as_json()
        assert data["rejected"] is True
        # Integration pins 210: its pin shows the new digest, not "unchanged".
        change, _, after = rows(stack(data, "integration")["pins"])["sentiment_analysis"]
        assert (change, after) == ("digest changed", "sha256:" + "ab" * 32)
        assert "Deployment/sentiment-analysis" in objects(data, "integration")

    def test_an_app_config_changed_in_place_is_rejected(self, repo: Path) -> None:
        self._edit_version(repo, "nlp_document_classifier", 157, app_config={"app_title": "Other"})
        result = review()
        assert result.exit_code == 2
        assert result.stdout.splitlines()[1] == "REJECTED: versions are immutable: add a new version instead."

    def test_a_new_version_is_accepted(self, repo: Path) -> None:
        def add(data: dict[str, Any]) -> None:
            digest = "sha256:" + "cd" * 32
            data["versions"].append({"id": 212, "label": "v4", "digest": digest, "created": "2026-12-01"})

        edit_yaml(repo / "config" / "components" / "sentiment_analysis.yaml", add)
        result = review("--format", "markdown")
        assert result.exit_code == 0, result.output
        assert "| sentiment_analysis version 212 | added | - | v4 sha256:cdcd" in result.stdout
        assert "No change to what runs in: `integration`, `production`, `uat`." in result.stdout
        data = as_json()
        assert (data["rejected"], data["affected_stacks"]) == (False, [])

    def test_a_label_added_to_an_existing_version_is_not_a_rejection(self, repo: Path) -> None:
        self._edit_version(repo, "sentiment_analysis", 207, label="beta")
        data = as_json()
        assert data["rejected"] is False
        assert rows(data["catalogue"]) == {"sentiment_analysis version 207: label": ("added", "-", "beta")}


class TestProblems:
    def test_a_bad_ref_is_one_line(self, repo: Path) -> None:
        result = CliRunner().invoke(app, ["review", "--base", "origin/nope"], catch_exceptions=False)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            "--base: 'origin/nope' is not a commit in this repository: "
            "fetch it first (git fetch --no-tags --depth=1 origin <branch>)"
        ]

    def test_an_option_is_not_a_ref(self, repo: Path) -> None:
        result = CliRunner().invoke(app, ["review", "--base=--output=x"], catch_exceptions=False)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
        assert not (repo / "x").exists()

    def test_outside_a_git_repository(self, repo: Path) -> None:
        shutil.rmtree(repo / ".git")
        result = review()
        assert result.exit_code == 2
        assert result.stderr.strip().endswith("is not in a git repository: review compares with a git ref")

    def test_a_stack_that_does_not_validate_is_one_line(self, repo: Path) -> None:
        edit_stack(repo, "uat", lambda c: c["mlops:components"][0].update(version=999))
        result = review()
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        problems = stack(as_json(), "uat")["problems"]
        assert len(problems) == 1 and problems[0].startswith("Pulumi.uat.yaml: mlops:components[document_tagging]")

    def test_a_new_and_a_removed_stack(self, repo: Path) -> None:
        shutil.copy(repo / "Pulumi.uat.yaml", repo / "Pulumi.staging.yaml")
        (repo / "Pulumi.production.yaml").unlink()
        data = as_json()
        assert stack(data, "staging")["status"] == "added" and stack(data, "production")["status"] == "removed"
        assert rows(stack(data, "staging")["pins"])["document_tagging"][0] == "added"
        assert data["affected_stacks"] == ["staging"]

    def test_values_cannot_break_the_comment(self, repo: Path) -> None:
        edit_stack(repo, "uat", lambda c: c["mlops:environment_config"].update(title="a | b <!-- mlops-review -->"))
        result = review("--format", "markdown")
        assert "a \\| b &lt;!-- mlops-review --&gt;" in result.stdout
        assert "<!--" not in result.stdout
