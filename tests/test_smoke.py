"""`mlops smoke` against real HTTP servers on loopback started by the tests: healthy, failing,
slow to come up, and refusing the API key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.smoke import Target, check

API_KEY = "test-key-3c1e"


class Component(BaseHTTPRequestHandler):
    """One fake component; behaviour set on the server: healthy, failing (503), slow (503 for the
    first N requests, then healthy), or refusing any API key but the right one."""

    def log_message(self, *_args) -> None:  # keep test output quiet
        pass

    def _answer(self) -> None:
        server = self.server
        server.requests.append((self.command, self.path, self.headers.get("X-API-Key")))  # type: ignore[attr-defined]
        mode = server.mode  # type: ignore[attr-defined]
        if server.needs_key and self.headers.get("X-API-Key") != API_KEY:  # type: ignore[attr-defined]
            status = 401
        elif mode == "failing" or (mode == "slow" and len(server.requests) <= 2):
            status = 503
        else:
            status = 200
        body = json.dumps({"result": "success" if status == 200 else "error"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(json.loads(self.rfile.read(length) or b"null"))  # type: ignore[attr-defined]
        self._answer()


def serve(mode: str, needs_key: bool = False) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Component)
    server.mode, server.needs_key, server.requests, server.bodies = mode, needs_key, [], []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def servers() -> Iterator[dict[str, ThreadingHTTPServer]]:
    started: dict[str, ThreadingHTTPServer] = {}

    def start(name: str, mode: str, needs_key: bool = False) -> ThreadingHTTPServer:
        started[name] = serve(mode, needs_key)
        return started[name]

    yield start  # type: ignore[misc]
    for server in started.values():
        server.shutdown()
        server.server_close()


def outputs_for(tmp_path: Path, urls: dict[str, tuple[str, str]], api_key: str | None = API_KEY) -> Path:
    components = {name: {"type": kind, "version": 1, "url": url} for name, (kind, url) in urls.items()}
    data = {"components": components, **({"api_key": api_key} if api_key else {})}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    return path


def url(server: ThreadingHTTPServer, name: str, kind: str) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/api/v1/projects/document-tagging/environments/uat/{kind}s/{name}/"


@pytest.fixture()
def cli(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("MLOPS_API_KEY", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return invoke


def uat_servers(servers, tmp_path: Path, modes: dict[str, str]) -> tuple[Path, dict]:
    started = {
        "document_tagging": servers("document_tagging", modes.get("document_tagging", "healthy")),
        "nlp_document_classifier": servers(
            "nlp_document_classifier", modes.get("nlp_document_classifier", "healthy"), True
        ),
        "sentiment_analysis": servers("sentiment_analysis", modes.get("sentiment_analysis", "healthy")),
    }
    kinds = {"document_tagging": "model", "nlp_document_classifier": "app", "sentiment_analysis": "model"}
    path = outputs_for(tmp_path, {n: (kinds[n], url(s, n, kinds[n])) for n, s in started.items()})
    return path, started


class TestSmoke:
    def test_all_healthy_exits_0(self, project: Path, cli, servers, tmp_path: Path) -> None:
        path, started = uat_servers(servers, tmp_path, {})
        result = cli("smoke", "-s", "uat", "--outputs-file", str(path), "--timeout", "10")
        assert result.exit_code == 0, result.output
        assert "All 6 checks passed." in result.output  # each health path, and each sample request
        assert API_KEY not in result.output
        # the health path from the catalogue, relative to the component's URL
        paths = [p for _, p, _ in started["sentiment_analysis"].requests]
        assert "/api/v1/projects/document-tagging/environments/uat/models/sentiment_analysis/healthz" in paths
        # the app got the key in the header; the models' sample requests were sent as JSON
        assert started["nlp_document_classifier"].requests[0][2] == API_KEY
        assert started["document_tagging"].bodies == [
            {"instances": ["Shares in the retailer rose 4% after strong Christmas sales."]}
        ]

    def test_one_component_answering_503_fails_without_traceback(
        self, project: Path, cli, servers, tmp_path: Path
    ) -> None:
        path, _ = uat_servers(servers, tmp_path, {"sentiment_analysis": "failing"})
        result = cli("smoke", "-s", "uat", "--outputs-file", str(path), "--timeout", "2")
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert "503" in result.output and "checks failed" in result.output

    def test_a_slow_rollout_is_retried_until_healthy(self, project: Path, cli, servers, tmp_path: Path) -> None:
        path, started = uat_servers(servers, tmp_path, {"document_tagging": "slow"})
        result = cli("smoke", "-s", "uat", "--outputs-file", str(path), "--timeout", "20")
        assert result.exit_code == 0, result.output
        assert len(started["document_tagging"].requests) >= 3

    def test_a_refused_key_fails_at_once(self, project: Path, cli, servers, tmp_path: Path, monkeypatch) -> None:
        path, started = uat_servers(servers, tmp_path, {})
        monkeypatch.setenv("MLOPS_API_KEY", "wrong-key")  # the environment variable wins over the output
        result = cli("smoke", "-s", "uat", "--outputs-file", str(path), "--timeout", "10")
        assert result.exit_code == 1
        assert "refused the API key" in result.output
        # Each of the app's checks (health, sample request) is tried once: a refused key is not retried.
        assert sorted(m for m, _, _ in started["nlp_document_classifier"].requests) == ["GET", "POST"]
        assert "wrong-key" not in result.output

    def test_nothing_listening(self, project: Path, cli, tmp_path: Path) -> None:
        server = serve("healthy")
        dead = url(server, "sentiment_analysis", "model")
        server.shutdown()
        server.server_close()
        path = outputs_for(tmp_path, {"sentiment_analysis": ("model", dead)})
        result = cli("smoke", "-s", "uat", "--outputs-file", str(path), "--timeout", "1")
        assert result.exit_code == 1 and "no answer" in result.output

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"pins": []}, "components: no components output"),
            (
                {"components": {"nlp_document_classifier": {"type": "app", "url": "http://127.0.0.1:9/"}}},
                "apps need the API key",
            ),
            (
                {"components": {"x": {"type": "app", "url": "ftp://nope"}}},
                "components.x.url: missing or not an http(s) URL",
            ),
        ],
    )
    def test_bad_outputs_are_one_line(self, project: Path, cli, tmp_path: Path, data: dict, message: str) -> None:
        path = tmp_path / "o.json"
        path.write_text(json.dumps(data))
        result = cli("smoke", "-s", "uat", "--outputs-file", str(path))
        assert result.exit_code == 2 and message in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_backoff_stops_at_the_deadline() -> None:
    """No real waiting: a fake clock shows the retries double and stop before the deadline."""
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    server = serve("failing")
    try:
        result = check(
            Target("m", "model", "GET", url(server, "m", "model") + "health"),
            None,
            deadline=20.0,
            clock=lambda: now[0],
            sleep=sleep,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert not result.ok and result.status == 503
    assert sleeps[:4] == [0.5, 1.0, 2.0, 4.0]
    assert sum(sleeps) < 20.0 and result.attempts == len(sleeps) + 1
