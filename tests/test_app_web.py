"""The web app `nlp_document_classifier` end to end: it calls the real document_tagging server
(started on 127.0.0.1) and a stand-in sentiment model by component name (MLOPS_COMPONENT_URLS,
as the stack and `mlops run` set it), renders its page, guards its API with the key, answers 502
naming a model that fails and counts its requests; its image keeps the model image's rules.
Nothing here needs Docker or the network beyond the loopback. (How it starts, or stops on bad
config: test_app_web_startup.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from . import test_apps as model_tests
from .conftest import REPO, load_yaml
from .test_apps import CLEAR_TEXTS, samples

WEB_DIR = REPO / "apps" / "nlp_document_classifier"
CATALOGUE = load_yaml(REPO / "config" / "components" / "nlp_document_classifier.yaml")
VERSIONS = {entry["id"]: entry for entry in CATALOGUE["versions"]}
if str(WEB_DIR) not in sys.path:
    sys.path.insert(0, str(WEB_DIR))

from document_tagging.app import create_app as create_tagger  # noqa: E402 (the apps are not installed packages)
from document_tagging.settings import Settings  # noqa: E402
from mlops_runtime import identity  # noqa: E402
from nlp_document_classifier.app import MAX_DOCUMENTS, create_app  # noqa: E402

KEY = "s3cret-key"
ENVIRONMENT_CONFIG = {"app_title_extension": "- (Integration)", "colour1": "slategray", "colour2": "#ff8800"}


class Server:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread, on a port the OS picks."""

    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def sentiment_stand_in() -> FastAPI:
    """sentiment_analysis's documented API (`{"text": [...]}` in, a label with probabilities, or a
    value, per text out), with switches to make it fail; it records what it was sent."""
    app = FastAPI()
    app.state.mode = "classification"
    app.state.received = []

    @app.post("/predict")
    def predict(body: dict[str, Any], request: Request) -> dict[str, Any]:
        app.state.received.append((body, request.headers.get("X-Mlops-Caller")))
        mode, texts = app.state.mode, body["text"]
        if mode == "error":
            raise HTTPException(status_code=500, detail="model fell over")
        if mode == "slow":
            time.sleep(1.5)
        if mode == "malformed":
            return {"predictions": [{"label": 3, "value": "x"} for _ in texts]}
        if mode == "regression":
            return {"predictions": [{"value": 0.4} for _ in texts]}
        probabilities = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
        return {"predictions": [{"label": "positive", "probabilities": probabilities} for _ in texts]}

    return app


@pytest.fixture(scope="module")
def tagger() -> Iterator[Server]:
    """The real document tagging service, as the stack runs it beside the web app."""
    settings = Settings(
        identity=identity({"MLOPS_COMPONENT": "document_tagging", "MLOPS_VERSION": "158"}),
        callers=frozenset({"nlp_document_classifier"}),
    )
    server = Server(create_tagger(settings))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sentiment_server() -> Iterator[Server]:
    server = Server(sentiment_stand_in())
    yield server
    server.stop()


def stand_in_state(server: Server) -> Any:
    app: Any = server.server.config.app
    return app.state


@pytest.fixture()
def sentiment(sentiment_server: Server) -> Server:
    """The stand-in, answering normally and with nothing received, for each test."""
    state = stand_in_state(sentiment_server)
    state.mode, state.received = "classification", []
    return sentiment_server


def web_env(
    folder: Path,
    urls: dict[str, str],
    config: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
    **variables: str,
) -> dict[str, str]:
    """The web app's environment as the stack's Deployment gives it: identity variables, and the
    app config (default: version 161's, which shows sentiment), environment config and key as files."""
    folder.mkdir(parents=True, exist_ok=True)
    config = VERSIONS[161]["app_config"] if config is None else config
    (folder / "app_config.yaml").write_text(json.dumps(config))
    (folder / "environment_config.yaml").write_text(
        json.dumps(ENVIRONMENT_CONFIG if environment is None else environment)
    )
    (folder / "api-key").write_text(KEY + "\n")
    return {
        "MLOPS_COMPONENT": "nlp_document_classifier",
        "MLOPS_VERSION": "161",
        "MLOPS_TRACK": "stable",
        "MLOPS_CALLERS": "",
        "MLOPS_APP_CONFIG_PATH": str(folder / "app_config.yaml"),
        "MLOPS_ENVIRONMENT_CONFIG_PATH": str(folder / "environment_config.yaml"),
        "MLOPS_API_KEY_PATH": str(folder / "api-key"),
        "MLOPS_COMPONENT_URLS": json.dumps(urls),
        **variables,
    }


@pytest.fixture()
def urls(tagger: Server, sentiment: Server) -> dict[str, str]:
    return {"document_tagging": tagger.url, "sentiment_analysis": sentiment.url}


@pytest.fixture()
def web(tmp_path: Path, urls: dict[str, str]) -> TestClient:
    return TestClient(create_app(web_env(tmp_path / "config", urls)))


def api(client: TestClient, *documents: str, key: str | None = KEY) -> Any:
    return client.post("/predict", json={"documents": list(documents)}, headers={"X-API-Key": key} if key else {})


