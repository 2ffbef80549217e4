"""The example component source trees under `apps/`: the document tagging model service answers
in-process and as the image's own entrypoint, agrees with its catalogue entry, trains
reproducibly, and its image is pinned and runs as non-root. Nothing here needs Docker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import distribution, version
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client.parser import text_string_to_metric_families

from components.manifests import ComponentServiceArgs, deployment

from .conftest import REPO, load_yaml

APP_DIR = REPO / "apps" / "document_tagging"
CATALOGUE = load_yaml(REPO / "config" / "components" / "document_tagging.yaml")
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from document_tagging.app import HEALTH_PATHS, create_app  # noqa: E402 (the app is not an installed package)
from document_tagging.model import dumps, train  # noqa: E402
from document_tagging.settings import Settings, parse_app_config  # noqa: E402

CLEAR_TEXTS = {
    "business": "The bank's shares fell as investors worried about profits and interest rates.",
    "entertainment": "The actor's new film topped the box office and the soundtrack album charts.",
    "politics": "The minister told MPs the government would hold an election on tax policy.",
    "sport": "The club's striker scored in the cup final and the fans cheered the team.",
    "tech": "The software update fixed a security flaw that let hackers into users' phones.",
}


def client(env: dict[str, str] | None = None, **kwargs: Any) -> TestClient:
    return TestClient(create_app(Settings.from_env(env or {})), **kwargs)


def predict(test_client: TestClient, *texts: str) -> list[dict[str, Any]]:
    response = test_client.post("/predict", json={"instances": list(texts)})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def samples(test_client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample /metrics exposes, as plain data: (name, labels) -> value."""
    response = test_client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (APP_DIR / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and line[0] != "#"]


