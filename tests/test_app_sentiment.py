"""The sentiment analysis model service (apps/sentiment_analysis): a classifier or a regressor, as
the version's app config says, answering in-process; the requests it takes; one line for every bad
app config; reproducible training. Nothing here needs Docker, a cluster or the network: gs://
artifacts come from the repository's mirror of the bucket (artifacts/). (Its metrics, the real
server and the image: test_app_sentiment_server.py.)"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from .conftest import REPO, load_yaml

APP_DIR = REPO / "apps" / "sentiment_analysis"
MIRROR = REPO / "artifacts"
CATALOGUE = load_yaml(REPO / "config" / "components" / "sentiment_analysis.yaml")
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from sentiment_analysis.app import MAX_TEXT_CHARS, MAX_TEXTS, create_app  # noqa: E402 (not an installed package)
from sentiment_analysis.model import FRAMEWORK, Regressor  # noqa: E402

# The app configs of catalogue versions 210 (classification) and 211 (regression).
CLASSIFIER = {
    "model": {
        "task": "classification",
        "framework": FRAMEWORK,
        "artifact": "gs://acme-ml-platform-ml-artifacts/models/sentiment/210/classifier.json",
    }
}
REGRESSOR = {
    "model": {
        "task": "regression",
        "framework": FRAMEWORK,
        "artifact": "gs://acme-ml-platform-ml-artifacts/models/sentiment/211/regressor.json",
    }
}
CLASSES = ["negative", "neutral", "positive"]
CLEAR = {
    "positive": "The staff were friendly and the food was delicious, I highly recommend it.",
    "negative": "Terrible service, the food was cold and the waiter was rude.",
    "neutral": "The shop opens at nine on weekdays.",
}


def environ(tmp_path: Path, config: Any = None, **extra: str) -> dict[str, str]:
    """What `mlops run` gives the server: the app config in a file, the repository's mirror."""
    env = {"MLOPS_ARTIFACT_MIRROR": str(MIRROR), **extra}
    if config is not None:
        path = tmp_path / "app_config.yaml"
        path.write_text(json.dumps(config))
        env["MLOPS_APP_CONFIG_PATH"] = str(path)
    return env


def client(env: dict[str, str] | None = None, **kwargs: Any) -> TestClient:
    return TestClient(create_app(env or {}), **kwargs)


