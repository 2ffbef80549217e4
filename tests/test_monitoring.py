"""Issue 13: the Managed Prometheus objects (one PodMonitoring per component, one Rules object per
environment) and the canary dashboard: valid against their CRD schemas, selecting the right pods,
and reading only metrics the apps really serve (taken from the apps' own metrics code)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from typing import Any

import promql_parser
import pytest
from mlops_runtime import Identity
from mlops_runtime.service import Feedback, ModelMetrics, ServiceMetrics
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from components.labels import ENVIRONMENT_LABEL
from components.manifests import TRACK_LABEL, ComponentServiceArgs, deployment
from components.monitoring import (
    COMPONENT_LABEL,
    METRICS_PORT,
    NOT_TRAFFIC_ROUTES,
    RECORDED_METRICS,
    RESTART_METRIC,
    AlertThresholds,
    MonitoredComponent,
    alert_rules,
    pod_monitoring,
)

from .conftest import REPO
from .crd_validate import validate_custom

NAMESPACE = "document-tagging-integration"
ENV = "integration"
LABELS = {"app.kubernetes.io/part-of": "document-tagging", "app.kubernetes.io/managed-by": "pulumi"}
TAGGING = MonitoredComponent("document_tagging", "document-tagging")
SENTIMENT = MonitoredComponent("sentiment_analysis", "sentiment-analysis")
# Added to every scraped series by Managed Prometheus (PodMonitoring's default metadata labels).
TARGET_LABELS = {"namespace", "pod", "container"}
# GKE's managed kube-state-metrics series of container restarts.
KUBE_STATE_LABELS = {"namespace", "pod", "container", "uid"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@cache
def served() -> dict[str, frozenset[str]]:
    """Every series name the apps expose, with its label names, from the apps' metrics code."""
    identity = Identity("p", ENV, "c", "model", "1", "", "stable", False)
    metrics = ServiceMetrics(identity, callers=frozenset({"web"}))
    model = ModelMetrics(metrics)
    route = {**metrics.identity, "method": "POST", "route": "/predict"}
    metrics.requests.labels(**route, status="200", caller="external").inc()
    metrics.latency.labels(**route).observe(0.1)
    metrics.errors.labels(**route).inc()
    model.count("business")
    model.record_feedback(Feedback(predicted="business", correct=True))
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels | TARGET_LABELS) for name, labels in found.items()}


def nodes(expr: Any, kind: type) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(expr, lambda node: found.append(node) if isinstance(node, kind) else None)
    return found


def grouping(agg: Any) -> list[str]:
    """The labels an aggregation keeps (`by`) or drops (`without`)."""
    return list(agg.modifier.labels) if agg.modifier else []


def by_labels(expr: Any) -> set[str]:
    return {label for agg in nodes(expr, promql_parser.AggregateExpr) for label in grouping(agg)}


def check_expression(text: str, known: dict[str, frozenset[str]]) -> Any:
    """Parse with the Rust PromQL parser (syntax and function argument types), then check that each
    selector names a known metric, matches only labels it has, and each `by` keeps only labels the
    series under it have."""
    expr = promql_parser.parse(text)
    for selector in nodes(expr, promql_parser.VectorSelector):
        assert selector.name in known, f"{selector.name} is not served, recorded or from kube-state-metrics: {text}"
        for matcher in selector.matchers.matchers:
            assert matcher.name in known[selector.name], f"{selector.name} has no label {matcher.name}: {text}"
    for agg in nodes(expr, promql_parser.AggregateExpr):
        under = set().union(*(known[s.name] for s in nodes(agg.expr, promql_parser.VectorSelector)))
        assert set(grouping(agg)) <= under, f"by {grouping(agg)}: {text}"
    return expr


def rules(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(group["name"], rule) for group in obj["spec"]["groups"] for rule in group["rules"]]


def alerts(obj: dict[str, Any], group: str) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for name, rule in rules(obj) if name == group and "alert" in rule}


def environment_rules(*components: MonitoredComponent, channel: str | None = None) -> dict[str, Any]:
    return alert_rules(components, namespace=NAMESPACE, environment=ENV, labels=LABELS, notification_channel=channel)


def monitoring_of(target: MonitoredComponent) -> dict[str, Any]:
    return pod_monitoring(target.component, target.k8s_name, namespace=NAMESPACE, environment=ENV, labels=LABELS)


