"""Issue 11: worker group sizes are nodes in the whole pool; nodes run as their own service
account; a worker group belongs to one environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from components.node_pools import WorkerGroupArgs, node_pool
from mlops.cli import app
from spec.environment import load_environment
from spec.errors import ConfigError

from .conftest import COMMITTED_STACKS, REPO, edit_stack, stack_config

BASE = {"cluster": "ml", "location": "europe-west2", "gcp_project": "acme", "worker_type": "4-CPU-26GB-RAM"}
SA = "ml-nodes@acme.iam.gserviceaccount.com"


def pool(**overrides) -> dict:
    return node_pool("pool", WorkerGroupArgs(**{**BASE, "service_account": SA, **overrides}))[0]


class TestTotals:
    """GKE reads node_count and initial_node_count per zone, total_*_node_count as totals."""

    def test_a_regional_autoscaling_pool_uses_total_counts(self) -> None:
        inputs = pool(min_size=3, max_size=6)
        assert inputs["autoscaling"] == {
            "total_min_node_count": 3,
            "total_max_node_count": 6,
            "location_policy": "BALANCED",
        }
        assert inputs["initial_node_count"] == 1  # one per zone: 3 in all, the minimum

    def test_a_fixed_size_is_divided_across_the_zones(self) -> None:
        assert pool(size=6)["node_count"] == 2
        assert pool(size=2, zones=["europe-west2-a", "europe-west2-b"])["node_count"] == 1

    def test_the_listed_zones_become_node_locations(self) -> None:
        assert pool(size=2, zones=["europe-west2-a", "europe-west2-b"])["node_locations"] == [
            "europe-west2-a",
            "europe-west2-b",
        ]
        assert "node_locations" not in pool(size=3)

    def test_a_zonal_cluster_counts_one_zone(self) -> None:
        assert pool(size=2, regional=False)["node_count"] == 2
        assert pool(min_size=1, max_size=4, regional=False)["initial_node_count"] == 1

    def test_a_size_that_does_not_divide_is_refused_by_the_builder(self) -> None:
        with pytest.raises(ValueError, match=r"size 2 does not divide across the pool's 3 zones"):
            pool(size=2)

    def test_nodes_run_as_the_given_service_account_with_the_metadata_server(self) -> None:
        inputs = pool(size=3)
        assert inputs["node_config"]["service_account"] == SA
        assert inputs["node_config"]["workload_metadata_config"] == {"mode": "GKE_METADATA"}


class TestStackFiles:
    """The same rules, as one line naming the stack file and the key."""

    def test_a_fixed_size_that_does_not_divide_is_one_line(self, project: Path) -> None:
        edit_stack(project, "integration", lambda c: c["mlops:worker_groups"]["integration-pool"].pop("zones"))
        with pytest.raises(ConfigError) as raised:
            load_environment(project, "integration")
        assert str(raised.value) == (
            "Pulumi.integration.yaml: mlops:worker_groups.integration-pool.size: 2 nodes do not divide across the "
            "pool's 3 zones (GKE runs as many in each): use 3, list the zones: to use, or give min_size and max_size"
        )

    def test_a_zonal_cluster_takes_any_size(self, project: Path) -> None:
        def zonal(config: dict) -> None:
            config["mlops:cluster"]["location"] = "europe-west2-a"
            config["mlops:worker_groups"]["integration-pool"].pop("zones")

        edit_stack(project, "integration", zonal)
        assert load_environment(project, "integration").worker_groups["integration-pool"].size == 2

    def test_owned_pools_need_a_node_service_account(self, project: Path) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:cluster"].pop("node_service_account"))
        with pytest.raises(ConfigError, match=r"mlops:cluster.node_service_account: owned worker groups need"):
            load_environment(project, "uat")

    def test_a_bad_service_account_is_refused(self, project: Path) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:cluster"].__setitem__("node_service_account", "default"))
        with pytest.raises(ConfigError, match=r"'default' is not a service account email"):
            load_environment(project, "uat")

    def test_a_worker_group_owned_by_two_stacks_is_refused(self, project: Path, monkeypatch) -> None:
        edit_stack(
            project,
            "uat",
            lambda c: (
                c.__setitem__(
                    "mlops:worker_groups",
                    {"integration-pool": {"worker_type": "4-CPU-26GB-RAM", "min_size": 1, "max_size": 3}},
                )
                or c.__setitem__("mlops:settings", {"worker_group": "integration-pool"})
            ),
        )
        monkeypatch.chdir(project)
        result = CliRunner().invoke(app, ["validate"], catch_exceptions=False)
        assert result.exit_code == 2
        assert (
            "Pulumi.uat.yaml: mlops:worker_groups.integration-pool: 'integration' owns a worker group "
            "'integration-pool' on the same cluster" in result.output
        )

    def test_status_and_plan_show_nodes_and_machine_types(self, project: Path, monkeypatch) -> None:
        monkeypatch.chdir(project)
        monkeypatch.setenv("COLUMNS", "200")
        status = CliRunner().invoke(app, ["status", "-s", "production"], catch_exceptions=False)
        assert "production-pool" in status.output and "n2d-highmem-8" in status.output
        assert "3 to 6 (autoscaling)" in status.output
        plan = CliRunner().invoke(
            app, ["plan", "-s", "integration", "--out", str(project / "p")], catch_exceptions=False
        )
        assert "2 (1 per zone)" in plan.output and "europe-west2-a, europe-west2-b" in plan.output


def test_production_has_its_own_worker_group() -> None:
    production = set(stack_config(REPO, "production")["mlops:worker_groups"])
    others = set().union(*(stack_config(REPO, s)["mlops:worker_groups"] for s in COMMITTED_STACKS if s != "production"))
    assert production and not production & others
