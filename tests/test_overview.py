"""`mlops status` without -s: one table, component by environment, along the promotion chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.overview import overview

from .conftest import edit_stack


@pytest.fixture()
def cli(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)


class TestOverview:
    """Each cell is version, label, short digest and replicas of that component in that stack."""

    def test_the_chain_orders_the_columns(self, project: Path) -> None:
        found = overview(project)
        assert found.stacks == ["integration", "uat", "production"]
        assert found.problems == []

    def test_cells_carry_version_label_digest_and_replicas(self, project: Path) -> None:
        rows = {row[0]: row for row in overview(project).rows}
        assert rows["document_tagging"] == [
            "document_tagging",
            "model",
            "158 v3 6a756cb9 x1",
            "154 v2 768c71ef x2",
            "151 v1 3ba48d8b x3",
        ]

    def test_a_component_missing_from_a_stack_is_a_dash(self, project: Path) -> None:
        edit_stack(
            project,
            "production",
            lambda c: c.__setitem__(
                "mlops:components", [p for p in c["mlops:components"] if p["name"] != "sentiment_analysis"]
            ),
        )
        rows = {row[0]: row for row in overview(project).rows}
        assert rows["sentiment_analysis"][-1] == "-"

    def test_a_stack_that_does_not_validate_is_named_not_hidden(self, project: Path, cli) -> None:
        edit_stack(project, "uat", lambda c: c.__setitem__("mlops:settings", {"replicas": 0}))
        result = cli("status")
        assert result.exit_code == 2
        assert "(invalid)" in result.output
        assert "invalid: Pulumi.uat.yaml: mlops:settings.replicas" in result.output

    def test_deployed_versions_that_differ_are_marked(self, project: Path) -> None:
        deployed = {"uat": {"document_tagging": {"version": 152}}, "integration": {}, "production": {}}
        rows = {row[0]: row for row in overview(project, deployed).rows}
        assert rows["document_tagging"][3] == "154 v2 768c71ef x2 (runs 152)"
        assert rows["document_tagging"][2].endswith("(not deployed)")

    def test_the_command_prints_one_table(self, cli) -> None:
        result = cli("status")
        assert result.exit_code == 0, result.output
        assert "integration" in result.output and "production" in result.output
        assert "158 v3 6a756cb9 x1" in result.output

    def test_challengers_come_last(self, cli, project: Path) -> None:
        assert cli("challenger", "create", "alice", "--from", "integration").exit_code == 0
        assert overview(project).stacks == ["integration", "uat", "production", "challenger-alice"]

    def test_outputs_file_needs_a_stack(self, cli, tmp_path: Path) -> None:
        result = cli("status", "--outputs-file", str(tmp_path / "o.json"))
        assert result.exit_code == 2 and "give -s STACK with it" in result.output
