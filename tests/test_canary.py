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

from .conftest import REPO, edit_stack, stack_config


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
            match=r"mlops:components\[document_tagging\].canary.version: no version 999 of 'document_tagging'",
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


def with_canary(project: Path, stack: str, canary: dict, component: str = "document_tagging") -> None:
    def change(config: dict) -> None:
        for pin in config["mlops:components"]:
            if pin["name"] == component:
                pin["canary"] = canary

    edit_stack(project, stack, change)


class TestRendered:
    """A pin with `canary: {version: 154, weight: 10, sticky: true}`: two Deployments by track, one
    HTTPRoute split 90/10 with header pinning, a cookie on the split."""

    @pytest.fixture()
    def run(self, project: Path):
        from .program_run import run_program

        with_canary(project, "integration", {"version": 154, "weight": 10, "sticky": True})
        return run_program(project, "integration")

    def objects(self, run, kind: str) -> dict:
        return {r.inputs["metadata"]["name"]: r.inputs for r in run.kubernetes_objects() if r.kind == kind}

    def test_two_deployments_labelled_by_track_and_version(self, run) -> None:
        deployments = self.objects(run, "Deployment")
        stable, canary = deployments["document-tagging"], deployments["document-tagging-canary"]
        assert stable["spec"]["template"]["metadata"]["labels"]["mlops.dev/track"] == "stable"
        assert canary["spec"]["template"]["metadata"]["labels"]["mlops.dev/track"] == "canary"
        assert canary["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "154"
        from spec.project import load_catalogue

        digest = load_catalogue(REPO)["document_tagging"].find_version(154).digest
        assert canary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f"@{digest}")
        # The two selectors never overlap: each Deployment owns only its own pods.
        assert stable["spec"]["selector"] != canary["spec"]["selector"]
        # The canary runs as the stable track's identity.
        assert canary["spec"]["template"]["spec"]["serviceAccountName"] == "document-tagging"

    def test_the_canary_carries_its_own_app_config(self, run) -> None:
        maps = self.objects(run, "ConfigMap")
        assert "document-tagging-canary-app-config-154" in maps
        assert "document-tagging-app-config-158" in maps

    def test_one_route_split_90_10_with_header_pinning(self, run) -> None:
        route = self.objects(run, "HTTPRoute")["document-tagging"]
        weighted, canary, stable = route["spec"]["rules"]
        assert [(b["name"], b["weight"]) for b in weighted["backendRefs"]] == [
            ("document-tagging", 90),
            ("document-tagging-canary", 10),
        ]
        assert canary["matches"][0]["headers"] == [{"type": "Exact", "name": "X-Mlops-Track", "value": "canary"}]
        assert [b["name"] for b in canary["backendRefs"]] == ["document-tagging-canary"]
        assert stable["matches"][0]["headers"][0]["value"] == "stable"

    def test_a_cookie_on_the_split_keeps_clients_on_their_track(self, run) -> None:
        """Sticky: a stateful affinity filter on the weighted rule only (the load balancer's GSSA
        cookie names the pod that answered first, so the split is decided once per client)."""
        [stickiness] = self.objects(run, "GCPSessionAffinityFilter").values()
        assert stickiness["spec"] == {"statefulGeneratedCookie": {"cookieTtlSeconds": 86400}}
        weighted, canary, stable = self.objects(run, "HTTPRoute")["document-tagging"]["spec"]["rules"]
        reference = {
            "group": "networking.gke.io",
            "kind": "GCPSessionAffinityFilter",
            "name": "document-tagging-sticky",
        }
        assert {"type": "ExtensionRef", "extensionRef": reference} in weighted["filters"]
        assert not [f for f in canary["filters"] + stable["filters"] if f["type"] == "ExtensionRef"]
        # No backend policy is needed for it: neither track has a rate limit here.
        assert not self.objects(run, "GCPBackendPolicy")

    def test_every_object_validates(self, run) -> None:
        import kubernetes_validate

        from .conftest import K8S_VERSION
        from .crd_validate import is_custom, validate_custom

        for obj in run.kubernetes_objects():
            if is_custom(obj.inputs):
                validate_custom(obj.inputs)
            else:
                kubernetes_validate.validate(obj.inputs, K8S_VERSION, strict=True)

    def test_plan_renders_what_the_program_declares(self, run, project: Path) -> None:
        from mlops.plan import masked, planned

        recorded = {(r.type, r.name): r for r in run.resources if r.custom}
        for obj in planned(load_environment(project, "integration")):
            program = recorded[(obj.type, obj.name)]
            if program.is_kubernetes_object:
                assert masked(obj) == masked(type(obj)(obj.type, obj.name, obj.group, program.inputs)), obj.name