def result_section(html: str) -> str:
    found = re.search(r'<section class="result".*?</section>', html, re.S)
    assert found, html
    return found.group(0)


class TestPage:
    """`GET /` is the page; `/?text=` shows the category the model gave that text (and its sentiment
    when the version shows it), computed on the server; no key needed."""

    def test_a_text_gets_the_models_category_and_sentiment(self, web: TestClient) -> None:
        response = web.get("/", params={"text": CLEAR_TEXTS["business"]})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        result = result_section(response.text)
        assert "category: <strong>business</strong>" in result
        assert "Sentiment: <strong>positive</strong> (70%)" in result

    def test_title_colours_and_examples(self, web: TestClient) -> None:
        html = web.get("/").text
        assert "<title>AI Article Classifier - (Integration)</title>" in html
        assert "--colour1: slategray; --colour2: #ff8800;" in html
        assert '<img src="static/images/k-logo.svg" alt="">' in html
        assert web.get("/static/images/k-logo.svg").status_code == 200
        assert 'class="result"' not in html
        assert len(re.findall(r'<li><a href="\?text=', html)) == 6

    def test_every_example_gets_its_own_category(self, web: TestClient) -> None:
        """The shipped sample articles, through the real model: each link shows its known category."""
        html = web.get("/").text
        examples = re.findall(r'<li><a href="(\?text=[^"]+)">.*?</a> <span class="label">(\w+)</span>', html)
        assert {label for _, label in examples} == set(CLEAR_TEXTS)
        for link, label in examples:
            page = web.get("/" + link.replace("&amp;", "&"))
            assert f"category: <strong>{label}</strong>" in result_section(page.text)

    def test_user_text_and_config_are_escaped(self, tmp_path: Path, urls: dict[str, str]) -> None:
        config = {**VERSIONS[161]["app_config"], "app_title": 'Tags <b>&</b> "more"'}
        environment = {**ENVIRONMENT_CONFIG, "app_title_extension": "</title><script>alert(1)</script>"}
        client = TestClient(create_app(web_env(tmp_path, urls, config, environment)))
        text = '<script>alert("x")</script> & shares'
        html = client.get("/", params={"text": text}).text
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; shares</textarea>" in html
        assert "<h1>Tags &lt;b&gt;&amp;&lt;/b&gt; &quot;more&quot; &lt;/title&gt;&lt;script&gt;" in html

    def test_policy_allows_only_this_style_sheet_and_no_script(self, web: TestClient) -> None:
        response = web.get("/", params={"text": "x"})
        [style] = re.findall(r"<style>(.*?)</style>", response.text, re.S)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        policy = response.headers["content-security-policy"]
        assert f"style-src 'sha256-{digest}'" in policy
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert response.headers["referrer-policy"] == "no-referrer"

    def test_an_over_long_text_is_refused_on_the_page(self, web: TestClient) -> None:
        response = web.get("/", params={"text": "word " * 1000})
        assert response.status_code == 422
        assert "use POST /predict" in response.text


class TestApi:
    """`POST /predict {"documents": [...]}` answers the real model's category per document, behind
    the API key."""

    def test_needs_the_key(self, web: TestClient) -> None:
        assert api(web, CLEAR_TEXTS["sport"], key=None).status_code == 401
        assert api(web, CLEAR_TEXTS["sport"], key="wrong").status_code == 401
        response = api(web, CLEAR_TEXTS["sport"], CLEAR_TEXTS["tech"])
        assert response.status_code == 200, response.text
        [sport, tech] = response.json()["predictions"]
        assert (sport["category"], tech["category"]) == ("sport", "tech")
        assert sum(sport["probabilities"].values()) == pytest.approx(1.0)
        assert sport["sentiment"] == {
            "label": "positive",
            "probabilities": {"negative": 0.1, "neutral": 0.2, "positive": 0.7},
        }

    def test_calls_the_sentiment_model_in_its_shape(self, web: TestClient, sentiment: Server) -> None:
        assert api(web, "one", "two").status_code == 200
        assert stand_in_state(sentiment).received == [({"text": ["one", "two"]}, "nlp_document_classifier")]

    def test_a_regression_sentiment_is_a_value(self, web: TestClient, sentiment: Server) -> None:
        stand_in_state(sentiment).mode = "regression"
        [prediction] = api(web, CLEAR_TEXTS["politics"]).json()["predictions"]
        assert prediction["sentiment"] == {"value": 0.4}
        assert "Sentiment score: <strong>0.40</strong>" in web.get("/", params={"text": "x"}).text

    def test_no_sentiment_when_the_version_does_not_show_it(
        self, tmp_path: Path, urls: dict[str, str], sentiment: Server
    ) -> None:
        client = TestClient(create_app(web_env(tmp_path, urls, VERSIONS[160]["app_config"])))
        [prediction] = api(client, CLEAR_TEXTS["entertainment"]).json()["predictions"]
        assert prediction == {"category": "entertainment", "probabilities": prediction["probabilities"]}
        assert stand_in_state(sentiment).received == []

    def test_no_category_when_none_is_likely_enough(self, web: TestClient) -> None:
        [prediction] = api(web, "zzz qqq").json()["predictions"]
        assert prediction["category"] is None
        assert "none likely enough" in web.get("/", params={"text": "zzz qqq"}).text

    @pytest.mark.parametrize(
        "body",
        [{}, {"documents": []}, {"documents": ["a"] * (MAX_DOCUMENTS + 1)}, {"documents": ["a" * 20_001]},
         {"documents": [1]}, {"documents": ["a"], "instances": ["a"]}],
        ids=["missing", "empty", "too-many", "too-long", "not-text", "unknown-key"],
    )  # fmt: skip
    def test_bad_bodies_are_422(self, web: TestClient, body: dict[str, Any]) -> None:
        assert web.post("/predict", json=body, headers={"X-API-Key": KEY}).status_code == 422


