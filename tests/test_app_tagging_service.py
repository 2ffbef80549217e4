"""The document tagging model service (apps/document_tagging) in-process: `/predict` tags documents,
`/metrics` counts requests, predictions and feedback, and a bad app config stops it with one line.
Nothing here needs Docker."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .test_apps import CLEAR_TEXTS, client, create_app, predict, samples


class TestPredict:
    """`POST /predict` tags documents: probabilities over every class, summing to 1, and the tags at
    or above the app config's threshold, most likely first."""

    def test_each_class_is_recognised(self) -> None:
        predictions = predict(client(), *CLEAR_TEXTS.values())
        assert [p["tags"] for p in predictions] == [[label] for label in CLEAR_TEXTS]

    def test_probabilities_cover_every_class_and_sum_to_one(self) -> None:
        for prediction in predict(client(), *CLEAR_TEXTS.values(), "", "zzz qqq"):
            assert sorted(prediction["probabilities"]) == sorted(CLEAR_TEXTS)
            assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)
        # Words the model never saw: the priors, and nothing likely enough to be a tag.
        assert prediction["tags"] == []
        assert list(prediction["probabilities"].values()) == pytest.approx([0.2] * len(CLEAR_TEXTS))

    def test_threshold_decides_the_tags(self) -> None:
        low = client({"threshold": 0.0})
        [prediction] = predict(low, CLEAR_TEXTS["sport"])
        assert prediction["tags"][0] == "sport"
        assert sorted(prediction["tags"]) == sorted(CLEAR_TEXTS)
        ranked = [prediction["probabilities"][tag] for tag in prediction["tags"]]
        assert ranked == sorted(ranked, reverse=True)

    def test_merge_and_drop_classes(self) -> None:
        merge = {"tech": "technology", "business": "economy", "politics": "economy"}
        config = {"merge_classes": merge, "drop_classes": ["sport"]}
        [prediction] = predict(client(config), CLEAR_TEXTS["tech"])
        assert sorted(prediction["probabilities"]) == ["economy", "entertainment", "technology"]
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)
        assert prediction["tags"] == ["technology"]

    @pytest.mark.parametrize(
        "body",
        [{}, {"instances": []}, {"instances": [1]}, {"instances": "text"}, {"instances": ["a"], "extra": 1}],
        ids=["missing", "empty", "not-text", "not-a-list", "unknown-key"],
    )
    def test_bad_bodies_are_422(self, body: dict[str, Any]) -> None:
        assert client().post("/predict", json=body).status_code == 422

    def test_api_key_when_one_is_mounted(self, tmp_path: Path) -> None:
        (tmp_path / "api-key").write_text("s3cret-key\n")
        keyed = client(env={"MLOPS_API_KEY_PATH": str(tmp_path / "api-key")})
        body = {"instances": ["x"]}
        assert keyed.post("/predict", json=body).status_code == 401
        assert keyed.post("/predict", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert keyed.post("/predict", json=body, headers={"X-API-Key": "s3cret-key"}).status_code == 200


class TestMetrics:
    """`/metrics` counts requests, latency and errors, labelled with component, version and track,
    and the model's predictions and the feedback on them (the runtime helper's metrics)."""

    ENV: ClassVar[dict[str, str]] = {
        "MLOPS_COMPONENT": "document_tagging",
        "MLOPS_VERSION": "158",
        "MLOPS_TRACK": "canary",
        "MLOPS_CALLERS": "nlp_document_classifier",
    }

    def labels(self, **extra: str) -> frozenset[tuple[str, str]]:
        identity = {"component": "document_tagging", "version": "158", "track": "canary"}
        return frozenset({**identity, **extra}.items())

    def test_requests_latency_and_predictions(self) -> None:
        test_client = client(env=self.ENV)
        predict(test_client, CLEAR_TEXTS["sport"], CLEAR_TEXTS["politics"])
        test_client.get("/healthz", headers={"X-Mlops-Caller": "nlp_document_classifier"})
        found = samples(test_client)
        route = {"method": "POST", "route": "/predict"}
        assert found[("mlops_http_requests_total", self.labels(**route, status="200", caller="external"))] == 1
        assert found[("mlops_http_request_duration_seconds_count", self.labels(**route))] == 1
        health = {"method": "GET", "route": "/healthz", "status": "200", "caller": "nlp_document_classifier"}
        assert found[("mlops_http_requests_total", self.labels(**health))] == 1
        assert found[("mlops_predictions_total", self.labels(predicted="sport"))] == 1
        assert found[("mlops_predictions_total", self.labels(predicted="politics"))] == 1
        assert not [key for key in found if key[0] == "mlops_http_errors_total"]

    def test_feedback_names_a_tag_this_version_returns(self) -> None:
        test_client = client({"merge_classes": {"tech": "technology"}}, self.ENV)
        for correct in (True, True, False):
            response = test_client.post("/feedback", json={"predicted": "technology", "correct": correct})
            assert response.status_code == 200, response.text
        # Merged away, or never a class: refused, so the label's values stay the version's tags.
        for predicted in ("tech", "weather"):
            assert test_client.post("/feedback", json={"predicted": predicted, "correct": True}).status_code == 422
        found = samples(test_client)
        assert found[("mlops_feedback_total", self.labels(predicted="technology", correct="true"))] == 2
        assert found[("mlops_feedback_total", self.labels(predicted="technology", correct="false"))] == 1
        assert found[("mlops_model_accuracy", self.labels())] == pytest.approx(2 / 3)

    def test_failures_are_counted_as_errors(self) -> None:
        class Broken:
            def tag(self, text: str) -> dict[str, Any]:
                raise RuntimeError("model fell over")

        test_client = client(env=self.ENV, raise_server_exceptions=False)
        test_client.app.state.tagger = Broken()
        assert test_client.post("/predict", json={"instances": ["x"]}).status_code == 500
        found = samples(test_client)
        route = {"method": "POST", "route": "/predict"}
        assert found[("mlops_http_errors_total", self.labels(**route))] == 1
        assert found[("mlops_http_requests_total", self.labels(**route, status="500", caller="external"))] == 1

    def test_unknown_paths_share_one_label(self) -> None:
        test_client = client(env=self.ENV)
        for path in ("/a", "/b/c"):
            assert test_client.get(path).status_code == 404
        found = samples(test_client)
        unmatched = {"method": "GET", "route": "unmatched", "status": "404", "caller": "external"}
        assert found[("mlops_http_requests_total", self.labels(**unmatched))] == 2


class TestBadInput:
    """Bad app config stops the service with one line naming the key and the fix, before the
    port opens; never a traceback."""

    @pytest.fixture(autouse=True)
    def bare_environment(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """Each test builds the app as the server does, from the process environment alone; gs://
        artifacts come from an (empty) local mirror, never the network."""
        for name in [name for name in os.environ if name.startswith("MLOPS_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("MLOPS_ARTIFACT_MIRROR", str(tmp_path / "mirror"))

    @pytest.mark.parametrize(
        ("config", "key"),
        [
            ({"threshold": 2}, "threshold"),
            ({"treshold": 0.5}, "treshold"),
            ({"merge_classes": ["tech"]}, "merge_classes"),
            ({"drop_classes": "other"}, "drop_classes"),
            ({"drop_classes": list(CLEAR_TEXTS)}, "drop_classes"),
            ({"target": "sentiment"}, "target"),
            ({"model": {"task": "regression"}}, "model.task"),
            ({"model": {"framework": "sklearn"}}, "model.framework"),
            ({"model": {"artifact": "gs://Acme_Models/model.json"}}, "model.artifact"),
            ({"model": {"artifact": "../sentiment_analysis/model.json"}}, "model.artifact"),
            ({"model": {"artifact": "gs://acme-models/document_tagging/model.json"}}, "not in the local mirror"),
            ({"model": {"artifact": "model/missing.json"}}, "missing.json"),
            ([1, 2], "JSON object"),
        ],
    )
    def test_one_line(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: Any, key: str) -> None:
        (tmp_path / "app_config.yaml").write_text(json.dumps(config))
        monkeypatch.setenv("MLOPS_APP_CONFIG_PATH", str(tmp_path / "app_config.yaml"))
        with pytest.raises(SystemExit) as exit_info:
            create_app()
        message = str(exit_info.value.code)
        assert message.startswith("document_tagging: ")
        assert key in message
        assert "\n" not in message

    @pytest.mark.parametrize("variable", ["MLOPS_APP_CONFIG_PATH", "MLOPS_API_KEY_PATH"])
    def test_unreadable_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str) -> None:
        monkeypatch.setenv(variable, str(tmp_path / "absent"))
        with pytest.raises(SystemExit, match=rf"absent \({variable}\): cannot read .*: fix {variable}$"):
            create_app()

    def test_only_the_mounted_file_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Pods get the app config as a file only: the old inline variable means nothing now."""
        monkeypatch.setenv("MLOPS_APP_CONFIG", json.dumps({"threshold": 7}))
        assert create_app().title == "document_tagging"
