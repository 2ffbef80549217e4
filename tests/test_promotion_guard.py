"""Issue 10: promotion guarded by stack references (and its hotfix escape), the platform stack read
through a StackReference - all under Pulumi's mocks, StackReference outputs injected. (Images built
from source: test_source_builds.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spec.errors import ProgramError

from .conftest import edit_stack, stack_config
from .program_run import ORGANIZATION, ProgramRun, file_pins, run_program

PROJECT = "document-tagging"
UPSTREAM = f"{ORGANIZATION}/{PROJECT}/integration"
OWN = f"{ORGANIZATION}/{PROJECT}/uat"


def digest_of(root: Path, component: str, version: int) -> str:
    from spec.project import load_catalogue

    found = load_catalogue(root)[component].find_version(version)
    assert found is not None
    return found.digest


def pins_with(root: Path, stack: str, component: str, version: int) -> list[dict[str, Any]]:
    """The `pins` output of `stack` as if it had deployed `component` at `version`."""
    return [
        dict(p, version=version, digest=digest_of(root, component, version)) if p["name"] == component else p
        for p in file_pins(root, stack)
    ]


def run_uat_pinned(root: Path, version: int, upstream_pins: Any, own_pins: Any = "file") -> ProgramRun:
    """UAT with document_tagging pinned to `version`; integration deployed `upstream_pins`; UAT
    itself last deployed the pins of its stack file (154), unless `own_pins` says otherwise."""
    own = file_pins(root, "uat") if own_pins == "file" else own_pins
    edit_stack(
        root,
        "uat",
        lambda c: c.__setitem__(
            "mlops:components",
            [dict(p, version=version) if p["name"] == "document_tagging" else p for p in c["mlops:components"]],
        ),
    )
    outputs: dict[str, dict[str, Any]] = {}
    if upstream_pins is not None:
        outputs[UPSTREAM] = {"pins": upstream_pins}
    if own is not None:
        outputs[OWN] = {"pins": own}
    return run_program(root, "uat", stack_outputs=outputs)


def deployment_image(run: ProgramRun, component: str) -> str:
    found = [r for r in run.kubernetes_objects() if r.kind == "Deployment" and r.name == f"{component}-deployment"]
    assert len(found) == 1
    return found[0].inputs["spec"]["template"]["spec"]["containers"][0]["image"]


class TestPromotionGuard:
    """Integration runs document_tagging 158, UAT runs 154: UAT may move only to what integration runs."""

    def test_uat_runs_154_in_its_file(self, project: Path) -> None:
        pins = {p["name"]: p["version"] for p in stack_config(project, "uat")["mlops:components"]}
        assert pins["document_tagging"] in (154, "v2")

    def test_a_pin_the_upstream_runs_deploys(self, project: Path) -> None:
        upstream = pins_with(project, "integration", "document_tagging", 158)
        run = run_uat_pinned(project, 158, upstream)
        assert deployment_image(run, "document_tagging").endswith(digest_of(project, "document_tagging", 158))
        assert {k: v for k, v in run.outputs["pins"][0].items() if k != "digest"} == {
            "name": "document_tagging",
            "type": "model",
            "version": 158,
        }

    def test_a_pin_the_upstream_does_not_run_fails_naming_it(self, project: Path) -> None:
        upstream = pins_with(project, "integration", "document_tagging", 158)
        with pytest.raises(ProgramError) as raised:
            run_uat_pinned(project, 152, upstream)
        message = str(raised.value)
        assert "mlops:components[document_tagging].version" in message
        assert "would move to 152" in message and "'integration' runs 158" in message
        assert "mlops:promotion.unverified" in message

    def test_a_pin_the_stack_already_runs_deploys_after_the_upstream_moved_on(self, project: Path) -> None:
        upstream = pins_with(project, "integration", "document_tagging", 158)
        run = run_uat_pinned(project, 154, upstream)
        assert deployment_image(run, "document_tagging").endswith(digest_of(project, "document_tagging", 154))

    def test_the_hotfix_escape_lets_a_pin_through(self, project: Path) -> None:
        edit_stack(project, "uat", lambda c: c.__setitem__("mlops:promotion", {"unverified": ["document_tagging"]}))
        upstream = pins_with(project, "integration", "document_tagging", 158)
        run = run_uat_pinned(project, 152, upstream)
        assert deployment_image(run, "document_tagging").endswith(digest_of(project, "document_tagging", 152))

    def test_a_digest_the_upstream_does_not_run_fails(self, project: Path) -> None:
        """Same id, other digest (a rebuilt version somewhere): not what the upstream runs."""
        upstream = [
            dict(p, digest="sha256:" + "0" * 64) for p in pins_with(project, "integration", "document_tagging", 158)
        ]
        with pytest.raises(ProgramError, match=r"document_tagging.*runs 158"):
            run_uat_pinned(project, 158, upstream)

    def test_an_upstream_without_outputs_is_a_clear_message(self, project: Path) -> None:
        with pytest.raises(ProgramError, match=r"acme/document-tagging/integration has no pins output yet.*deploy"):
            run_uat_pinned(project, 158, None)

    def test_a_first_deployment_moves_every_pin_so_all_must_be_upstreams(self, project: Path) -> None:
        upstream = file_pins(project, "uat")  # integration runs exactly what UAT's file pins
        run = run_uat_pinned(project, 154, upstream, own_pins=None)
        assert len(run.outputs["pins"]) == 3
        with pytest.raises(ProgramError, match=r"nlp_document_classifier"):
            run_uat_pinned(project, 154, file_pins(project, "integration")[:1], own_pins=None)

    def test_an_unverified_name_that_is_not_pinned_is_refused(self, project: Path) -> None:
        edit_stack(project, "uat", lambda c: c.__setitem__("mlops:promotion", {"unverified": ["nope"]}))
        with pytest.raises(ProgramError, match=r"mlops:promotion.unverified: 'nope' is not pinned"):
            run_program(project, "uat")


PLATFORM = "acme/platform/shared"
PLATFORM_OUTPUTS = {
    "cluster_name": "ml-shared",
    "cluster_location": "europe-west2",
    "cluster_project": "acme-ml-platform",
    "cluster_endpoint": "203.0.113.20",
    "cluster_ca_certificate": "Q0EK",
    "registry": "europe-west2-docker.pkg.dev/acme-ml-platform/ml",
    "registry_host": "europe-west2-docker.pkg.dev",
    "artifact_bucket": "acme-ml-artifacts",
    "node_service_account": "ml-nodes@acme-ml-platform.iam.gserviceaccount.com",
}


def use_platform(root: Path, stack: str) -> None:
    def change(config: dict[str, Any]) -> None:
        del config["mlops:cluster"]
        config["mlops:platform"] = PLATFORM

    edit_stack(root, stack, change)


class TestPlatformReference:
    """An environment with mlops:platform reads cluster, registry and node identity through a StackReference."""

    def test_node_pools_join_the_platforms_cluster_as_its_service_account(self, project: Path) -> None:
        use_platform(project, "integration")
        run = run_program(project, "integration", stack_outputs={PLATFORM: PLATFORM_OUTPUTS})
        [reference] = [r for r in run.resources if r.type == "pulumi:pulumi:StackReference"]
        assert reference.inputs["name"] == PLATFORM
        pools = run.of_type("gcp:container/nodePool:NodePool")
        assert pools
        for pool in pools:
            assert pool.inputs["cluster"] == "ml-shared" and pool.inputs["location"] == "europe-west2"
            assert pool.inputs["project"] == "acme-ml-platform"
            assert pool.inputs["nodeConfig"]["serviceAccount"] == PLATFORM_OUTPUTS["node_service_account"]

    def test_the_kubernetes_provider_reaches_the_platforms_cluster(self, project: Path) -> None:
        use_platform(project, "integration")
        run = run_program(project, "integration", stack_outputs={PLATFORM: PLATFORM_OUTPUTS})
        [provider] = run.of_type("pulumi:providers:kubernetes")
        assert "https://203.0.113.20" in provider.inputs["kubeconfig"]
        assert "gke-gcloud-auth-plugin" in provider.inputs["kubeconfig"]
        assert not [c for c in run.calls if c[0] == "gcp:container/getCluster:getCluster"]

    def test_a_missing_platform_output_stops_the_run(self, project: Path) -> None:
        use_platform(project, "integration")
        partial = {k: v for k, v in PLATFORM_OUTPUTS.items() if k != "node_service_account"}
        with pytest.raises(Exception, match="node_service_account"):
            run_program(project, "integration", stack_outputs={PLATFORM: partial})

    def test_platform_and_cluster_together_are_refused(self, project: Path) -> None:
        edit_stack(project, "integration", lambda c: c.__setitem__("mlops:platform", PLATFORM))
        with pytest.raises(ProgramError, match=r"give mlops:platform or mlops:cluster, not both"):
            run_program(project, "integration")

    def test_a_bad_platform_name_is_one_line(self, project: Path) -> None:
        use_platform(project, "integration")
        edit_stack(project, "integration", lambda c: c.__setitem__("mlops:platform", "shared"))
        with pytest.raises(ProgramError, match=r"mlops:platform: 'shared' is not a stack name"):
            run_program(project, "integration")


class TestHotfixEscape:
    """`mlops pin --unverified` records the escape; the next promotion ends it."""

    @pytest.fixture()
    def cli(self, project: Path, monkeypatch: pytest.MonkeyPatch):
        from typer.testing import CliRunner

        from mlops.cli import app

        monkeypatch.chdir(project)
        return lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)

    def test_pin_unverified_writes_the_escape_and_logs_it(self, project: Path, cli) -> None:
        from mlops.history import records

        deployed = file_pins(project, "uat")  # UAT runs 154
        result = cli("pin", "document_tagging", "152", "-s", "uat", "--unverified", "--no-deploy", "--yes")
        assert result.exit_code == 0, result.output
        assert stack_config(project, "uat")["mlops:promotion"] == {"unverified": ["document_tagging"]}
        assert records(project, "uat")[-1]["source"] == {
            "component": "document_tagging",
            "version": 152,
            "unverified": True,
        }
        # ... and the program lets it through although integration runs 158
        upstream = pins_with(project, "integration", "document_tagging", 158)
        run = run_program(project, "uat", stack_outputs={UPSTREAM: {"pins": upstream}, OWN: {"pins": deployed}})
        assert deployment_image(run, "document_tagging").endswith(digest_of(project, "document_tagging", 152))

    def test_a_promotion_ends_the_escape(self, project: Path, cli) -> None:
        assert cli("pin", "document_tagging", "152", "-s", "uat", "--unverified", "--no-deploy", "--yes").exit_code == 0
        result = cli("promote", "integration", "--no-deploy", "--yes")
        assert result.exit_code == 0, result.output
        assert "mlops:promotion" not in stack_config(project, "uat")

    def test_unverified_needs_an_upstream(self, cli) -> None:
        result = cli("pin", "document_tagging", "152", "-s", "integration", "--unverified", "--no-deploy", "--yes")
        assert result.exit_code == 2 and "no guard to pass" in result.output


def test_a_rollback_passes_the_guard(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Smoke tests failed after a promotion: going back to versions the upstream no longer runs is
    let through (and recorded), so the automatic rollback can deploy."""
    from typer.testing import CliRunner

    from mlops.cli import app
    from mlops.history import records

    monkeypatch.chdir(project)
    invoke = lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)  # noqa: E731
    assert invoke("promote", "integration", "--no-deploy", "--yes").exit_code == 0
    promoted = file_pins(project, "uat")  # what UAT runs after the promotion's pulumi up
    result = invoke("rollback", "-s", "uat", "--no-deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert stack_config(project, "uat")["mlops:promotion"]["unverified"] == [
        "document_tagging",
        "nlp_document_classifier",
        "sentiment_analysis",
    ]
    assert records(project, "uat")[-1]["source"]["unverified"]
    upstream = file_pins(project, "integration")
    run = run_program(project, "uat", stack_outputs={UPSTREAM: {"pins": upstream}, OWN: {"pins": promoted}})
    assert deployment_image(run, "document_tagging").endswith(digest_of(project, "document_tagging", 154))
