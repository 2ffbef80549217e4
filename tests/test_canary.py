"""Issue 12: canary versions - the commands (each a logged change of the pins that rollback
undoes), promotion copying pins and never canaries, and validation of the pin's `canary:`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.history import records
from spec.environment import load_environment
from spec.errors import ConfigError

from .conftest import edit_stack, stack_config


@pytest.fixture()
def cli(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: CliRunner().invoke(app, [*args, "--no-deploy", "--yes"], catch_exceptions=False)


def pin_of(project: Path, stack: str, name: str) -> dict:
    return next(p for p in stack_config(project, stack)["mlops:components"] if p["name"] == name)


class TestCommands:
    """start, weight, promote, abort: each one history record; rollback undoes each."""

    def test_start_writes_the_canary_and_logs_it(self, project: Path, cli) -> None:
        result = cli("canary", "start", "document_tagging", "v2", "--weight", "10", "-s", "integration")
        assert result.exit_code == 0, result.output
        assert pin_of(project, "integration", "document_tagging") == {
            "name": "document_tagging",
            "type": "model",
            "version": 158,
            "canary": {"version": 154, "weight": 10, "sticky": True},
        }
        assert "158 (v3) + canary 154 (v2) 10% sticky" in result.output
        record = records(project, "integration")[-1]
        assert record["action"] == "canary-start"
        assert record["pins_after"][0]["canary"] == {"version": 154, "weight": 10, "sticky": True}

    def test_weight_promote_and_abort(self, project: Path, cli) -> None:
        assert cli("canary", "start", "document_tagging", "154", "-s", "integration", "--no-sticky").exit_code == 0
        assert cli("canary", "weight", "document_tagging", "50", "-s", "integration").exit_code == 0
        assert pin_of(project, "integration", "document_tagging")["canary"] == {
            "version": 154,
            "weight": 50,
            "sticky": False,
        }
        assert cli("canary", "promote", "document_tagging", "-s", "integration").exit_code == 0
        assert pin_of(project, "integration", "document_tagging") == {
            "name": "document_tagging",
            "type": "model",
            "version": 154,
        }
        assert cli("canary", "start", "document_tagging", "158", "-s", "integration").exit_code == 0
        assert cli("canary", "abort", "document_tagging", "-s", "integration").exit_code == 0
        assert "canary" not in pin_of(project, "integration", "document_tagging")
        assert pin_of(project, "integration", "document_tagging")["version"] == 154
        actions = [r["action"] for r in records(project, "integration")]
        assert actions == ["canary-start", "canary-weight", "canary-promote", "canary-start", "canary-abort"]

    @pytest.mark.parametrize("last", ["promote", "abort"])
    def test_rollback_undoes_a_promote_or_an_abort(self, project: Path, cli, last: str) -> None:
        assert cli("canary", "start", "document_tagging", "154", "--weight", "20", "-s", "integration").exit_code == 0
        running = pin_of(project, "integration", "document_tagging")
        assert cli("canary", last, "document_tagging", "-s", "integration").exit_code == 0
        assert cli("rollback", "-s", "integration").exit_code == 0
        assert pin_of(project, "integration", "document_tagging") == running

    def test_refusals_are_one_line(self, cli) -> None:
        cases = [
            (("canary", "weight", "document_tagging", "30", "-s", "integration"), "runs no canary"),
            (("canary", "start", "document_tagging", "158", "-s", "integration"), "158 is the stable version"),
            (("canary", "start", "document_tagging", "v9", "-s", "integration"), "no version 'v9'"),
            (("canary", "start", "document_tagging", "154", "--weight", "100", "-s", "integration"), "1 to 99"),
            (("canary", "start", "nope", "154", "-s", "integration"), "'nope' is not pinned"),
        ]
        for args, message in cases:
            result = cli(*args)
            assert result.exit_code == 2, args
            assert message in result.output, (args, result.output)
            assert result.output.strip().count("\n") == 0, result.output


class TestPromotion:
    """Promotion copies pins, never canaries: a target keeps its own canary, or has none."""

    def test_the_source_canary_stays_behind_with_a_warning(self, project: Path, cli) -> None:
        assert cli("canary", "start", "document_tagging", "154", "-s", "integration").exit_code == 0
        result = cli("promote", "integration")
        assert result.exit_code == 0, result.output
        assert "runs a canary of document_tagging (154, 10%): its stable version 158 is what moves" in result.output
        assert pin_of(project, "uat", "document_tagging") == {
            "name": "document_tagging",
            "type": "model",
            "version": 158,
        }

    def test_the_target_keeps_its_own_canary(self, project: Path, cli) -> None:
        assert cli("canary", "start", "document_tagging", "152", "-s", "uat").exit_code == 0
        assert cli("promote", "integration").exit_code == 0
        assert pin_of(project, "uat", "document_tagging")["canary"]["version"] == 152

    def test_a_canary_that_becomes_stable_goes(self, project: Path, cli) -> None:
        assert cli("canary", "start", "document_tagging", "158", "-s", "uat").exit_code == 0
        assert cli("promote", "integration").exit_code == 0
        assert pin_of(project, "uat", "document_tagging") == {
            "name": "document_tagging",
            "type": "model",
            "version": 158,
        }


class TestValidation:
    def test_a_canary_of_an_unknown_version_is_one_line(self, project: Path) -> None:
        edit_stack(
            project,
            "uat",
            lambda c: c["mlops:components"][0].__setitem__("canary", {"version": 999, "weight": 10}),
        )
        with pytest.raises(
            ConfigError,
            match=r"mlops:components\[document_tagging\].canary.version: 'document_tagging' has no version 999",
        ):
            load_environment(project, "uat")

    def test_a_weight_out_of_range_is_refused(self, project: Path) -> None:
        edit_stack(
            project,
            "uat",
            lambda c: c["mlops:components"][0].__setitem__("canary", {"version": 158, "weight": 0}),
        )
        with pytest.raises(ConfigError, match=r"canary.weight"):
            load_environment(project, "uat")