def pod_labels(target: MonitoredComponent, track: str, environment: str = ENV) -> dict[str, str]:
    """A pod's labels as the stack sets them on each track's Deployment."""
    suffix = "-canary" if track == "canary" else ""
    return {
        **LABELS,
        "app.kubernetes.io/name": f"{target.k8s_name}{suffix}",
        "app.kubernetes.io/version": "158" if track == "stable" else "159",
        COMPONENT_LABEL: target.component,
        ENVIRONMENT_LABEL: environment,
        TRACK_LABEL: track,
    }


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, "only matchLabels is evaluated here"
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


class TestSchemas:
    """Both kinds validate strictly against the CRDs vendored from prometheus-engine."""

    def test_pod_monitoring_and_rules_are_valid(self) -> None:
        validate_custom(monitoring_of(TAGGING))
        validate_custom(environment_rules(TAGGING, SENTIMENT, channel="ml-oncall"))
        validate_custom(environment_rules(TAGGING))

    def test_the_validation_is_strict(self) -> None:
        obj = environment_rules(TAGGING)
        obj["spec"]["groups"][0]["rules"][-1]["severity"] = "critical"
        with pytest.raises(ValueError, match=r"rules\[6\]\.severity: unknown field"):
            validate_custom(obj)
        obj = monitoring_of(TAGGING)
        obj["spec"]["endpoints"][0]["interval"] = "30 seconds"
        with pytest.raises(ValueError, match=r"interval"):
            validate_custom(obj)

    def test_each_rule_is_a_record_or_an_alert_and_only_alerts_carry_annotations(self) -> None:
        for _, rule in rules(environment_rules(TAGGING, SENTIMENT, channel="ml-oncall")):
            assert ("record" in rule) != ("alert" in rule)
            assert "annotations" not in rule or "alert" in rule
            assert "labels" not in rule or "alert" in rule


class TestPodMonitoring:
    """One per component, scraping both its tracks' pods and nobody else's."""

    def test_selects_both_tracks_of_its_component_only(self) -> None:
        selector = monitoring_of(TAGGING)["spec"]["selector"]
        assert selects(selector, pod_labels(TAGGING, "stable"))
        assert selects(selector, pod_labels(TAGGING, "canary"))
        assert not selects(selector, pod_labels(SENTIMENT, "stable"))
        assert not selects(selector, pod_labels(SENTIMENT, "canary"))
        assert not selects(selector, pod_labels(TAGGING, "stable", environment="uat"))

    def test_scrapes_the_port_and_container_the_deployment_declares(self) -> None:
        args = ComponentServiceArgs(
            project="document-tagging", environment=ENV, namespace=NAMESPACE, component=TAGGING.component,
            k8s_name=TAGGING.k8s_name, type="model", version=158, label=None, image=f"img@sha256:{'0' * 64}",
            port=8080, health_path="/healthz", replicas=1, resources={}, low_latency_mode=False,
        )  # fmt: skip
        canary = replace(args, k8s_name=f"{TAGGING.k8s_name}-canary", version=159, track="canary")
        containers = [deployment(a, "config")["spec"]["template"]["spec"]["containers"][0] for a in (args, canary)]
        [endpoint] = monitoring_of(TAGGING)["spec"]["endpoints"]
        assert all(METRICS_PORT in {port["name"] for port in c["ports"]} for c in containers)
        assert endpoint == {"port": METRICS_PORT, "path": "/metrics", "interval": "30s"}
        # The restart alert finds the containers by these names.
        restarts = alerts(environment_rules(TAGGING), TAGGING.k8s_name)["ContainerRestarting"]["expr"]
        [selector] = nodes(promql_parser.parse(restarts), promql_parser.VectorSelector)
        [matcher] = selector.matchers.matchers
        assert all(re.fullmatch(matcher.value, c["name"]) for c in containers)
        assert not re.fullmatch(matcher.value, "document-tagging-v2")

    def test_does_not_copy_pod_labels_the_app_already_sets(self) -> None:
        # The app labels its series with track and version; target labels of the same names would
        # rename the app's to exported_track / exported_version.
        assert "targetLabels" not in monitoring_of(TAGGING)["spec"]
        assert {"track", "version"} <= served()["mlops_http_requests_total"]

    def test_path_and_interval_can_be_set(self) -> None:
        obj = pod_monitoring("x", "x", namespace="n", environment=ENV, labels={}, path="/m", interval="1m")
        assert obj["spec"]["endpoints"][0] == {"port": "http", "path": "/m", "interval": "1m"}
        with pytest.raises(ValueError, match="'1 minute' is not a Prometheus duration"):
            pod_monitoring("x", "x", namespace="n", environment=ENV, labels={}, interval="1 minute")


