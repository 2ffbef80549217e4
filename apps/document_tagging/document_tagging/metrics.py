"""Prometheus metrics, labelled with the component, its version and its track, so that stable and
canary pods of one component can be told apart and compared.

Each app gets its own registry: two apps in one process (tests, or a future `mlops run --all`)
never clash over a metric name."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from document_tagging.settings import Settings

_IDENTITY = ("component", "version", "track")
# Requests are labelled by route template, never the raw path: a scanner's random URLs would
# otherwise create one time series each.
UNMATCHED = "unmatched"


class Metrics:
    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.identity = {"component": settings.component, "version": settings.version, "track": settings.track}
        route = (*_IDENTITY, "method", "route")
        self.requests = Counter(
            "mlops_http_requests", "HTTP requests answered.", [*route, "status"], registry=self.registry
        )
        self.latency = Histogram(
            "mlops_http_request_duration_seconds", "Time to answer an HTTP request.", route, registry=self.registry
        )
        self.errors = Counter(
            "mlops_http_errors", "Requests that failed: an exception or a 5xx status.", route, registry=self.registry
        )
        self.predictions = Counter(
            "mlops_predictions", "Documents tagged, by tag returned.", [*_IDENTITY, "tag"], registry=self.registry
        )

    def count_prediction(self, tags: list[str]) -> None:
        for tag in tags:
            self.predictions.labels(**self.identity, tag=tag).inc()

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def install(self, app: FastAPI) -> None:
        """Measure every request the app answers, failures included."""

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
                self.requests.labels(**labels, status=str(status)).inc()
                if status >= 500:
                    self.errors.labels(**labels).inc()
