"""Challengers: a full replica of an environment in its own namespace, owning no node pool and
copying no secret; listed with their drift; destroyed only when they are challengers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from spec.environment import load_environment

from .conftest import Runner, stack_config


@pytest.fixture()
def cli(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLOPS_USER", "alice")
    monkeypatch.setenv("PATH", "/nonexistent")  # no Pulumi CLI here: the commands must say so

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return invoke


class TestCreate:
    def test_replica_of_the_parent(self, project: Path, cli) -> None:
        result = cli("challenger", "create", "alice", "--from", "integration")
        assert result.exit_code == 0, result.output
        assert "pulumi stack init challenger-alice" in result.output
        parent, mine = stack_config(project, "integration"), stack_config(project, "challenger-alice")
        for key in ("mlops:cluster", "mlops:routing", "mlops:settings", "mlops:environment_config", "gcp:project"):
            assert mine[key] == parent[key], key
        assert mine["mlops:environment"] == {"promotes_to": "integration"}
        assert mine["mlops:challenger"]["parent"] == "integration" and mine["mlops:challenger"]["owner"] == "alice"
        assert mine["mlops:worker_groups"] == {"integration-pool": {"existing": True, "worker_type": "4-CPU-26GB-RAM"}}
        assert "mlops:api_key" not in mine
        text = (project / "Pulumi.challenger-alice.yaml").read_text()
        assert "secure" not in text
        pins = [(c.name, c.version.id) for c in load_environment(project, "challenger-alice").components]
        assert pins == [(c.name, c.version.id) for c in load_environment(project, "integration").components]

    def test_its_program_owns_no_node_pool_and_has_its_own_namespace(
        self, project: Path, cli, offline_engine: Runner
    ) -> None:
        cli("challenger", "create", "alice", "--from", "integration")
        run = offline_engine(project, "challenger-alice")
        assert not run.of_type("gcp:container/nodePool:NodePool")
        namespaces = [r.inputs["metadata"]["name"] for r in run.resources if r.kind == "Namespace"]
        assert namespaces == ["document-tagging-challenger-alice"]
        assert not any(r.protect for r in run.resources)
        # its own API key, generated in the program and kept secret
        assert run.of_type("random:index/randomPassword:RandomPassword")
        assert "api_key" in run.secret_outputs
        # its pods run on the parent's pool, selected by label, never by managing it
        for r in run.resources:
            if r.kind == "Deployment":
                assert r.inputs["spec"]["template"]["spec"]["nodeSelector"] == {
                    "mlops.dev/worker-group": "integration-pool"
                }

    def test_a_challenger_of_production_is_not_production(self, project: Path, cli, offline_engine: Runner) -> None:
        assert cli("challenger", "create", "hotfix", "--from", "production").exit_code == 0
        run = offline_engine(project, "challenger-hotfix")
        assert not run.of_type("gcp:container/nodePool:NodePool")
        assert not any(r.protect for r in run.resources)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["Bad_Name", "--from", "uat"], "must be lowercase letters, digits and '-'"),
            (["bob", "--from", "nope"], "Pulumi.nope.yaml: no such stack"),
        ],
    )
    def test_bad_names(self, project: Path, cli, args: list[str], message: str) -> None:
        result = cli("challenger", "create", *args)
        assert result.exit_code == 2
        assert message in result.output and len(result.output.strip().splitlines()) == 1

    def test_existing_name_is_refused(self, project: Path, cli) -> None:
        assert cli("challenger", "create", "alice", "--from", "uat").exit_code == 0
        before = (project / "Pulumi.challenger-alice.yaml").read_bytes()
        result = cli("challenger", "create", "alice", "--from", "integration")
        assert result.exit_code == 2 and "exists already" in result.output
        assert (project / "Pulumi.challenger-alice.yaml").read_bytes() == before


class TestListPromoteDestroy:
    def test_list_shows_drift_from_the_parent(self, project: Path, cli) -> None:
        cli("challenger", "create", "alice", "--from", "integration")
        cli("pin", "document_tagging", "v1", "-s", "challenger-alice", "--no-deploy", "--yes")
        result = cli("challenger", "list")
        assert result.exit_code == 0
        assert "alice" in result.output and "integration" in result.output and "1 pins" in result.output
        assert cli("challenger", "list", "--older-than", "1d").output.strip() == "No challengers."
        assert cli("challenger", "list", "--older-than", "0s", "--names").output.strip() == "alice"
        assert cli("challenger", "list", "--older-than", "soon").exit_code == 2

    def test_promote_a_challenger_into_its_parent(self, project: Path, cli) -> None:
        cli("challenger", "create", "alice", "--from", "integration")
        cli("pin", "sentiment_analysis", "v1", "-s", "challenger-alice", "--no-deploy", "--yes")
        result = cli("promote", "challenger-alice", "--no-deploy", "--yes")
        assert result.exit_code == 0, result.output
        assert load_environment(project, "integration").by_name["sentiment_analysis"].version.id == 201
        assert stack_config(project, "integration")["mlops:promoted_from"]["stack"] == "challenger-alice"
        # integration keeps its own secret
        assert "secure" in stack_config(project, "integration")["mlops:api_key"]

    @pytest.mark.parametrize("stack", ["integration", "uat", "production"])
    def test_destroy_refuses_environments_always(self, project: Path, cli, stack: str) -> None:
        for flags in ([], ["--config-only"]):
            result = cli("challenger", "destroy", stack, "--yes", *flags)
            assert result.exit_code == 2
            assert "is not a challenger" in result.output
            assert (project / f"Pulumi.{stack}.yaml").exists()

    def test_destroy_refuses_a_lookalike_stack(self, project: Path, cli) -> None:
        (project / "Pulumi.challenger-fake.yaml").write_text((project / "Pulumi.uat.yaml").read_text())
        result = cli("challenger", "destroy", "fake", "--yes", "--config-only")
        assert result.exit_code == 2 and "not a challenger" in result.output
        assert (project / "Pulumi.challenger-fake.yaml").exists()

    def test_destroy_without_a_cli_needs_config_only(self, project: Path, cli) -> None:
        cli("challenger", "create", "alice", "--from", "integration")
        refused = cli("challenger", "destroy", "alice", "--yes")
        assert refused.exit_code == 2 and "--config-only" in refused.output
        assert (project / "Pulumi.challenger-alice.yaml").exists()
        done = cli("challenger", "destroy", "alice", "--config-only", "--yes")
        assert done.exit_code == 0 and "Deployed resources, if any, remain" in done.output
        assert not (project / "Pulumi.challenger-alice.yaml").exists()
        assert cli("challenger", "list").output.strip() == "No challengers."