class TestExpressions:
    """Every expression parses and reads only what exists: the apps' series (with their labels),
    the recording rules of its own group, and kube-state-metrics' restart counter."""

    def test_every_expression_parses_and_names_only_known_series(self) -> None:
        obj = environment_rules(TAGGING, SENTIMENT)
        known = {**served(), RESTART_METRIC: frozenset(KUBE_STATE_LABELS)}
        for group in obj["spec"]["groups"]:
            for rule in group["rules"]:
                check_expression(rule["expr"], known)
                if "record" in rule:
                    known[rule["record"]] = frozenset(by_labels(promql_parser.parse(rule["expr"])) | TARGET_LABELS)
        assert set(RECORDED_METRICS) <= set(known)

    def test_each_group_reads_only_its_own_components_series(self) -> None:
        for group, rule in rules(environment_rules(TAGGING, SENTIMENT)):
            target = TAGGING if group == TAGGING.k8s_name else SENTIMENT
            for selector in nodes(promql_parser.parse(rule["expr"]), promql_parser.VectorSelector):
                matchers = {(m.name, m.value) for m in selector.matchers.matchers}
                if selector.name == RESTART_METRIC:
                    assert ("container", f"{target.k8s_name}|{target.k8s_name}-canary") in matchers
                else:
                    assert ("component", target.component) in matchers, rule["expr"]

    def test_records_come_before_the_alerts_that_read_them(self) -> None:
        for group in environment_rules(TAGGING)["spec"]["groups"]:
            kinds = ["record" if "record" in rule else "alert" for rule in group["rules"]]
            assert kinds == sorted(kinds, reverse=True)

    def test_probes_and_scrapes_are_not_traffic(self) -> None:
        for _, rule in rules(environment_rules(TAGGING)):
            for selector in nodes(promql_parser.parse(rule["expr"]), promql_parser.VectorSelector):
                if selector.name == "mlops_http_requests_total":
                    [route] = [m.value for m in selector.matchers.matchers if m.name == "route"]
                    assert all(re.fullmatch(route, path) for path in NOT_TRAFFIC_ROUTES)
                    assert not re.fullmatch(route, "/predict")


class TestAlerts:
    """The four alerts per component, their thresholds, labels and annotations."""

    CUSTOM = AlertThresholds(
        client_requests_per_minute=42, client_window="3m", error_ratio=0.07, canary_error_margin=0.03, restarts=5
    )

    def test_one_rules_object_with_one_group_per_component(self) -> None:
        obj = environment_rules(TAGGING, SENTIMENT)
        assert obj["metadata"] == {"name": "mlops-alerts", "namespace": NAMESPACE, "labels": LABELS}
        assert [g["name"] for g in obj["spec"]["groups"]] == ["document-tagging", "sentiment-analysis"]
        for group in obj["spec"]["groups"]:
            assert set(alerts(obj, group["name"])) == {
                "HighRequestRate", "HighErrorRatio", "CanaryErrorRatioAboveStable", "ContainerRestarting",
            }  # fmt: skip

    def test_thresholds_appear_in_the_expressions_per_component(self) -> None:
        custom = replace(SENTIMENT, thresholds=self.CUSTOM)
        obj = environment_rules(TAGGING, custom)
        mine, default = alerts(obj, custom.k8s_name), alerts(obj, TAGGING.k8s_name)
        assert mine["HighRequestRate"]["expr"].endswith("* 60 > 42")
        assert mine["HighRequestRate"]["for"] == "3m"
        assert " > 0.07 and " in mine["HighErrorRatio"]["expr"]
        assert "+ 0.03)" in mine["CanaryErrorRatioAboveStable"]["expr"]
        assert mine["ContainerRestarting"]["expr"].endswith("[15m])) > 5")
        assert "42 requests a minute for 3m" in mine["HighRequestRate"]["annotations"]["description"]
        assert default["HighRequestRate"]["expr"].endswith("* 60 > 15")
        assert default["HighRequestRate"]["for"] == "2m"
        assert " > 0.05 and " in default["HighErrorRatio"]["expr"]
        assert default["ContainerRestarting"]["expr"].endswith("> 3")

    def test_error_ratios_need_traffic_on_every_track_they_judge(self) -> None:
        found = alerts(environment_rules(TAGGING), TAGGING.k8s_name)
        assert found["HighErrorRatio"]["expr"].endswith("* 60 >= 1")
        canary = found["CanaryErrorRatioAboveStable"]["expr"]
        assert 'track="stable"} * 60 >= 1' in canary and 'track="canary"} * 60 >= 1' in canary

    def test_labels_and_the_notification_channel_only_when_given(self) -> None:
        with_channel = alerts(environment_rules(TAGGING, channel="ml-oncall"), TAGGING.k8s_name)
        without = alerts(environment_rules(TAGGING), TAGGING.k8s_name)
        for name, rule in with_channel.items():
            assert rule["labels"] == {**without[name]["labels"], "notification_channel": "ml-oncall"}
            assert without[name]["labels"]["severity"] in ("warning", "critical")
            assert {k: without[name]["labels"][k] for k in ("component", "environment")} == {
                "component": "document_tagging",
                "environment": ENV,
            }
            assert set(rule["annotations"]) == {"summary", "description"}
            assert "{{ $value" in rule["annotations"]["summary"]
        with pytest.raises(ValueError, match="notification channel is empty"):
            environment_rules(TAGGING, channel=" ")

    def test_bad_thresholds_and_duplicates_are_refused(self) -> None:
        with pytest.raises(ValueError, match="client_window '2 minutes' is not a Prometheus duration"):
            AlertThresholds(client_window="2 minutes")
        with pytest.raises(ValueError, match="error_ratio 0 must be above 0"):
            AlertThresholds(error_ratio=0)
        with pytest.raises(ValueError, match="listed twice"):
            environment_rules(TAGGING, TAGGING)