class TestModelFailures:
    """A model that does not answer, answers an error or answers nonsense: 502 naming it, never a
    traceback, counted as an error."""

    def test_a_stopped_model(self, tmp_path: Path, sentiment: Server) -> None:
        stopped = Server(create_tagger(Settings()))
        stopped.stop()
        client = TestClient(
            create_app(web_env(tmp_path, {"document_tagging": stopped.url, "sentiment_analysis": sentiment.url}))
        )
        response = api(client, CLEAR_TEXTS["tech"])
        assert response.status_code == 502
        assert response.json()["component"] == "document_tagging"
        assert response.json()["detail"].startswith("document_tagging did not answer (")
        page = client.get("/", params={"text": CLEAR_TEXTS["tech"]})
        assert page.status_code == 502
        assert "document_tagging did not answer" in page.text and "Traceback" not in page.text
        errors = samples(client)[("mlops_http_errors_total", labels(method="POST", route="/predict"))]
        assert errors == 1

    @pytest.mark.parametrize(
        ("mode", "problem"),
        [("error", "answered 500 Internal Server Error"), ("malformed", "answered in an unexpected shape")],
    )
    def test_a_failing_sentiment_model(self, web: TestClient, sentiment: Server, mode: str, problem: str) -> None:
        stand_in_state(sentiment).mode = mode
        response = api(web, CLEAR_TEXTS["tech"])
        assert response.status_code == 502
        assert response.json()["component"] == "sentiment_analysis"
        assert response.json()["detail"].startswith(f"sentiment_analysis {problem}")

    def test_a_slow_model_is_given_up_on(self, tmp_path: Path, urls: dict[str, str], sentiment: Server) -> None:
        stand_in_state(sentiment).mode = "slow"
        client = TestClient(create_app(web_env(tmp_path, urls), model_timeout=0.3))
        started = time.monotonic()
        response = api(client, CLEAR_TEXTS["tech"])
        assert time.monotonic() - started < 1.4
        assert response.status_code == 502
        assert response.json()["detail"] == "sentiment_analysis did not answer within 0.3 s"


def labels(**extra: str) -> frozenset[tuple[str, str]]:
    identity_labels = {"component": "nlp_document_classifier", "version": "161", "track": "stable"}
    return frozenset({**identity_labels, **extra}.items())


class TestMetrics:
    """The web app's requests are counted with component, version and track; the model counts the
    web app as its caller."""

    def test_labelled_requests(self, web: TestClient, tagger: Server) -> None:
        def calls_from_the_web_app() -> float:
            with urllib.request.urlopen(f"{tagger.url}/metrics", timeout=10) as response:
                families = text_string_to_metric_families(response.read().decode())
            return sum(
                sample.value
                for family in families
                for sample in family.samples
                if sample.name == "mlops_http_requests_total"
                and sample.labels["caller"] == "nlp_document_classifier"
                and sample.labels["route"] == "/predict"
            )

        before = calls_from_the_web_app()
        web.get("/", params={"text": "x"})
        api(web, "y")
        api(web, "z", key=None)
        found = samples(web)
        for method, route, status in (("GET", "/", "200"), ("POST", "/predict", "200"), ("POST", "/predict", "401")):
            requests = labels(method=method, route=route, status=status, caller="external")
            assert found[("mlops_http_requests_total", requests)] == 1
        assert found[("mlops_http_request_duration_seconds_count", labels(method="GET", route="/"))] == 1
        assert not [key for key in found if key[0] == "mlops_http_errors_total"]
        # The page and the API each called the model once; the key check stopped the third call.
        assert calls_from_the_web_app() == before + 2

    def test_health(self, web: TestClient) -> None:
        for path in ("/healthz", CATALOGUE["health_path"]):
            expected = {"status": "ok", "component": "nlp_document_classifier", "version": "161", "track": "stable"}
            assert web.get(path).json() == expected


class TestImage(model_tests.TestImage):
    """The web app's Dockerfile, held to the same rules as document_tagging's."""

    APP: ClassVar[Path] = WEB_DIR

    def test_copies_its_data_and_static_files(self) -> None:
        sources = model_tests.copied_sources(WEB_DIR)
        assert {"nlp_document_classifier/data/", "nlp_document_classifier/static/"} <= set(sources)
