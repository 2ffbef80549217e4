"""Pure builders of an environment's Google Managed Prometheus objects (no Pulumi import): one
`PodMonitoring` per component, which scrapes the pods of both its tracks, and one `Rules` object
with every component's alerts.

What the rules read is exactly what the apps serve (apps/mlops_runtime/service.py): requests,
latency and errors labelled `component`, `version`, `track` (and `caller`, the calling component
or `external`), and a model server's prediction and feedback counters. Managed Prometheus adds the
target labels `namespace`, `pod` and `container`; a namespaced `Rules` object only ever sees its
own namespace's series, so no expression needs a namespace matcher, and every result keeps it.

Container restarts come from GKE's managed kube-state-metrics, as `kube_pod_container_status_restarts_total`
(labels `namespace`, `pod`, `container`, `uid`), which GKE exports only with its **Pod** kube state
metrics package enabled (`gcloud container clusters update CLUSTER --monitoring=SYSTEM,POD`, on by
default from GKE 1.29.2-gke.2000 Standard and 1.27.4-gke.900 Autopilot). Without it the restart
alert never fires; the others are unaffected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.labels import COMPONENT_LABEL, ENVIRONMENT_LABEL

API_VERSION = "monitoring.googleapis.com/v1"
METRICS_PORT = "http"  # the container port's name (components/pod_spec.py)
DEFAULT_METRICS_PATH = "/metrics"
DEFAULT_SCRAPE_INTERVAL = "30s"
# The apps bound every label value (route templates, known callers, known classes), so a scrape
# holds a few hundred samples. Ten thousand means a cardinality bug: Managed Prometheus then fails
# that scrape (the target shows unhealthy) rather than bill for a flood of series.
SAMPLE_LIMIT = 10_000

RULES_NAME = "mlops-alerts"
# How often each group is evaluated. Set explicitly: older Rules CRDs require it.
RULE_INTERVAL = "1m"
# Requests that are not traffic: kubelet probes and scrapes (service.py's HEALTH_PATHS and
# /metrics). Probes alone send a pod several requests a minute; counted, they would drown a
# quiet service's error ratio and trip the per-client rate alert.
NOT_TRAFFIC_ROUTES = ("/healthz", "/health", "/metrics")
CLIENT_RATE_WINDOW = "2m"  # four scrapes at 30 s: enough for rate() to be stable
ERROR_WINDOW = "5m"
ERROR_FOR = "5m"
RESTART_WINDOW = "15m"
# A track must serve at least this many requests a minute (over ERROR_WINDOW) before its error
# ratio can page: one failed request an hour is a 100% ratio for five minutes, and not news.
MIN_REQUESTS_PER_MINUTE = 1
RESTART_METRIC = "kube_pod_container_status_restarts_total"
REQUESTS_METRIC = "mlops_http_requests_total"
# Recording rules (level:metric:operations). Each reads only the apps' own series, never another
# record: Managed Prometheus evaluates rules against Cloud Monitoring, where a record written in
# this evaluation may not be readable yet, so chained records would lag by an interval.
CALLER_RATE = "component_caller:mlops_http_requests:rate2m"
TRACK_RATE = "component_track:mlops_http_requests:rate5m"
TRACK_ERROR_RATIO = "component_track:mlops_http_requests_5xx:ratio_rate5m"
RECORDED_METRICS = (CALLER_RATE, TRACK_RATE, TRACK_ERROR_RATIO)
INTERNAL_CALLERS = 'caller!="external"'

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
# Prometheus alert templates (Go templates), filled in when an alert fires.
_VALUE = "{{ $value | humanize }}"
_PERCENT = "{{ $value | humanizePercentage }}"
_CALLER = "{{ $labels.caller }}"
_TRACK = "{{ $labels.track }}"
_POD = "{{ $labels.pod }}"


def _check_duration(what: str, value: str) -> None:
    if not _DURATION.match(value):
        raise ValueError(f"{what} {value!r} is not a Prometheus duration: write it like 30s, 2m or 1h")


@dataclass(frozen=True)
class AlertThresholds:
    """One component's alert thresholds (a layered setting; these defaults are the seed's: more
    than 15 requests a minute from one client for 2 minutes)."""

    client_requests_per_minute: int = 15
    client_window: str = "2m"  # how long a client must exceed the rate before it alerts (`for:`)
    error_ratio: float = 0.05  # share of a track's requests answered 5xx over ERROR_WINDOW
    canary_error_margin: float = 0.02  # how far the canary's error ratio may exceed the stable's
    restarts: int = 3  # restarts of one container within RESTART_WINDOW

    def __post_init__(self) -> None:
        _check_duration("alert threshold client_window", self.client_window)
        if self.client_requests_per_minute < 1:
            raise ValueError("alert threshold client_requests_per_minute must be at least 1")
        if not 0 < self.error_ratio <= 1:
            raise ValueError(f"alert threshold error_ratio {self.error_ratio} must be above 0 and at most 1")
        if not 0 <= self.canary_error_margin < 1:
            raise ValueError(
                f"alert threshold canary_error_margin {self.canary_error_margin} must be from 0 to below 1"
            )
        if self.restarts < 0:
            raise ValueError("alert threshold restarts must be 0 or more")


@dataclass(frozen=True)
class MonitoredComponent:
    """A component as the alert rules see it: its catalogue name (the `component` label of its
    series), its Kubernetes name (its stable track's container; the canary's is `<name>-canary`)
    and its thresholds."""

    component: str
    k8s_name: str
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)

    def __post_init__(self) -> None:
        _check_name(self.k8s_name)


def _check_name(name: str) -> None:
    # `-canary` is appended for the canary track's container, and must still be a DNS label.
    if not _DNS_LABEL.match(f"{name}-canary"):
        raise ValueError(f"Kubernetes name {name!r} must be a DNS label (a-z, 0-9, '-') of at most 56 characters")


def pod_monitoring(
    component: str,
    k8s_name: str,
    *,
    namespace: Any,
    environment: str,
    labels: Mapping[str, str],
    path: str = DEFAULT_METRICS_PATH,
    interval: str = DEFAULT_SCRAPE_INTERVAL,
) -> dict[str, Any]:
    """The PodMonitoring of one component: every pod of the component in the environment, both
    tracks, scraped on its `http` port."""
    _check_name(k8s_name)
    _check_duration(f"scrape interval of {component}", interval)
    if not path.startswith("/"):
        raise ValueError(f"metrics path {path!r} of {component} must start with '/'")
    return {
        "apiVersion": API_VERSION,
        "kind": "PodMonitoring",
        "metadata": {"name": k8s_name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            # Not the track: stable and canary are both scraped, so the two can be compared.
            "selector": {"matchLabels": {COMPONENT_LABEL: component, ENVIRONMENT_LABEL: environment}},
            "endpoints": [{"port": METRICS_PORT, "path": path, "interval": interval}],
            # No `targetLabels.fromPod`: the app labels its own series with its version and track
            # (from the same values the pod's labels are set from). Copying the pod's labels onto
            # the target as well would clash with them, and Prometheus would keep the target's
            # and rename the app's to `exported_track` and `exported_version` on every series.
            # The default metadata labels (pod, container) are kept: the restart alert and a
            # look at one pod need them.
            "limits": {"samples": SAMPLE_LIMIT},
        },
    }


def _number(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _selector(metric: str, *matchers: str) -> str:
    return f"{metric}{{{','.join(matchers)}}}"


def _traffic(component: str, *extra: str) -> str:
    """The component's requests that are traffic (no probes, no scrapes)."""
    routes = "|".join(NOT_TRAFFIC_ROUTES)
    return _selector(REQUESTS_METRIC, f'component="{component}"', f'route!~"{routes}"', *extra)


