"""Issue 12, autoscaling: `autoscale: {min, max, cpu_target_percent}` is a layered setting, one choice
with `replicas` (never both at one level, the more specific level wins); it renders a
HorizontalPodAutoscaler and a Deployment without `replicas`; production never goes below 2 pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from mlops.cli import app
from mlops.overview import overview
from spec.environment import load_environment, resolve_settings
from spec.errors import ConfigError
from spec.settings import Autoscale, Settings

from .conftest import K8S_VERSION, REPO, Runner, edit_stack, edit_yaml, set_pin_settings, stack_config
from .program_run import ProgramRun, run_program

A = {"min": 3, "max": 6, "cpu_target_percent": 70}
B = {"min": 2, "max": 4, "cpu_target_percent": 50}
P, E, C = "project", "environment", "component"


def min_pods(run: ProgramRun, deployment: dict[str, Any]) -> int:
    """A Deployment's fixed replicas, or the minimum of the autoscaler that owns its count."""
    scalers = {
        r.inputs["spec"]["scaleTargetRef"]["name"]: r.inputs["spec"]
        for r in run.kubernetes_objects()
        if r.kind == "HorizontalPodAutoscaler"
    }
    return deployment["spec"].get("replicas") or scalers[deployment["metadata"]["name"]]["minReplicas"]


def objects(run: ProgramRun, kind: str) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in run.kubernetes_objects() if r.kind == kind}


# (project, environment, component) -> (replicas, its level), (autoscale, its level)
CASES = [
    ({}, {}, {"autoscale": A}, (None, C), (A, C)),
    ({"autoscale": A}, {}, {}, (None, P), (A, P)),
    ({}, {"autoscale": A}, {}, (None, E), (A, E)),
    ({"autoscale": A}, {"replicas": 3}, {}, (3, E), (None, E)),
    ({"replicas": 3}, {"autoscale": A}, {}, (None, E), (A, E)),
    ({}, {"autoscale": A}, {"replicas": 4}, (4, C), (None, C)),
    ({}, {"replicas": 3}, {"autoscale": B}, (None, C), (B, C)),
    ({"autoscale": A}, {"autoscale": B}, {}, (None, E), (B, E)),
    ({"autoscale": A}, {}, {"autoscale": B}, (None, C), (B, C)),
    ({"replicas": 4}, {}, {}, (4, P), (None, "built-in")),
    ({}, {}, {}, (2, "built-in"), (None, "built-in")),
]