def predict(test_client: TestClient, *texts: str, **headers: str) -> list[dict[str, Any]]:
    response = test_client.post("/predict", json={"text": list(texts)}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def samples(test_client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample /metrics exposes, as plain data: (name, labels) -> value."""
    return parse_metrics(test_client.get("/metrics").text)


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would point the server elsewhere."""
    outside = ("MLOPS_", "GCE_METADATA_HOST", "STORAGE_EMULATOR_HOST", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(outside)}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


class TestClassification:
    """The default (the shipped classifier) and version 210 (the same model from the bucket): the
    most likely class and every returned class's probability, summing to 1."""

    @pytest.mark.parametrize("config", [None, CLASSIFIER], ids=["shipped", "version-210"])
    def test_clear_texts(self, tmp_path: Path, config: Any) -> None:
        predictions = predict(client(environ(tmp_path, config)), *CLEAR.values())
        assert [p["label"] for p in predictions] == list(CLEAR)
        for prediction in predictions:
            assert prediction["probabilities"][prediction["label"]] == max(prediction["probabilities"].values())

    def test_probabilities_cover_every_class_and_sum_to_one(self) -> None:
        texts = [*CLEAR.values(), "", "zzz qqq", "not bad at all", "awful " * (MAX_TEXT_CHARS // 6)]
        for prediction in predict(client(), *texts):
            assert sorted(prediction["probabilities"]) == CLASSES
            assert abs(sum(prediction["probabilities"].values()) - 1) <= 1e-9
            assert all(0 <= p <= 1 for p in prediction["probabilities"].values())

    def test_labels_choose_the_classes_returned(self, tmp_path: Path) -> None:
        config = {**CLASSIFIER, "labels": ["positive", "negative"]}
        # A long negative text: the classes left out would dwarf the rest, which must not underflow.
        positive, negative, long_negative = predict(
            client(environ(tmp_path, config)), CLEAR["positive"], CLEAR["neutral"], "rude awful cold " * 5000
        )
        for prediction in (positive, negative, long_negative):
            assert sorted(prediction["probabilities"]) == ["negative", "positive"]
            assert abs(sum(prediction["probabilities"].values()) - 1) <= 1e-9
        assert positive["label"] == "positive"
        assert long_negative["label"] == "negative"

    def test_the_catalogue_smoke_request(self, tmp_path: Path) -> None:
        for config in (None, CLASSIFIER, REGRESSOR):
            response = client(environ(tmp_path, config)).post(
                CATALOGUE["smoke"]["path"], json=CATALOGUE["smoke"]["json"]
            )
            assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["value"] > 0


class TestRegression:
    """Version 211: a sentiment score from -1 to 1 per text."""

    def test_a_number_per_text(self, tmp_path: Path) -> None:
        long = MAX_TEXT_CHARS // 6
        texts = [*CLEAR.values(), "", "awful", "awful " * long, "great " * long]
        predictions = predict(client(environ(tmp_path, REGRESSOR)), *texts)
        values = [p["value"] for p in predictions]
        assert all(list(p) == ["value"] and isinstance(p["value"], float) for p in predictions)
        assert all(-1 <= value <= 1 for value in values)
        positive, negative, neutral, empty, awful, many_awful, many_great = values
        assert negative < -0.2 < neutral < 0.2 < positive
        assert abs(empty) < 0.1
        # A text's words count once each: repeating one adds no evidence.
        assert many_awful == awful < 0 < many_great

    def test_clipped_to_the_trained_range(self) -> None:
        artifact = {"range": [-1.0, 1.0], "intercept": 0.0, "weights": {"awful": -3.0, "great": 3.0}}
        model = Regressor.from_artifact(artifact)
        assert (model.value("awful"), model.value("great"), model.value("great awful")) == (-1.0, 1.0, 0.0)

    def test_predictions_and_feedback_count_as_value(self, tmp_path: Path) -> None:
        test_client = client(environ(tmp_path, REGRESSOR, MLOPS_VERSION="211"))
        predict(test_client, CLEAR["positive"], CLEAR["negative"])
        assert test_client.post("/feedback", json={"predicted": "value", "correct": True}).status_code == 200
        assert test_client.post("/feedback", json={"predicted": "positive", "correct": True}).status_code == 422
        identity = {"component": "sentiment_analysis", "version": "211", "track": "stable"}
        found = samples(test_client)
        assert found[("mlops_predictions_total", frozenset({**identity, "predicted": "value"}.items()))] == 2
        assert found[("mlops_model_accuracy", frozenset(identity.items()))] == 1


class TestRequests:
    """The body is `{"text": [...]}`: 1 to 256 strings of at most 100000 characters, nothing else."""

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"text": []},
            {"text": "one text"},
            {"text": [1]},
            {"text": [None]},
            {"text": ["a"], "instances": ["a"]},
            {"instances": ["a"]},
            {"text": ["x"] * (MAX_TEXTS + 1)},
            {"text": ["x" * (MAX_TEXT_CHARS + 1)]},
        ],
        ids=["missing", "empty", "not-a-list", "number", "null", "extra-key", "wrong-key", "too-many", "too-long"],
    )
    def test_bad_bodies_are_422(self, body: dict[str, Any]) -> None:
        assert client().post("/predict", json=body).status_code == 422

    def test_the_limits_themselves_are_accepted(self) -> None:
        assert len(predict(client(), *["fine"] * MAX_TEXTS)) == MAX_TEXTS
        assert len(predict(client(), "x" * MAX_TEXT_CHARS)) == 1

    def test_no_key_mounted_lets_everyone_in(self) -> None:
        assert client().post("/predict", json={"text": ["x"]}, headers={"X-API-Key": "anything"}).status_code == 200

    def test_a_mounted_key_is_required(self, tmp_path: Path) -> None:
        (tmp_path / "api-key").write_text("s3cret-key\n")
        keyed = client({"MLOPS_API_KEY_PATH": str(tmp_path / "api-key")})
        body = {"text": ["x"]}
        assert keyed.post("/predict", json=body).status_code == 401
        assert keyed.post("/predict", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert keyed.post("/predict", json=body, headers={"X-API-Key": "s3cret-key"}).status_code == 200


def catalogued_model_configs() -> list[Any]:
    """Catalogue versions whose app config names a `model` (the ones built from this source)."""
    return [
        pytest.param(entry["app_config"], id=str(entry["id"]))
        for entry in CATALOGUE["versions"]
        if "model" in entry.get("app_config", {})
    ]


@pytest.mark.parametrize("config", catalogued_model_configs())
def test_every_catalogued_model_config_starts_from_the_mirror(tmp_path: Path, config: dict[str, Any]) -> None:
    [prediction] = predict(client(environ(tmp_path, config)), CLEAR["positive"])
    if config["model"]["task"] == "regression":
        assert prediction["value"] > 0
    else:
        assert prediction["label"] == "positive"


OTHER_FRAMEWORK = {"task": "classification", "framework": "scikit-learn", "format": 1}


class TestBadAppConfig:
    """Every bad app config stops the service with one line naming the key and the fix, before the
    port opens: a SystemExit, never a traceback."""

    @pytest.mark.parametrize(
        ("config", "key"),
        [
            ({"modle": {}}, "modle is not a setting"),
            ({"threshold": 0.5}, "threshold is not a setting"),
            ({"model": "gs://acme-ml-models/sentiment/210/classifier.json"}, "model must be a mapping"),
            ({"model": {**CLASSIFIER["model"], "version": 3}}, "model.version is not known"),
            ({"model": {"task": "classification", "framework": FRAMEWORK}}, "model.artifact is missing"),
            ({"model": {"task": "classification", "artifact": "model/classifier.json"}}, "model.framework is missing"),
            ({"model": {**CLASSIFIER["model"], "task": "ranking"}}, "model.task is 'ranking'"),
            ({"model": {**CLASSIFIER["model"], "framework": "scikit-learn"}}, "model.framework is 'scikit-learn'"),
            ({"model": {**CLASSIFIER["model"], "artifact": ""}}, "model.artifact must be"),
            ({"model": {**CLASSIFIER["model"], "artifact": 7}}, "model.artifact must be"),
            ({"model": {**CLASSIFIER["model"], "artifact": "gs://acme-ml-models/sentiment/"}}, "model.artifact"),
            ({"model": {**CLASSIFIER["model"], "artifact": "gs://Acme_Models/a.json"}}, "model.artifact"),
            ({"model": {**CLASSIFIER["model"], "artifact": "gs://acme-ml-models/a/../b.json"}}, "model.artifact"),
            ({"model": {**CLASSIFIER["model"], "artifact": "s3://acme-ml-models/a.json"}}, "model.artifact"),
            ({"model": {**CLASSIFIER["model"], "artifact": "/srv/app/model/classifier.json"}}, "model.artifact"),
            ({"model": {**CLASSIFIER["model"], "artifact": "../document_tagging/model/model.json"}}, "model.artifact"),
            ({"model": {**CLASSIFIER["model"], "artifact": "model/missing.json"}}, "missing.json cannot be read"),
            (
                {"model": {**CLASSIFIER["model"], "artifact": "gs://acme-ml-models/x/nope.json"}},
                "not in the local mirror",
            ),
            ({"model": {**REGRESSOR["model"], "task": "classification"}}, "is a regression model but model.task"),
            ({"model": {**CLASSIFIER["model"], "task": "regression"}}, "is a classification model but model.task"),
            ({**REGRESSOR, "labels": ["positive"]}, "labels applies to classification only"),
            ({"labels": ["positive", "happy"]}, "labels names 'happy'"),
            ({"labels": "positive"}, "labels must be"),
            ({"labels": []}, "labels must be"),
            ({"labels": ["positive", "positive"]}, "labels must be"),
        ],
    )
    def test_one_line(self, tmp_path: Path, config: Any, key: str) -> None:
        with pytest.raises(SystemExit) as exit_info:
            create_app(environ(tmp_path, config))
        message = str(exit_info.value.code)
        assert message.startswith(f"sentiment_analysis: {tmp_path / 'app_config.yaml'}: ")
        assert key in message
        assert "\n" not in message

    @pytest.mark.parametrize(
        ("artifact", "says"),
        [
            ({**OTHER_FRAMEWORK, "classes": CLASSES}, "declares framework 'scikit-learn' but model.framework"),
            ({"format": "naive-bayes/1", "classes": CLASSES}, "declares task None"),
            ({**OTHER_FRAMEWORK, "framework": FRAMEWORK, "format": 2}, "has format 2"),
            ({**OTHER_FRAMEWORK, "framework": FRAMEWORK, "classes": CLASSES}, "missing or malformed field"),
            ("not json", "is not JSON"),
        ],
    )
    def test_artifacts_that_do_not_fit(self, tmp_path: Path, artifact: Any, says: str) -> None:
        """The artifact is checked against the app config: its task, its framework, its format."""
        local = tmp_path / "mirror" / "acme-ml-models" / "other" / "model.json"
        local.parent.mkdir(parents=True)
        local.write_text(artifact if isinstance(artifact, str) else json.dumps(artifact))
        config = {"model": {**CLASSIFIER["model"], "artifact": "gs://acme-ml-models/other/model.json"}}
        env = {**environ(tmp_path, config), "MLOPS_ARTIFACT_MIRROR": str(tmp_path / "mirror")}
        with pytest.raises(SystemExit) as exit_info:
            create_app(env)
        message = str(exit_info.value.code)
        assert says in message and "model.artifact gs://acme-ml-models/other/model.json" in message
        assert "\n" not in message

    @pytest.mark.parametrize(
        ("variable", "value", "says"),
        [
            ("MLOPS_APP_CONFIG_PATH", "absent.yaml", "cannot read the app config"),
            ("MLOPS_APP_CONFIG_PATH", "list.yaml", "must be a JSON object"),
            ("MLOPS_API_KEY_PATH", "empty-key", "the API key file is empty"),
            ("MLOPS_TRACK", "blue", "must be stable or canary"),
        ],
    )
    def test_what_the_runtime_reads(self, tmp_path: Path, variable: str, value: str, says: str) -> None:
        (tmp_path / "list.yaml").write_text("[1, 2]")
        (tmp_path / "empty-key").write_text("\n")
        path_value = str(tmp_path / value) if variable.endswith("_PATH") else value
        with pytest.raises(SystemExit) as exit_info:
            create_app({variable: path_value})
        message = str(exit_info.value.code)
        assert message.startswith("sentiment_analysis: ") and says in message and "\n" not in message


def train_module() -> Any:
    """apps/sentiment_analysis/train.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("sentiment_analysis_train", APP_DIR / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestTraining:
    """`train.py` is deterministic: the shipped models and their mirrored copies are exactly what it writes."""

    SHIPPED: ClassVar[dict[str, str]] = {
        "classifier.json": "acme-ml-platform-ml-artifacts/models/sentiment/210/classifier.json",
        "regressor.json": "acme-ml-platform-ml-artifacts/models/sentiment/211/regressor.json",
    }

    def test_retraining_reproduces_the_committed_artifacts(self, tmp_path: Path) -> None:
        command = [sys.executable, str(APP_DIR / "train.py"), "--out", str(tmp_path / "model")]
        command += ["--mirror", str(tmp_path / "mirror")]
        subprocess.run(command, check=True, capture_output=True, env=clean_env(), timeout=120)
        for name, mirrored in self.SHIPPED.items():
            assert (tmp_path / "model" / name).read_bytes() == (APP_DIR / "model" / name).read_bytes(), name
            assert (tmp_path / "mirror" / mirrored).read_bytes() == (MIRROR / mirrored).read_bytes(), mirrored

    def test_the_mirror_holds_the_shipped_bytes(self) -> None:
        for name, mirrored in self.SHIPPED.items():
            assert (MIRROR / mirrored).read_bytes() == (APP_DIR / "model" / name).read_bytes()

    def test_order_of_the_reviews_does_not_matter(self) -> None:
        train = train_module()
        reviews = train.read_reviews(APP_DIR / "data" / "reviews.jsonl")
        assert train.artifacts(reviews) == train.artifacts(list(reversed(reviews)))
        assert 150 <= len(reviews) <= 300  # small enough to read, big enough for news text
        assert {label for _, label, _ in reviews} == set(CLASSES)

    def test_bad_training_data_is_one_line(self, tmp_path: Path) -> None:
        data = tmp_path / "reviews.jsonl"
        data.write_text('{"text": "lovely", "sentiment": "positive", "score": 0.5}\n{"text": "x", "score": 1}\n')
        with pytest.raises(SystemExit, match=r"reviews\.jsonl:2: each line must be a JSON object"):
            train_module().main(["--data", str(data), "--out", str(tmp_path / "out"), "--no-mirror"])
        data.write_text('{"text": "awful", "sentiment": "positive", "score": -0.5}\n')
        with pytest.raises(SystemExit, match=r"reviews\.jsonl:1: a positive review with score -0.5"):
            train_module().main(["--data", str(data), "--out", str(tmp_path / "out"), "--no-mirror"])
        assert not (tmp_path / "out").exists()
