"""Bad input through the program (as `pulumi up` would show it: one line, before anything is
declared) and through the CLI (`mlops validate`: exit 2, one line, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from spec.environment import load_environment
from spec.errors import ProgramError

from .bad_input_helpers import pin, set_key
from .conftest import Runner, edit_stack


class TestThroughTheProgram:
    """The same mistakes stop `pulumi up` before anything is declared, with the same one line."""

    def test_misspelt_key_stops_the_program(self, project: Path, offline_engine: Runner) -> None:
        edit_stack(project, "uat", pin("document_tagging", versoin=1))
        with pytest.raises(ProgramError) as caught:
            offline_engine(project, "uat")
        assert str(caught.value) == (
            "Pulumi.uat.yaml: mlops:components[document_tagging].versoin: unknown key (did you mean 'version'?); "
            "allowed keys: name, type, version, settings, canary"
        )

    def test_a_value_that_is_not_structured_stops_the_program(self, project: Path, offline_engine: Runner) -> None:
        """Config is read with `pulumi.Config.get_object`: a plain string where a mapping belongs
        is one line, never a guess."""
        with pytest.raises(ProgramError) as caught:
            offline_engine(project, "uat", {"mlops:cluster": "ml-platform"})
        assert str(caught.value) == (
            "Pulumi.uat.yaml: mlops:cluster: is not structured data: write it as a YAML mapping"
        )

    def test_a_string_of_json_is_not_parsed_as_an_object(self, project: Path, offline_engine: Runner) -> None:
        """The environment config arrives as the CLI hands it; a string value that looks like JSON
        stays a string inside it."""
        run = offline_engine(project, "uat", {"mlops:environment_config": {"banner": '{"a": 1}'}})
        (config,) = [r for r in run.kubernetes_objects() if r.name == "uat-environment-config"]
        assert '"banner": "{\\"a\\": 1}"' in config.inputs["data"]["environment_config.yaml"]

    def test_production_rule_stops_the_program(self, project: Path, offline_engine: Runner) -> None:
        edit_stack(project, "production", pin("sentiment_analysis", settings={"replicas": 1}))
        with pytest.raises(ProgramError, match=r"^Pulumi\.production\.yaml: .*needs replicas >= 2"):
            offline_engine(project, "production")


class TestThroughTheCli:
    def test_validate_exits_2_with_one_line_and_no_traceback(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        edit_stack(project, "uat", pin("sentiment_analysis", version=999))
        monkeypatch.chdir(project / "config")  # the project is found by walking up
        result = CliRunner().invoke(app, ["validate", "-s", "uat"])
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Pulumi.uat.yaml: mlops:components[sentiment_analysis].version:")

    def test_validate_passes_on_the_committed_project(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(project)
        result = CliRunner().invoke(app, ["validate"])
        assert result.exit_code == 0, result.output
        assert result.output.count("ok: ") == 3

    def test_validate_checks_the_chain_across_stacks(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The program reads no other stack's file; `mlops validate` checks the chain."""
        edit_stack(project, "integration", set_key("mlops:environment", {"promotes_to": "uta"}))
        load_environment(project, "integration")  # valid on its own
        monkeypatch.chdir(project)
        result = CliRunner().invoke(app, ["validate"])
        assert result.exit_code == 2
        assert result.output.strip().splitlines()[0] == (
            "Pulumi.integration.yaml: mlops:environment.promotes_to: no stack 'uta' (Pulumi.uta.yaml not found) "
            "(did you mean 'uat'?); use one of: production, uat"
        )
        edit_stack(project, "integration", set_key("mlops:environment", {"promotes_to": "uat"}))
        edit_stack(project, "production", set_key("mlops:environment", {"promotes_to": "integration"}))
        result = CliRunner().invoke(app, ["validate"])
        assert result.exit_code == 2
        assert "the chain loops (integration -> uat -> production -> integration)" in result.output

    def test_unknown_stack(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(project)
        result = CliRunner().invoke(app, ["validate", "-s", "prod"])
        assert result.exit_code == 2
        assert (
            result.output.strip()
            == "unknown stack 'prod' (did you mean 'production'?): use one of integration, production, uat"
        )

    def test_outside_a_project(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(app, ["validate"])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "no Pulumi.yaml here or in any parent directory" in lines[0]