class TestNames:
    """Object, group and rule names are what the API server and Prometheus accept."""

    def test_names_are_dns_safe(self) -> None:
        obj = environment_rules(TAGGING, SENTIMENT)
        names = [obj["metadata"]["name"], monitoring_of(TAGGING)["metadata"]["name"]]
        names += [group["name"] for group in obj["spec"]["groups"]]
        assert all(DNS_LABEL.match(name) for name in names), names
        assert all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", r["record"]) for _, r in rules(obj) if "record" in r)

    def test_a_name_that_is_not_a_dns_label_is_refused(self) -> None:
        with pytest.raises(ValueError, match="'Document_Tagging' must be a DNS label"):
            MonitoredComponent("document_tagging", "Document_Tagging")
        with pytest.raises(ValueError, match="must be a DNS label"):
            pod_monitoring("x", "x" * 60, namespace="n", environment=ENV, labels={})


class TestDashboard:
    """dashboards/canary.json: Cloud Monitoring's dashboard JSON over the apps' own metrics."""

    @staticmethod
    def queries() -> list[str]:
        dashboard = json.loads((REPO / "dashboards" / "canary.json").read_text())
        tiles = dashboard["mosaicLayout"]["tiles"]
        assert tiles and all(set(tile["widget"]) == {"title", "xyChart"} for tile in tiles)
        return [s["timeSeriesQuery"]["prometheusQuery"] for t in tiles for s in t["widget"]["xyChart"]["dataSets"]]

    def test_queries_name_only_served_metrics(self) -> None:
        queries = self.queries()
        assert len(queries) >= 5
        for query in queries:
            check_expression(query, served())

    def test_every_query_splits_or_filters_by_track(self) -> None:
        for query in self.queries():
            expr = promql_parser.parse(query)
            filtered = any(
                m.name == "track" for s in nodes(expr, promql_parser.VectorSelector) for m in s.matchers.matchers
            )
            aggregations = nodes(expr, promql_parser.AggregateExpr)
            split = bool(aggregations) and all(
                agg.modifier.type == promql_parser.AggModifierType.By and "track" in grouping(agg)
                for agg in aggregations
            )
            assert filtered or split, query

    def test_it_covers_what_the_issue_asks(self) -> None:
        text = " ".join(self.queries())
        for metric in ("mlops_http_requests_total", "mlops_http_request_duration_seconds_bucket"):
            assert metric in text
        for metric in ("mlops_predictions_total", "mlops_model_accuracy", 'status=~"5.."', "histogram_quantile(0.95"):
            assert metric in text
