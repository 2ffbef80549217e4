"""What every FastAPI component of the example project shares: request metrics labelled with the
component, version and track (so stable and canary pods compare), `/healthz`, `/metrics`, the API
key check, and a model server's prediction and feedback counters (the seed's
predictions / accuracy experiment). Needs fastapi and prometheus-client; the rest of
`mlops_runtime` needs only the standard library.

Metric names (the alert rules in components/monitoring.py and dashboards/ read exactly these):
- `mlops_http_requests_total{component,version,track,method,route,status,caller}`
- `mlops_http_request_duration_seconds` (histogram) `{component,version,track,method,route}`
- `mlops_http_errors_total{component,version,track,method,route}`: exceptions and 5xx
- `mlops_predictions_total{component,version,track,predicted}`: a class, or `value` (regression)
- `mlops_feedback_total{component,version,track,predicted,correct}` and `mlops_model_accuracy`
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from mlops_runtime import API_KEY_HEADER, CALLER_HEADER, Identity

IDENTITY_LABELS = ("component", "version", "track")
# Requests are labelled by route template, never the raw path: a scanner's random URLs would
# otherwise create one time series each. Likewise the caller: only a component named in
# MLOPS_CALLERS, else `external`.
UNMATCHED = "unmatched"
EXTERNAL = "external"
HEALTH_PATHS = ("/healthz", "/health")


class Health(BaseModel):
    status: str
    component: str
    version: str
    track: str


class Feedback(BaseModel):
    """Whether a prediction was right, as a client learns it later (the seed's /model-accuracy)."""

    model_config = ConfigDict(extra="forbid")
    predicted: str = Field(min_length=1, max_length=64, description="The class (or `value`) that was predicted.")
    correct: bool


class ServiceMetrics:
    """One registry per app: two apps in one process (tests, `mlops run --all` in one interpreter)
    never clash over a metric name."""

    def __init__(self, identity: Identity, callers: frozenset[str] = frozenset()) -> None:
        self.registry = CollectorRegistry()
        self.identity = {"component": identity.component, "version": identity.version, "track": identity.track}
        self.callers = callers
        route = (*IDENTITY_LABELS, "method", "route")
        self.requests = Counter(
            "mlops_http_requests", "HTTP requests answered.", [*route, "status", "caller"], registry=self.registry
        )
        self.latency = Histogram(
            "mlops_http_request_duration_seconds", "Time to answer an HTTP request.", route, registry=self.registry
        )
        self.errors = Counter(
            "mlops_http_errors", "Requests that failed: an exception or a 5xx status.", route, registry=self.registry
        )

    def caller(self, request: Request) -> str:
        name = request.headers.get(CALLER_HEADER, "")
        return name if name in self.callers else EXTERNAL

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def install(self, app: FastAPI) -> None:
        """Measure every request the app answers, failures included; serve /metrics."""

        @app.middleware("http")
        async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            start = time.perf_counter()
            status = 500
            try:
                response = await call_next(request)
                status = response.status_code
                return response
            finally:
                route = request.scope.get("route")
                labels = {**self.identity, "method": request.method, "route": getattr(route, "path", UNMATCHED)}
                self.latency.labels(**labels).observe(time.perf_counter() - start)
                self.requests.labels(**labels, status=str(status), caller=self.caller(request)).inc()
                if status >= 500:
                    self.errors.labels(**labels).inc()

        app.add_api_route("/metrics", self.exposition, methods=["GET"], include_in_schema=False)


class ModelMetrics:
    """A model server's counters: predictions by predicted class, and feedback on them."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.identity = metrics.identity
        self.predictions = Counter(
            "mlops_predictions", "Predictions made, by predicted class (`value` for a regression).",
            [*IDENTITY_LABELS, "predicted"], registry=metrics.registry,
        )  # fmt: skip
        self.feedback = Counter(
            "mlops_feedback", "Feedback on predictions: whether each was correct.",
            [*IDENTITY_LABELS, "predicted", "correct"], registry=metrics.registry,
        )  # fmt: skip
        self.accuracy = Gauge(
            "mlops_model_accuracy", "Share of the predictions with feedback that were correct (since start).",
            IDENTITY_LABELS, registry=metrics.registry,
        )  # fmt: skip
        self.known: frozenset[str] = frozenset()
        self._right = 0
        self._total = 0

    def count(self, predicted: str) -> None:
        self.predictions.labels(**self.identity, predicted=predicted).inc()

    def record_feedback(self, feedback: Feedback) -> None:
        if self.known and feedback.predicted not in self.known:
            raise HTTPException(status_code=422, detail=f"predicted must be one of: {', '.join(sorted(self.known))}")
        self.feedback.labels(**self.identity, predicted=feedback.predicted, correct=str(feedback.correct).lower()).inc()
        self._total += 1
        self._right += feedback.correct
        self.accuracy.labels(**self.identity).set(self._right / self._total)

    def install(self, app: FastAPI, known: frozenset[str]) -> None:
        """`POST /feedback`; `known`: the values `predicted` may take (bounded label values)."""
        self.known = known

        def feedback(body: Feedback) -> dict[str, str]:
            self.record_feedback(body)
            return {"status": "recorded"}

        app.add_api_route("/feedback", feedback, methods=["POST"])


def add_health(app: FastAPI, identity: Identity) -> None:
    def health() -> Health:
        return Health(status="ok", component=identity.component, version=identity.version, track=identity.track)

    for path in HEALTH_PATHS:
        app.add_api_route(path, health, methods=["GET"], response_model=Health)


def key_checker(key: str | None) -> Callable[..., None]:
    """A FastAPI dependency: with a key mounted, requests must carry it in `X-API-Key` (compared in
    constant time); without one (a model, or a bare local run) it lets every request through."""

    def check(x_api_key: Annotated[str | None, Header(alias=API_KEY_HEADER, include_in_schema=False)] = None) -> None:
        if key is not None and not hmac.compare_digest((x_api_key or "").encode(), key.encode()):
            raise HTTPException(status_code=401, detail=f"missing or wrong {API_KEY_HEADER}")

    return check