def _recording_rules(component: str) -> list[dict[str, Any]]:
    caller_rate = f"rate({_traffic(component)}[{CLIENT_RATE_WINDOW}])"
    track_rate = f"sum by (component, track) (rate({_traffic(component)}[{ERROR_WINDOW}]))"
    errors = _traffic(component, 'status=~"5.."')
    track_errors = f"sum by (component, track) (rate({errors}[{ERROR_WINDOW}]))"
    return [
        {"record": CALLER_RATE, "expr": f"sum by (component, caller) ({caller_rate})"},
        {"record": TRACK_RATE, "expr": track_rate},
        # A track that never answered 5xx has no 5xx series at all: `or 0 * ...` makes its ratio
        # 0 rather than absent, so a failing canary still compares with a flawless stable track.
        {"record": TRACK_ERROR_RATIO, "expr": f"({track_errors} or 0 * {track_rate}) / {track_rate}"},
    ]


def _alert(
    name: str, expr: str, severity: str, labels: Mapping[str, str], summary: str, description: str, duration: str = ""
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if duration:
        rule["for"] = duration
    rule["labels"] = {"severity": severity, **labels}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def _alerting_rules(target: MonitoredComponent, environment: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    t, name = target.thresholds, target.component
    own = f'component="{name}"'
    traffic = f"{_selector(TRACK_RATE, own)} * 60 >= {MIN_REQUESTS_PER_MINUTE}"
    stable, canary = 'track="stable"', 'track="canary"'
    both_tracks = _selector(RESTART_METRIC, f'container=~"{target.k8s_name}|{target.k8s_name}-canary"')
    restarts = f"increase({both_tracks}[{RESTART_WINDOW}])"
    where = f"{name} in {environment}"
    return [
        _alert(
            "HighRequestRate",
            # Components calling components (the seed's client of the model backend). Outside
            # clients are one `external` series together; each of them is limited per address
            # by the rate_limit setting (Cloud Armor), not judged here.
            f"{_selector(CALLER_RATE, own, INTERNAL_CALLERS)} * 60 > {t.client_requests_per_minute}",
            "warning",
            labels,
            f"{name}: {_CALLER} sends {_VALUE} requests a minute",
            f"{where}: caller {_CALLER} has sent more than {t.client_requests_per_minute} requests a minute "
            f"for {t.client_window} ({_VALUE} now); health checks and scrapes are not counted.",
            t.client_window,
        ),
        _alert(
            "HighErrorRatio",
            f"{_selector(TRACK_ERROR_RATIO, own)} > {_number(t.error_ratio)} and {traffic}",
            "critical",
            labels,
            f"{name} ({_TRACK}): {_PERCENT} of requests fail",
            f"{where}: the {_TRACK} track has answered {_PERCENT} of its requests with a 5xx over the last "
            f"{ERROR_WINDOW}, above {_number(t.error_ratio)}, for {ERROR_FOR} (tracks serving fewer than "
            f"{MIN_REQUESTS_PER_MINUTE} request a minute are not judged).",
            ERROR_FOR,
        ),
        _alert(
            "CanaryErrorRatioAboveStable",
            f"{_selector(TRACK_ERROR_RATIO, own, canary)} > ignoring(track) "
            f"({_selector(TRACK_ERROR_RATIO, own, stable)} + {_number(t.canary_error_margin)}) "
            f"and ignoring(track) ({_selector(TRACK_RATE, own, stable)} * 60 >= {MIN_REQUESTS_PER_MINUTE}) "
            f"and ({_selector(TRACK_RATE, own, canary)} * 60 >= {MIN_REQUESTS_PER_MINUTE})",
            "warning",
            labels,
            f"{name}: the canary fails {_PERCENT} of requests, more than the stable track",
            f"{where}: the canary's 5xx ratio ({_PERCENT} over {ERROR_WINDOW}) exceeds the stable track's by more "
            f"than {_number(t.canary_error_margin)}, for {ERROR_FOR}, with both tracks serving traffic. "
            "Consider rolling the canary back.",
            ERROR_FOR,
        ),
        _alert(
            "ContainerRestarting",
            f"sum by (pod, container) ({restarts}) > {t.restarts}",
            "warning",
            labels,
            f"{name}: container in {_POD} restarted {_VALUE} times in {RESTART_WINDOW}",
            f"{where}: pod {_POD} (stable or canary) restarted its container more than {t.restarts} times in "
            f"{RESTART_WINDOW}. Needs GKE's Pod kube state metrics package.",
        ),
    ]


def alert_rules(
    components: Sequence[MonitoredComponent],
    *,
    namespace: Any,
    environment: str,
    labels: Mapping[str, str],
    notification_channel: str | None = None,
    name: str = RULES_NAME,
) -> dict[str, Any]:
    """The environment's Rules object: one group per component, its recording rules first, then
    its alerts, labelled with severity, component, environment and (when given) the notification
    channel the managed Alertmanager routes on."""
    seen: set[str] = set()
    for target in components:
        if target.component in seen:
            raise ValueError(f"component {target.component!r} is listed twice for alert rules")
        seen.add(target.component)
    if notification_channel is not None and not notification_channel.strip():
        raise ValueError("notification channel is empty: name the channel, or leave it out")
    groups = []
    for target in components:
        alert_labels = {"component": target.component, "environment": environment}
        if notification_channel is not None:
            alert_labels["notification_channel"] = notification_channel
        groups.append(
            {
                "name": target.k8s_name,
                "interval": RULE_INTERVAL,
                "rules": [*_recording_rules(target.component), *_alerting_rules(target, environment, alert_labels)],
            }
        )
    return {
        "apiVersion": API_VERSION,
        "kind": "Rules",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"groups": groups},
    }
