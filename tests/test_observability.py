"""Issue 13 in the rendered program: each component's PodMonitoring selects the pods of its own
Deployments (both canary tracks) and no other's, one Rules object per environment carries the
alerts with the layered thresholds and the named notification channel, and clusters without
Managed Prometheus get neither. Run through the real program on Pulumi's mocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from spec.environment import load_environment
from spec.errors import ConfigError

from .conftest import COMMITTED_STACKS, REPO, edit_stack, edit_yaml, stack_config
from .program_run import ProgramRun, run_program
from .test_stacks import by_kind

ALERTS = {"HighRequestRate", "HighErrorRatio", "CanaryErrorRatioAboveStable", "ContainerRestarting"}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def pod_labels(run: ProgramRun) -> dict[str, dict[str, str]]:
    """Deployment name -> the labels of the pods it makes."""
    return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in by_kind(run, "Deployment")}


def alerts_of(rules: dict[str, Any], component: str) -> dict[str, dict[str, Any]]:
    [group] = [g for g in rules["spec"]["groups"] if g["name"] == component.replace("_", "-")]
    return {r["alert"]: r for r in group["rules"] if "alert" in r}


@pytest.fixture(scope="module", params=COMMITTED_STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(REPO, request.param)


class TestCommittedStacks:
    def test_one_pod_monitoring_per_component_selecting_exactly_its_pods(self, run: ProgramRun) -> None:
        pins = [p["name"] for p in stack_config(REPO, run.stack)["mlops:components"]]
        monitors = by_kind(run, "PodMonitoring")
        assert sorted(m["metadata"]["name"] for m in monitors) == sorted(p.replace("_", "-") for p in pins)
        pods = pod_labels(run)
        for monitor in monitors:
            chosen = {name for name, labels in pods.items() if selects(monitor["spec"]["selector"], labels)}
            own = {
                name for name in pods if name in (monitor["metadata"]["name"], f"{monitor['metadata']['name']}-canary")
            }
            assert chosen == own, monitor["metadata"]["name"]
            assert monitor["spec"]["endpoints"][0]["port"] == "http"

    def test_one_rules_object_with_every_alert_for_every_component(self, run: ProgramRun) -> None:
        [rules] = by_kind(run, "Rules")
        assert rules["metadata"]["namespace"] == f"document-tagging-{run.stack}"
        for pin in stack_config(REPO, run.stack)["mlops:components"]:
            alerts = alerts_of(rules, pin["name"])
            assert set(alerts) == ALERTS
            assert all(a["labels"]["component"] == pin["name"] for a in alerts.values())
            assert "* 60 > 15" in alerts["HighRequestRate"]["expr"] and alerts["HighRequestRate"]["for"] == "2m"


class TestCanaryAndSettings:
    def test_the_canary_track_is_scraped_by_its_components_monitor(self, project: Path) -> None:
        def canary(config: dict[str, Any]) -> None:
            config["mlops:components"][0]["canary"] = {"version": 154, "weight": 10, "sticky": True}

        edit_stack(project, "integration", canary)
        run = run_program(project, "integration")
        [monitor] = [m for m in by_kind(run, "PodMonitoring") if m["metadata"]["name"] == "document-tagging"]
        pods = pod_labels(run)
        assert {n for n, labels in pods.items() if selects(monitor["spec"]["selector"], labels)} == {
            "document-tagging",
            "document-tagging-canary",
        }
        assert pods["document-tagging-canary"]["mlops.dev/track"] == "canary"

    def test_thresholds_layer_key_by_key_and_the_channel_labels_every_alert(self, project: Path) -> None:
        edit_yaml(
            project / "Pulumi.yaml",
            lambda p: p["config"]["mlops:settings"]["value"].update(alerts={"error_ratio": 0.1, "restarts": 7}),
        )

        def stack(config: dict[str, Any]) -> None:
            config["mlops:settings"]["alerts"] = {"restarts": 5}
            config["mlops:components"][1]["settings"] = {"alerts": {"client_requests_per_minute": 40}}
            config["mlops:environment_config"]["notification_channel"] = "ml-oncall"

        edit_stack(project, "integration", stack)
        env = load_environment(project, "integration")
        web = env.by_name["nlp_document_classifier"]
        assert (web.alerts.error_ratio, web.alerts.restarts, web.alerts.client_requests_per_minute) == (0.1, 5, 40)
        assert web.settings["alerts"].source == "component"
        [rules] = by_kind(run_program(project, "integration"), "Rules")
        web_alerts, model_alerts = alerts_of(rules, "nlp_document_classifier"), alerts_of(rules, "document_tagging")
        assert "> 40" in web_alerts["HighRequestRate"]["expr"] and "> 15" in model_alerts["HighRequestRate"]["expr"]
        assert (
            "> 0.1 " in model_alerts["HighErrorRatio"]["expr"] and "> 5" in model_alerts["ContainerRestarting"]["expr"]
        )
        for alerts in (web_alerts, model_alerts):
            assert {a["labels"]["notification_channel"] for a in alerts.values()} == {"ml-oncall"}

    def test_settings_set_alerts_from_the_command_line(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(project)
        result = CliRunner().invoke(app, ["settings", "set", "alerts", "{error_ratio: 0.2}", "-s", "uat"])
        assert result.exit_code == 0, result.output
        assert stack_config(project, "uat")["mlops:settings"]["alerts"] == {"error_ratio": 0.2}
        bad = CliRunner().invoke(app, ["settings", "set", "alerts", "{error_ratio: 2}", "-s", "uat"])
        assert bad.exit_code == 2 and "alerts.error_ratio" in bad.output, bad.output

    def test_a_notification_channel_that_is_not_a_name_is_one_line(self, project: Path) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:environment_config"].update(notification_channel={"x": 1}))
        with pytest.raises(ConfigError) as caught:
            load_environment(project, "uat")
        assert str(caught.value).startswith(
            "Pulumi.uat.yaml: mlops:environment_config.notification_channel: must be the name of the channel"
        )

    def test_a_cluster_without_managed_prometheus_gets_neither(self, project: Path) -> None:
        from .test_cluster import KIND_ROUTING as routing

        edit_stack(
            project,
            "integration",
            lambda c: c.update({"mlops:cluster": {"kubeconfig_context": "kind-mlops"}, "mlops:routing": routing}),
        )
        kinds = {obj.kind for obj in run_program(project, "integration").kubernetes_objects()}
        assert "Deployment" in kinds and not kinds & {"PodMonitoring", "Rules"}
