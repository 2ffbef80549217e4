"""How the web app `nlp_document_classifier` starts: every catalogued version does, a bad app config
or environment config stops it with one line naming the file, the key and the fix, and it runs as
`mlops run` and its image start it. Its models are the servers of test_app_web.py's fixtures;
nothing here needs Docker or the network beyond the loopback."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from .test_app_web import CATALOGUE, ENVIRONMENT_CONFIG, VERSIONS, WEB_DIR, Server, create_app, web_env

# The fixtures the tests use, aliased: an alias marks a name as re-exported (pytest finds them here).
from .test_app_web import sentiment as sentiment
from .test_app_web import sentiment_server as sentiment_server
from .test_app_web import tagger as tagger
from .test_app_web import urls as urls
from .test_apps import CLEAR_TEXTS, clean_env, dockerfile_instructions, entrypoint, serving


class TestBadConfig:
    """Every catalogued version starts; a bad app config or environment config stops the app with
    one line naming the file, the key and the fix, before the port opens."""

    @pytest.mark.parametrize("version", sorted(VERSIONS))
    def test_every_catalogued_version_starts(self, tmp_path: Path, urls: dict[str, str], version: int) -> None:
        client = TestClient(create_app(web_env(tmp_path, urls, VERSIONS[version]["app_config"])))
        response = client.get("/", params={"text": CLEAR_TEXTS["sport"]})
        assert response.status_code == 200
        assert f"<title>{VERSIONS[version]['app_config']['app_title']} - (Integration)</title>" in response.text
        assert ("Sentiment:" in response.text) == VERSIONS[version]["app_config"].get("show_sentiment", False)

    @pytest.mark.parametrize(
        ("change", "key"),
        [
            ({"model_nmae": "document_tagging"}, "model_nmae is not a setting of this app"),
            ({"model_name": "Document-Tagging"}, "model_name"),
            ({"model_name": ""}, "model_name"),
            ({"show_sentiment": "yes"}, "show_sentiment"),
            ({"show_sentiment": True, "sentiment_model_name": None}, "sentiment_model_name is not set"),
            ({"data_file_name": "../document_tagging/data/articles.csv"}, "data_file_name"),
            ({"data_file_name": "missing.csv"}, "no such file in data/ (present: bbc_small.csv)"),
            ({"target": "topic"}, "has no 'topic' column"),
            ({"logo_image_url": "http://example.com/logo.svg"}, "logo_image_url"),
            ({"logo_image_url": "static/images/missing.svg"}, "logo_image_url"),
            ({"app_title": ""}, "app_title"),
            ({"app_title": ["AI"]}, "app_title"),
        ],
    )
    def test_app_config(self, tmp_path: Path, urls: dict[str, str], change: dict[str, Any], key: str) -> None:
        config = {k: v for k, v in {**VERSIONS[161]["app_config"], **change}.items() if v is not None}
        message = start_failure(web_env(tmp_path, urls, config))
        assert message.startswith(f"nlp_document_classifier: {tmp_path / 'app_config.yaml'}: ")
        assert key in message
        assert message.endswith("fix the version's app_config in config/components/nlp_document_classifier.yaml")

    @pytest.mark.parametrize(
        ("change", "key"),
        [({"colour1": "red; } body { display: none"}, "colour1"), ({"colour2": 7}, "colour2"),
         ({"app_title_extension": ["x"]}, "app_title_extension")],
    )  # fmt: skip
    def test_environment_config(self, tmp_path: Path, urls: dict[str, str], change: dict[str, Any], key: str) -> None:
        message = start_failure(web_env(tmp_path, urls, environment={**ENVIRONMENT_CONFIG, **change}))
        assert message.startswith(f"nlp_document_classifier: {tmp_path / 'environment_config.yaml'}: {key} ")
        assert message.endswith("fix mlops:environment_config in the stack file (Pulumi.<stack>.yaml)")

    def test_a_model_it_may_not_call(self, tmp_path: Path, tagger: Server) -> None:
        """show_sentiment needs the sentiment model pinned and in the catalogue's `calls`."""
        message = start_failure(web_env(tmp_path, {"document_tagging": tagger.url}))
        assert (
            "sentiment_analysis: component 'sentiment_analysis' is not one nlp_document_classifier may call" in message
        )

    def test_unreadable_key(self, tmp_path: Path, urls: dict[str, str]) -> None:
        env = web_env(tmp_path, urls, MLOPS_API_KEY_PATH=str(tmp_path / "absent"))
        assert "(MLOPS_API_KEY_PATH): cannot read the API key" in start_failure(env)


def start_failure(env: dict[str, str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        create_app(env)
    message = str(exit_info.value.code)
    assert message.startswith("nlp_document_classifier: ") and "\n" not in message
    return message


class TestProcess:
    """The app as `mlops run` starts it (the catalogue's `run:` command, from the app's folder) and as
    its image does: it answers on loopback, or stops with one line."""

    COMMAND: ClassVar[list[str]] = ["-m", "uvicorn", "--factory", "nlp_document_classifier.app:create_app"]

    def test_serves_health_metrics_and_the_page(self, tmp_path: Path, urls: dict[str, str], free_tcp_port: int) -> None:
        env = clean_env(**web_env(tmp_path, urls))
        command = [*self.COMMAND, "--host", "127.0.0.1", "--port", str(free_tcp_port)]
        base = f"http://127.0.0.1:{free_tcp_port}"
        with serving(command, WEB_DIR, env, free_tcp_port, "/healthz") as health:
            assert (health["component"], health["version"]) == ("nlp_document_classifier", "161")
            with urllib.request.urlopen(f"{base}/?text=The+striker+scored+in+the+cup+final", timeout=10) as response:
                assert "category: <strong>sport</strong>" in response.read().decode()
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                metrics = response.read().decode()
        pages = [
            sample.labels
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
            if sample.name == "mlops_http_requests_total" and sample.labels["route"] == "/"
        ]
        assert [(page["component"], page["version"], page["status"]) for page in pages] == [
            ("nlp_document_classifier", "161", "200")
        ]

    def test_bad_config_is_one_line(self, tmp_path: Path, urls: dict[str, str]) -> None:
        env = clean_env(**web_env(tmp_path, urls, {"show_sentiment": "yes"}))
        command = [sys.executable, *self.COMMAND, "--host", "127.0.0.1", "--port", "1"]
        done = subprocess.run(command, cwd=WEB_DIR, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert done.stderr.splitlines() == [
            f"nlp_document_classifier: {tmp_path / 'app_config.yaml'}: show_sentiment is 'yes': use true or false: "
            "fix the version's app_config in config/components/nlp_document_classifier.yaml"
        ]

    def test_the_image_runs_the_same_factory_on_the_catalogue_port(self) -> None:
        port = str(CATALOGUE["port"])
        assert entrypoint(WEB_DIR) == ["python", *self.COMMAND, "--host", "0.0.0.0", "--port", port,
                                       "--timeout-graceful-shutdown", "20"]  # fmt: skip
        assert [args for name, args in dockerfile_instructions(WEB_DIR) if name == "EXPOSE"] == [port]