class TestLayering:
    """The most specific level wins between replicas and autoscale, whichever key it sets."""

    @pytest.mark.parametrize(("project", "environment", "component", "replicas", "autoscale"), CASES)
    def test_layering_table(self, project, environment, component, replicas, autoscale) -> None:
        resolved = resolve_settings(Settings(**project), Settings(**environment), Settings(**component))
        value = resolved["autoscale"].value
        assert (resolved["replicas"].value, resolved["replicas"].source) == replicas
        assert (value.model_dump() if value else None, resolved["autoscale"].source) == autoscale

    def test_both_at_one_level_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="replicas and autoscale are both set here"):
            Settings(replicas=2, autoscale=A)

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            ({"min": 7, "max": 6, "cpu_target_percent": 70}, "min 7 is above max 6"),
            ({"min": 0, "max": 6, "cpu_target_percent": 70}, "greater than or equal to 1"),
            ({"min": 2, "max": 501, "cpu_target_percent": 70}, "less than or equal to 500"),
            ({"min": 2, "max": 6, "cpu_target_percent": 101}, "less than or equal to 100"),
            ({"min": "2", "max": 6, "cpu_target_percent": 70}, "valid integer"),
        ],
    )
    def test_bounds(self, bad: dict, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            Autoscale(**bad)

    @pytest.mark.parametrize(
        ("change", "key"),
        [
            (lambda c: c["mlops:settings"].update(autoscale=A), "mlops:settings"),
            (
                set_pin_settings("document_tagging", replicas=2, autoscale=A),
                "mlops:components[document_tagging].settings",
            ),
        ],
    )
    def test_both_in_a_stack_file_is_one_line_naming_the_key(self, project: Path, change, key: str) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:settings"].update(replicas=2))
        edit_stack(project, "uat", change)
        with pytest.raises(ConfigError) as caught:
            load_environment(project, "uat")
        [problem] = caught.value.problems
        assert (problem.file, problem.key) == ("Pulumi.uat.yaml", key)
        assert "remove one of the two" in problem.message

    def test_project_level_autoscale_reaches_the_components_the_stack_does_not_scale(self, project: Path) -> None:
        edit_yaml(
            project / "Pulumi.yaml", lambda d: d["config"]["mlops:settings"].__setitem__("value", {"autoscale": A})
        )
        env = load_environment(project, "uat")
        assert {c.name: (c.replicas, c.autoscale is not None) for c in env.components} == {
            "document_tagging": (None, True),
            "nlp_document_classifier": (None, True),
            "sentiment_analysis": (None, True),
        }
        # integration's environment level sets replicas: 1, which beats the project's autoscale
        assert {c.autoscale for c in load_environment(project, "integration").components} == {None}


class TestRendered:
    """An autoscaled component: an autoscaler for its Deployment, which leaves replicas out."""

    @pytest.fixture(scope="class")
    def run(self) -> ProgramRun:
        return run_program(REPO, "production")

    def test_committed_production_autoscales_sentiment_analysis(self, run: ProgramRun) -> None:
        [pin] = [p for p in stack_config(REPO, "production")["mlops:components"] if p["name"] == "sentiment_analysis"]
        scale = pin["settings"]["autoscale"]
        [scaler] = objects(run, "HorizontalPodAutoscaler").values()
        deployment = objects(run, "Deployment")["sentiment-analysis"]
        assert scaler["metadata"]["name"] == "sentiment-analysis"
        assert scaler["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "sentiment-analysis",
        }
        assert (scaler["spec"]["minReplicas"], scaler["spec"]["maxReplicas"]) == (scale["min"], scale["max"])
        assert scaler["spec"]["metrics"] == [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": scale["cpu_target_percent"]},
                },
            }
        ]
        assert scaler["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
        assert "replicas" not in deployment["spec"]
        kubernetes_validate.validate(scaler, K8S_VERSION, strict=True)

    def test_fixed_components_keep_replicas_and_get_no_autoscaler(self, run: ProgramRun) -> None:
        deployments = objects(run, "Deployment")
        assert deployments["nlp-document-classifier"]["spec"]["replicas"] == 4
        assert deployments["document-tagging"]["spec"]["replicas"] == 3
        assert list(objects(run, "HorizontalPodAutoscaler")) == ["sentiment-analysis"]

    def test_the_autoscaler_follows_the_deployment_and_the_cpu_it_requests(self, run: ProgramRun) -> None:
        [scaler] = run.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
        assert (scaler.name, scaler.parent) == ("sentiment_analysis-autoscaler", "sentiment_analysis")
        container = objects(run, "Deployment")["sentiment-analysis"]["spec"]["template"]["spec"]["containers"][0]
        assert "cpu" in container["resources"]["requests"]  # Utilization is a share of the request

    def test_a_minimum_of_two_keeps_the_budget_and_the_zone_spread(self, run: ProgramRun) -> None:
        assert "sentiment-analysis" in objects(run, "PodDisruptionBudget")
        spread = objects(run, "Deployment")["sentiment-analysis"]["spec"]["template"]["spec"]
        keys = [c["topologyKey"] for c in spread["topologySpreadConstraints"]]
        assert keys.count("topology.kubernetes.io/zone") == 1

    def test_a_minimum_of_one_has_neither(self, project: Path, offline_engine: Runner) -> None:
        edit_stack(project, "integration", set_pin_settings("document_tagging", autoscale={**A, "min": 1}))
        run = offline_engine(project, "integration")
        assert "document-tagging" not in objects(run, "PodDisruptionBudget")
        pod = objects(run, "Deployment")["document-tagging"]["spec"]["template"]["spec"]
        assert "topologySpreadConstraints" not in pod
        assert objects(run, "HorizontalPodAutoscaler")["document-tagging"]["spec"]["minReplicas"] == 1


class TestProduction:
    """The end of the chain never scales below 2 pods, wherever the minimum is set."""

    @pytest.mark.parametrize(
        ("change", "key"),
        [
            (
                set_pin_settings("sentiment_analysis", autoscale={**A, "min": 1}),
                "mlops:components[sentiment_analysis].settings.autoscale",
            ),
            (
                lambda c: c.__setitem__(
                    "mlops:settings", {"worker_group": "production-pool", "autoscale": {**A, "min": 1}}
                ),
                "mlops:settings.autoscale",
            ),
        ],
    )
    def test_min_below_two_is_refused(self, project: Path, change, key: str) -> None:
        edit_stack(project, "production", change)
        with pytest.raises(ConfigError) as caught:
            load_environment(project, "production")
        problem = next(p for p in caught.value.problems if p.key == key)
        assert "would autoscale down to 1 pod" in problem.message and "needs at least 2 pods" in problem.message
        assert f"set {key}.min: 2 or more" in problem.message

    def test_min_two_is_allowed(self, project: Path) -> None:
        edit_stack(project, "production", set_pin_settings("sentiment_analysis", autoscale={**A, "min": 2}))
        assert load_environment(project, "production").by_name["sentiment_analysis"].min_pods == 2


class TestMinimalChange:
    """Changing one component's autoscaling touches only that component's objects."""

    def test_changing_the_range_changes_only_its_autoscaler(self, project: Path, offline_engine: Runner) -> None:
        before = {r.urn: r.inputs for r in offline_engine(project, "production").resources}
        edit_stack(project, "production", set_pin_settings("sentiment_analysis", autoscale={**A, "max": 9}))
        after = {r.urn: r.inputs for r in offline_engine(project, "production").resources}
        assert before.keys() == after.keys()
        assert [u for u in after if before[u] != after[u]] == [
            u for u in after if u.endswith("HorizontalPodAutoscaler::sentiment_analysis-autoscaler")
        ]

    def test_switching_to_autoscale_touches_only_that_component(self, project: Path, offline_engine: Runner) -> None:
        before = {r.urn: r for r in offline_engine(project, "uat").resources}
        edit_stack(project, "uat", set_pin_settings("document_tagging", autoscale=A))
        after = {r.urn: r for r in offline_engine(project, "uat").resources}
        changed = {u for u in before.keys() | after.keys() if u not in before or u not in after}
        changed |= {u for u in before.keys() & after.keys() if before[u].inputs != after[u].inputs}
        assert changed and all(u.rsplit("::", 1)[-1].startswith("document_tagging-") for u in changed)
        # (it already had two replicas, so its disruption budget stays as it was)
        assert {u.rsplit("::", 1)[-1] for u in changed} == {
            "document_tagging-deployment",
            "document_tagging-autoscaler",
        }


class TestTooling:
    """`mlops settings` sets and inherits autoscale; the status table shows the range."""

    @pytest.fixture()
    def cli(self, project: Path, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.chdir(project)
        return lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)

    def test_set_and_inherit_at_the_component_level(self, project: Path, cli) -> None:
        result = cli(
            "settings",
            "set",
            "autoscale",
            "{min: 2, max: 5, cpu_target_percent: 60}",
            "-s",
            "uat",
            "--component",
            "document_tagging",
        )
        assert result.exit_code == 0, result.output
        [pin] = [p for p in stack_config(project, "uat")["mlops:components"] if p["name"] == "document_tagging"]
        assert pin["settings"] == {"autoscale": {"min": 2, "max": 5, "cpu_target_percent": 60}}
        rows = {row[0]: row for row in overview(project).rows}
        assert rows["document_tagging"][2:] == ["158 v3 6a756cb9 x1", "154 v2 768c71ef x2-5", "151 v1 3ba48d8b x3"]
        assert cli("settings", "inherit", "autoscale", "-s", "uat", "--component", "document_tagging").exit_code == 0
        assert load_environment(project, "uat").by_name["document_tagging"].replicas == 2

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["set", "autoscale", "three", "-s", "uat"], "'three' is not a mapping"),
            (["set", "autoscale", "{min: 3, max: 2, cpu_target_percent: 70}", "-s", "uat"], "min 3 is above max 2"),
            (["set", "autoscale", "{min: 3, max: 4}", "-s", "uat"], "autoscale.cpu_target_percent: required key"),
            (
                [
                    "set",
                    "autoscale",
                    "{min: 1, max: 4, cpu_target_percent: 70}",
                    "-s",
                    "production",
                    "--component",
                    "sentiment_analysis",
                ],
                "at least 2 pods",
            ),
            (["set", "autoscale", "{min: 2, max: 4, cpu_target_percent: 70}", "-s", "production"], "both set here"),
        ],
    )
    def test_bad_values_are_one_line_and_write_nothing(self, project: Path, cli, args: list[str], message: str) -> None:
        files = {p: p.read_bytes() for p in project.glob("Pulumi*.yaml")}
        result = cli("settings", *args)
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert {p: p.read_bytes() for p in files} == files