def entrypoint() -> list[str]:
    return json.loads(next(args for name, args in dockerfile_instructions() if name == "ENTRYPOINT"))


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


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
        low = client({"MLOPS_APP_CONFIG": json.dumps({"threshold": 0.0})})
        [prediction] = predict(low, CLEAR_TEXTS["sport"])
        assert prediction["tags"][0] == "sport"
        assert sorted(prediction["tags"]) == sorted(CLEAR_TEXTS)
        ranked = [prediction["probabilities"][tag] for tag in prediction["tags"]]
        assert ranked == sorted(ranked, reverse=True)

    def test_merge_and_drop_classes(self) -> None:
        merge = {"tech": "technology", "business": "economy", "politics": "economy"}
        config = {"merge_classes": merge, "drop_classes": ["sport"]}
        [prediction] = predict(client({"MLOPS_APP_CONFIG": json.dumps(config)}), CLEAR_TEXTS["tech"])
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
        keyed = client({"MLOPS_API_KEY_PATH": str(tmp_path / "api-key")})
        body = {"instances": ["x"]}
        assert keyed.post("/predict", json=body).status_code == 401
        assert keyed.post("/predict", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert keyed.post("/predict", json=body, headers={"X-API-Key": "s3cret-key"}).status_code == 200


class TestCatalogueAndDeployment:
    """The image fits its catalogue entry and the Deployment the stack renders for it
    (components/manifests.py): the variables and files the service reads are the ones provided,
    on the port, user and probe path the pod expects."""

    def test_health_paths(self) -> None:
        test_client = client({"MLOPS_VERSION": "158"})
        for path in ("/healthz", CATALOGUE["health_path"]):
            response = test_client.get(path)
            assert response.status_code == 200
            assert response.json() == {"status": "ok", "component": "document_tagging", "version": "158"}

    @pytest.mark.parametrize("entry", CATALOGUE["versions"], ids=lambda v: str(v["id"]))
    def test_every_catalogued_app_config_starts_the_service(self, entry: dict[str, Any]) -> None:
        test_client = client({"MLOPS_APP_CONFIG": json.dumps(entry.get("app_config", {}))})
        [prediction] = predict(test_client, CLEAR_TEXTS["tech"])
        expected = entry.get("app_config", {}).get("merge_classes", {}).get("tech", "tech")
        assert prediction["tags"] == [expected]

    def test_reads_the_app_config_file_the_deployment_mounts(self, tmp_path: Path) -> None:
        """The Deployment sets both MLOPS_APP_CONFIG_PATH and MLOPS_APP_CONFIG; the file wins."""
        path = tmp_path / "app_config.yaml"
        path.write_text(json.dumps({"threshold": 0.0}))
        env = {"MLOPS_APP_CONFIG_PATH": str(path), "MLOPS_APP_CONFIG": json.dumps({"threshold": 1.0})}
        assert Settings.from_env(env).app_config.threshold == 0.0

    @staticmethod
    def pod(component_type: str) -> dict[str, Any]:
        args = ComponentServiceArgs(
            project="document-tagging",
            environment="integration",
            namespace="document-tagging-integration",
            component="document_tagging",
            k8s_name="document-tagging",
            type=component_type,  # type: ignore[arg-type]
            version=158,
            label="v3",
            image=f"{CATALOGUE['image']}@sha256:{'0' * 64}",
            port=CATALOGUE["port"],
            health_path=CATALOGUE["health_path"],
            replicas=1,
            resources=CATALOGUE["resources"],
            low_latency_mode=False,
            api_key_secret="mlops-api-key",
        )
        return deployment(args, "document-tagging-app-config-158")["spec"]["template"]["spec"]

    def test_variables_the_service_reads_point_at_mounted_files(self) -> None:
        [model_container] = self.pod("model")["containers"]
        model_env = {item["name"] for item in model_container["env"]}
        assert {"MLOPS_COMPONENT", "MLOPS_VERSION", "MLOPS_APP_CONFIG_PATH", "MLOPS_APP_CONFIG"} <= model_env
        pod = self.pod("app")
        [container] = pod["containers"]
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        files = {
            f"{mounts[volume['name']]}/{item['path']}"
            for volume in pod["volumes"]
            for source in volume.get("projected", {}).get("sources", [])
            for item in next(iter(source.values()))["items"]
        }
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert {env["MLOPS_APP_CONFIG_PATH"], env["MLOPS_API_KEY_PATH"]} <= files

    def test_port_user_and_probes(self) -> None:
        pod = self.pod("model")
        [container] = pod["containers"]
        port = str(CATALOGUE["port"])
        assert [args for name, args in dockerfile_instructions() if name == "EXPOSE"] == [port]
        assert entrypoint()[entrypoint().index("--port") + 1] == port == str(container["ports"][0]["containerPort"])
        user = pod["securityContext"]["runAsUser"]
        assert [args for name, args in dockerfile_instructions() if name == "USER"] == [f"{user}:{user}"]
        assert container["readinessProbe"]["httpGet"]["path"] in HEALTH_PATHS


class TestMetrics:
    """`/metrics` counts requests, latency and errors, labelled with component, version and track."""

    ENV: ClassVar[dict[str, str]] = {"MLOPS_COMPONENT": "document_tagging", "MLOPS_VERSION": "158", "MLOPS_TRACK": "x"}

    def labels(self, **extra: str) -> frozenset[tuple[str, str]]:
        identity = {"component": "document_tagging", "version": "158", "track": "x"}
        return frozenset({**identity, **extra}.items())

    def test_requests_latency_and_predictions(self) -> None:
        test_client = client(self.ENV)
        predict(test_client, CLEAR_TEXTS["sport"], CLEAR_TEXTS["politics"])
        test_client.get("/healthz")
        found = samples(test_client)
        route = {"method": "POST", "route": "/predict"}
        assert found[("mlops_http_requests_total", self.labels(**route, status="200"))] == 1
        assert found[("mlops_http_request_duration_seconds_count", self.labels(**route))] == 1
        assert found[("mlops_http_requests_total", self.labels(method="GET", route="/healthz", status="200"))] == 1
        assert found[("mlops_predictions_total", self.labels(tag="sport"))] == 1
        assert found[("mlops_predictions_total", self.labels(tag="politics"))] == 1
        assert not [key for key in found if key[0] == "mlops_http_errors_total"]

    def test_failures_are_counted_as_errors(self) -> None:
        class Broken:
            def tag(self, text: str) -> dict[str, Any]:
                raise RuntimeError("model fell over")

        test_client = client(self.ENV, raise_server_exceptions=False)
        test_client.app.state.tagger = Broken()
        assert test_client.post("/predict", json={"instances": ["x"]}).status_code == 500
        found = samples(test_client)
        route = {"method": "POST", "route": "/predict"}
        assert found[("mlops_http_errors_total", self.labels(**route))] == 1
        assert found[("mlops_http_requests_total", self.labels(**route, status="500"))] == 1

    def test_unknown_paths_share_one_label(self) -> None:
        test_client = client(self.ENV)
        for path in ("/a", "/b/c"):
            assert test_client.get(path).status_code == 404
        found = samples(test_client)
        assert found[("mlops_http_requests_total", self.labels(method="GET", route="unmatched", status="404"))] == 2


class TestBadInput:
    """Bad app config stops the service with one line naming the key and the fix, before the
    port opens; never a traceback."""

    @pytest.fixture(autouse=True)
    def bare_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each test builds the app as the server does, from the process environment alone."""
        for name in [name for name in os.environ if name.startswith("MLOPS_")]:
            monkeypatch.delenv(name)

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
            ({"model": {"artifact": "gs://acme-models/document_tagging/model.json"}}, "model.artifact"),
            ({"model": {"artifact": "model/missing.json"}}, "missing.json"),
            ([1, 2], "top level"),
        ],
    )
    def test_one_line(self, monkeypatch: pytest.MonkeyPatch, config: Any, key: str) -> None:
        monkeypatch.setenv("MLOPS_APP_CONFIG", json.dumps(config))
        with pytest.raises(SystemExit) as exit_info:
            create_app()
        message = str(exit_info.value.code)
        assert message.startswith("document_tagging: ")
        assert key in message
        assert "\n" not in message

    @pytest.mark.parametrize("variable", ["MLOPS_APP_CONFIG_PATH", "MLOPS_API_KEY_PATH"])
    def test_unreadable_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str) -> None:
        monkeypatch.setenv(variable, str(tmp_path / "absent"))
        with pytest.raises(SystemExit, match=f"absent: cannot read .*: fix {variable}$"):
            create_app()


class TestEntrypoint:
    """The Dockerfile's ENTRYPOINT, run with this Python from the image's working directory:
    it serves the app, or stops with one line before opening the port."""

    def test_bad_config_is_one_line(self, tmp_path: Path) -> None:
        (tmp_path / "app_config.yaml").write_text('{"threshold": 7}')
        env = clean_env(MLOPS_APP_CONFIG_PATH=str(tmp_path / "app_config.yaml"))
        done = subprocess.run([sys.executable, *entrypoint()[1:]], cwd=APP_DIR, env=env, capture_output=True, text=True)
        assert done.returncode != 0
        assert done.stderr.splitlines() == [
            f"document_tagging: {tmp_path / 'app_config.yaml'}: threshold must be a number from 0 to 1, not 7: "
            "fix the version's app_config in config/components/document_tagging.yaml"
        ]

    def test_serves_on_loopback(self, free_tcp_port: int) -> None:
        command = entrypoint()
        command[command.index("--host") + 1] = "127.0.0.1"
        command[command.index("--port") + 1] = str(free_tcp_port)
        env = clean_env(MLOPS_VERSION="158")
        server = subprocess.Popen([sys.executable, *command[1:]], cwd=APP_DIR, env=env, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{free_tcp_port}"
        try:
            deadline = time.monotonic() + 30
            while server.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"{base}{CATALOGUE['health_path']}", timeout=2) as response:
                        assert json.load(response)["version"] == "158"
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"the server exited ({server.returncode}) or did not answer within 30 s")
            body = json.dumps({"instances": [CLEAR_TEXTS["business"]]}).encode()
            request = urllib.request.Request(f"{base}/predict", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.load(response)["predictions"][0]["tags"] == ["business"]
        finally:
            server.terminate()
            server.wait(timeout=30)


class TestTraining:
    """`train.py` is deterministic: the shipped model is exactly what it writes."""

    def test_retraining_reproduces_the_shipped_model(self, tmp_path: Path) -> None:
        out = tmp_path / "model.json"
        command = [sys.executable, str(APP_DIR / "train.py"), "--out", str(out)]
        subprocess.run(command, check=True, capture_output=True, env=clean_env(), timeout=60)
        assert out.read_bytes() == (APP_DIR / "model" / "model.json").read_bytes()

    def test_a_local_artifact_from_the_app_config(self, tmp_path: Path) -> None:
        artifact = train([("goal match striker", "sport"), ("shares profit bank", "business")], "category")
        (tmp_path / "model.json").write_text(dumps(artifact))
        config = parse_app_config({"model": {"task": "classification", "artifact": str(tmp_path / "model.json")}})
        [prediction] = predict(TestClient(create_app(Settings(app_config=config))), "the striker's goal")
        assert sorted(prediction["probabilities"]) == ["business", "sport"]
        assert prediction["tags"] == ["sport"]


class TestImage:
    """The Dockerfile, read as text: a pinned base, a numeric non-root user, no caches, and a
    lock file that pins everything the service imports, at the versions these tests ran."""

    PINNED_BASE = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}( AS \w+)?$")

    def test_every_base_is_pinned_by_tag_and_digest(self) -> None:
        bases = [args for name, args in dockerfile_instructions() if name == "FROM"]
        assert bases and all(self.PINNED_BASE.match(base) and "slim" in base for base in bases), bases

    def test_runs_as_a_numeric_non_root_user(self) -> None:
        instructions = dockerfile_instructions()
        final = instructions[max(i for i, (name, _) in enumerate(instructions) if name == "FROM") :]
        assert [args for name, args in final if name == "USER"] == ["10001:10001"]
        names = [name for name, _ in final]
        assert names.index("USER") < names.index("ENTRYPOINT")
        assert ("HEALTHCHECK", "NONE") in final

    def test_no_package_caches(self) -> None:
        installs = [args for name, args in dockerfile_instructions() if re.search(r"pip .*install", args)]
        assert installs and all("--no-cache-dir" in args for args in installs)
        assert "apt-get" not in (APP_DIR / "Dockerfile").read_text()

    def test_lock_pins_the_whole_closure_at_the_tested_versions(self) -> None:
        lines = (APP_DIR / "requirements.txt").read_text().splitlines()
        pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
        locked = {canonicalize_name(name): pinned for name, pinned in pins.items()}
        assert all(version(name) == pinned for name, pinned in locked.items())
        assert set(locked) == closure(["fastapi", "uvicorn", "prometheus-client"])

    def test_build_context_leaves_out_training(self) -> None:
        ignore = [line for line in (APP_DIR / ".dockerignore").read_text().splitlines() if line[:1] not in ("", "#")]
        assert ignore[0] == "*"
        allowed = {"!requirements.txt", "!document_tagging/", "!model/"}
        assert {line for line in ignore if line.startswith("!")} == allowed


def closure(roots: list[str]) -> set[str]:
    """The distributions `roots` need on this platform, from the installed metadata."""
    needed: set[str] = set()
    pending = [canonicalize_name(root) for root in roots]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            requirements = [Requirement(text) for text in distribution(name).requires or []]
            pending += [
                canonicalize_name(r.name) for r in requirements if not r.marker or r.marker.evaluate({"extra": ""})
            ]
    return needed