class TestCanaryScale:
    def test_an_autoscaled_component_s_canary_autoscales_over_its_share(self, project: Path) -> None:
        """Production autoscales sentiment_analysis 3-6: a 25% canary gets 1-2 pods of its own
        autoscaler (never a fixed size the stable track's load could outgrow)."""
        from .program_run import run_program

        with_canary(project, "production", {"version": 205, "weight": 25, "sticky": False}, "sentiment_analysis")
        run = run_program(project, "production")
        scalers = {
            r.inputs["metadata"]["name"]: r.inputs["spec"]
            for r in run.kubernetes_objects()
            if r.kind == "HorizontalPodAutoscaler"
        }
        canary = scalers["sentiment-analysis-canary"]
        assert (canary["minReplicas"], canary["maxReplicas"]) == (1, 2)
        assert canary["scaleTargetRef"]["name"] == "sentiment-analysis-canary"
        [deployment] = [
            r.inputs
            for r in run.kubernetes_objects()
            if r.kind == "Deployment" and r.name.endswith("canary-deployment")
        ]
        assert "replicas" not in deployment["spec"]
        assert not [r for r in run.kubernetes_objects() if r.kind == "GCPSessionAffinityFilter"]  # not sticky


class TestMinimalChange:
    """A canary start, a weight change and an abort each change only that component's objects."""

    def changed_components(self, before, after) -> set[str]:
        def index(run):
            return {r.urn: r.inputs for r in run.resources}

        a, b = index(before), index(after)
        urns = {u for u in a.keys() | b.keys() if a.get(u) != b.get(u)}
        found = set()
        for urn in urns:
            name = urn.rsplit("::", 1)[1]
            found.add(
                next(
                    (c for c in ("document_tagging", "nlp_document_classifier", "sentiment_analysis") if c in name),
                    name,
                )
            )
        return found

    def test_start_weight_abort(self, project: Path) -> None:
        from .program_run import run_program

        before = run_program(project, "integration")
        with_canary(project, "integration", {"version": 154, "weight": 10, "sticky": True})
        started = run_program(project, "integration")
        assert self.changed_components(before, started) == {"document_tagging"}
        with_canary(project, "integration", {"version": 154, "weight": 40, "sticky": True})
        weighted = run_program(project, "integration")
        assert self.changed_components(started, weighted) == {"document_tagging"}
        edit_stack(project, "integration", lambda c: c["mlops:components"][0].pop("canary"))
        aborted = run_program(project, "integration")
        assert self.changed_components(weighted, aborted) == {"document_tagging"}
        assert self.changed_components(before, aborted) == set()


def test_status_shows_both_tracks_and_their_weights(project: Path, cli) -> None:
    from mlops.overview import overview

    assert cli("canary", "start", "document_tagging", "154", "--weight", "10", "-s", "integration").exit_code == 0
    rows = {row[0]: row for row in overview(project).rows}
    assert rows["document_tagging"][2] == "158 v3 6a756cb9 x1 90% + canary 154 768c71ef 10%"
    status = CliRunner().invoke(app, ["status", "-s", "integration"], catch_exceptions=False)
    assert "154 (v2) 10% (stable 90%), sticky" in status.output
