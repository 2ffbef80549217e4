"""The sentiment analysis model service's metrics and health, the service as the image's ENTRYPOINT
starts it (a real server on 127.0.0.1), and its image, pinned and non-root, read as text. Nothing
here needs Docker, a cluster or the network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from mlops_runtime.service import HEALTH_PATHS

from components.pod_spec import RUN_AS_USER

from .conftest import REPO
from .test_app_sentiment import (
    APP_DIR,
    CATALOGUE,
    CLASSIFIER,
    CLEAR,
    REGRESSOR,
    clean_env,
    client,
    environ,
    parse_metrics,
    predict,
    samples,
)
from .test_apps import closure, dockerfile_instructions, entrypoint, pins


class TestMetricsAndHealth:
    """Requests, predictions and feedback are labelled with component, version and track; the
    caller label is a component listed in MLOPS_CALLERS, anything else `external`."""

    ENV: ClassVar[dict[str, str]] = {
        "MLOPS_COMPONENT": "sentiment_analysis",
        "MLOPS_VERSION": "210",
        "MLOPS_TRACK": "canary",
        "MLOPS_CALLERS": "web_app,batch_scorer",
    }

    def labels(self, **extra: str) -> frozenset[tuple[str, str]]:
        return frozenset({"component": "sentiment_analysis", "version": "210", "track": "canary", **extra}.items())

    def test_requests_predictions_and_callers(self) -> None:
        test_client = client(self.ENV)
        predict(test_client, CLEAR["positive"], CLEAR["negative"], **{"X-Mlops-Caller": "web_app"})
        predict(test_client, CLEAR["positive"], **{"X-Mlops-Caller": "somebody_else"})
        predict(test_client, CLEAR["neutral"])
        found = samples(test_client)
        route = {"method": "POST", "route": "/predict", "status": "200"}
        assert found[("mlops_http_requests_total", self.labels(**route, caller="web_app"))] == 1
        assert found[("mlops_http_requests_total", self.labels(**route, caller="external"))] == 2
        assert ("mlops_http_requests_total", self.labels(**route, caller="somebody_else")) not in found
        latency = ("mlops_http_request_duration_seconds_count", self.labels(method="POST", route="/predict"))
        assert found[latency] == 3
        assert found[("mlops_predictions_total", self.labels(predicted="positive"))] == 2
        assert found[("mlops_predictions_total", self.labels(predicted="negative"))] == 1
        assert found[("mlops_predictions_total", self.labels(predicted="neutral"))] == 1
        assert not [key for key in found if key[0] == "mlops_http_errors_total"]

    def test_feedback_updates_accuracy(self) -> None:
        test_client = client(self.ENV)
        for predicted, correct in [("positive", True), ("negative", True), ("neutral", False), ("positive", True)]:
            response = test_client.post("/feedback", json={"predicted": predicted, "correct": correct})
            assert response.status_code == 200, response.text
        assert test_client.post("/feedback", json={"predicted": "value", "correct": True}).status_code == 422
        found = samples(test_client)
        assert found[("mlops_model_accuracy", self.labels())] == 0.75
        assert found[("mlops_feedback_total", self.labels(predicted="positive", correct="true"))] == 2
        assert found[("mlops_feedback_total", self.labels(predicted="neutral", correct="false"))] == 1

    def test_feedback_only_for_the_returned_classes(self, tmp_path: Path) -> None:
        test_client = client(environ(tmp_path, {"labels": ["negative", "positive"]}))
        assert test_client.post("/feedback", json={"predicted": "neutral", "correct": True}).status_code == 422
        assert test_client.post("/feedback", json={"predicted": "negative", "correct": True}).status_code == 200

    def test_failures_are_counted_as_errors(self) -> None:
        class Broken:
            def predict(self, text: str) -> dict[str, Any]:
                raise RuntimeError("model fell over")

        test_client = client(self.ENV, raise_server_exceptions=False)
        test_client.app.state.predictor = Broken()
        assert test_client.post("/predict", json={"text": ["x"]}).status_code == 500
        found = samples(test_client)
        assert found[("mlops_http_errors_total", self.labels(method="POST", route="/predict"))] == 1

    def test_health(self) -> None:
        assert CATALOGUE["health_path"] in HEALTH_PATHS
        test_client = client(self.ENV)
        for path in HEALTH_PATHS:
            response = test_client.get(path)
            assert response.status_code == 200
            expected = {"status": "ok", "component": "sentiment_analysis", "version": "210", "track": "canary"}
            assert response.json() == expected


class TestServer:
    """The Dockerfile's ENTRYPOINT, as `mlops run` starts it (this Python, cwd apps/sentiment_analysis,
    127.0.0.1 on a free port): it serves, or stops with one line before opening the port."""

    @staticmethod
    def command(port: int) -> list[str]:
        command = entrypoint(APP_DIR)
        command[command.index("--host") + 1] = "127.0.0.1"
        command[command.index("--port") + 1] = str(port)
        return [sys.executable, *command[1:]]

    @pytest.mark.parametrize(("config", "version"), [(CLASSIFIER, "210"), (REGRESSOR, "211")], ids=["210", "211"])
    def test_serves_on_loopback(self, tmp_path: Path, free_tcp_port: int, config: Any, version: str) -> None:
        env = clean_env(**environ(tmp_path, config, MLOPS_VERSION=version, MLOPS_COMPONENT="sentiment_analysis"))
        server = subprocess.Popen(self.command(free_tcp_port), cwd=APP_DIR, env=env, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{free_tcp_port}"
        try:
            deadline = time.monotonic() + 30
            while server.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                        assert json.load(response)["version"] == version
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"the server exited ({server.returncode}) or did not answer within 30 s")
            body = json.dumps({"text": [CLEAR["positive"], CLEAR["negative"]]}).encode()
            request = urllib.request.Request(f"{base}/predict", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                positive, negative = json.load(response)["predictions"]
            if config is REGRESSOR:
                assert positive["value"] > 0 > negative["value"]
            else:
                assert (positive["label"], negative["label"]) == ("positive", "negative")
                assert abs(sum(positive["probabilities"].values()) - 1) <= 1e-9
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                found = parse_metrics(response.read().decode())
            labels = {"component": "sentiment_analysis", "version": version, "track": "stable"}
            route = {"method": "POST", "route": "/predict", "status": "200", "caller": "external"}
            assert found[("mlops_http_requests_total", frozenset({**labels, **route}.items()))] == 1
        finally:
            server.terminate()
            server.wait(timeout=30)

    def test_bad_config_is_one_line_and_never_listens(self, tmp_path: Path, free_tcp_port: int) -> None:
        env = clean_env(**environ(tmp_path, {"model": {**REGRESSOR["model"], "task": "ranking"}}))
        done = subprocess.run(
            self.command(free_tcp_port), cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        # One line, and nothing from uvicorn: it stopped before binding the port.
        assert done.stderr.splitlines() == [
            f"sentiment_analysis: {tmp_path / 'app_config.yaml'}: model.task is 'ranking': use classification or "
            "regression: fix the version's app_config in config/components/sentiment_analysis.yaml"
        ]


class TestImage:
    """The Dockerfile, read as text: pinned bases, a numeric non-root user, no caches, the
    catalogue's port, only what the service runs copied from the apps/ context, and a lock file
    that pins everything the service imports at the versions these tests ran."""

    PINNED_BASE = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}( AS \w+)?$")

    def test_every_base_is_pinned_by_tag_and_digest(self) -> None:
        bases = [args for name, args in dockerfile_instructions(APP_DIR) if name == "FROM"]
        assert bases and all(self.PINNED_BASE.match(base) and "slim" in base for base in bases), bases

    def test_runs_as_the_pods_user_on_the_catalogue_port(self) -> None:
        instructions = dockerfile_instructions(APP_DIR)
        final = instructions[max(i for i, (name, _) in enumerate(instructions) if name == "FROM") :]
        assert [args for name, args in final if name == "USER"] == [f"{RUN_AS_USER}:{RUN_AS_USER}"]
        names = [name for name, _ in final]
        assert names.index("USER") < names.index("ENTRYPOINT")
        assert ("HEALTHCHECK", "NONE") in final
        port = str(CATALOGUE["port"])
        assert [args for name, args in instructions if name == "EXPOSE"] == [port]
        assert entrypoint(APP_DIR)[entrypoint(APP_DIR).index("--port") + 1] == port
        assert entrypoint(APP_DIR)[:5] == ["python", "-m", "uvicorn", "--factory", "sentiment_analysis.app:create_app"]

    def test_no_package_caches(self) -> None:
        installs = [args for name, args in dockerfile_instructions(APP_DIR) if re.search(r"pip .*install", args)]
        assert installs and all("--no-cache-dir" in args for args in installs)
        assert "apt-get" not in (APP_DIR / "Dockerfile").read_text()

    def test_copies_only_what_the_service_runs_from_the_apps_context(self) -> None:
        sources = [
            args.split()[0]
            for name, args in dockerfile_instructions(APP_DIR)
            if name == "COPY" and "--from" not in args
        ]
        assert sources == [
            "sentiment_analysis/requirements.txt",
            "mlops_runtime/",
            "sentiment_analysis/sentiment_analysis/",
            "sentiment_analysis/model/",
        ]
        assert all((REPO / "apps" / source).exists() for source in sources)
        ignored = (REPO / "apps" / ".dockerignore").read_text().splitlines()
        assert {"**/data", "*/train.py"} <= set(ignored)

    def test_lock_pins_the_whole_closure_at_the_tested_versions(self) -> None:
        locked = pins(APP_DIR / "requirements.txt")
        assert {name: version(name) for name in locked} == locked
        assert set(locked) == closure(["fastapi", "uvicorn", "prometheus-client"])
        # The same runtime as the other model server's image.
        assert locked == pins(REPO / "apps" / "document_tagging" / "requirements.txt")
