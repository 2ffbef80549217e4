"""The example component source trees under `apps/`: the document tagging model service reads
what the runtime helper gives it, agrees with its catalogue entry, answers as the image's own
entrypoint, trains reproducibly, and its image is pinned and runs as non-root. Nothing here needs
Docker. (The service in-process: test_app_tagging_service.py; the web app in front of it:
test_app_web.py.)"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
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

CONTEXT = REPO / "apps"
APP_DIR = CONTEXT / "document_tagging"
CATALOGUE = load_yaml(REPO / "config" / "components" / "document_tagging.yaml")
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from document_tagging.app import create_app  # noqa: E402 (the app is not an installed package)
from document_tagging.model import dumps, train  # noqa: E402
from document_tagging.settings import Settings, parse_app_config  # noqa: E402
from mlops_runtime.service import HEALTH_PATHS  # noqa: E402

CLEAR_TEXTS = {
    "business": "The bank's shares fell as investors worried about profits and interest rates.",
    "entertainment": "The actor's new film topped the box office and the soundtrack album charts.",
    "politics": "The minister told MPs the government would hold an election on tax policy.",
    "sport": "The club's striker scored in the cup final and the fans cheered the team.",
    "tech": "The software update fixed a security flaw that let hackers into users' phones.",
}


def client(config: dict[str, Any] | None = None, env: dict[str, str] | None = None, **kwargs: Any) -> TestClient:
    """The service as the environment `env` describes it, with the app config `config` when given."""
    settings = Settings.from_env(env or {})
    if config is not None:
        settings = replace(settings, app_config=parse_app_config(config))
    return TestClient(create_app(settings), **kwargs)


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


def dockerfile_instructions(app_dir: Path = APP_DIR) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (app_dir / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and line[0] != "#"]


def entrypoint(app_dir: Path = APP_DIR) -> list[str]:
    return json.loads(next(args for name, args in dockerfile_instructions(app_dir) if name == "ENTRYPOINT"))


def dockerignored(path: str) -> bool:
    """Whether apps/.dockerignore keeps `path` (relative to apps/, the build context) out, as
    Docker reads it: `**` spans folders, `*` stays within one, a pattern that matches a parent
    folder matches what is inside, `!` lets back in, the last matching line wins."""
    lines = (CONTEXT / ".dockerignore").read_text().splitlines()
    ignored = False
    for line in (line.strip() for line in lines):
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        parts = path.strip("/").split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def copied_sources(app_dir: Path) -> list[str]:
    """What the Dockerfile copies from the build context (not from an earlier stage)."""
    sources = []
    for name, args in dockerfile_instructions(app_dir):
        if name == "COPY" and not args.startswith("--from"):
            sources += args.split()[:-1]
    return sources


@contextmanager
def serving(arguments: list[str], cwd: Path, env: dict[str, str], port: int, health_path: str) -> Iterator[Any]:
    """This Python running `arguments` (a server) in `cwd`, once it answers `health_path` on
    127.0.0.1:`port` (its JSON answer is yielded); stopped afterwards."""
    server = subprocess.Popen([sys.executable, *arguments], cwd=cwd, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while server.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{health_path}", timeout=2) as response:
                    health = json.load(response)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the server exited ({server.returncode}) or did not answer within 30 s")
        yield health
    finally:
        server.terminate()
        server.wait(timeout=30)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


class TestCatalogueAndDeployment:
    """The image fits its catalogue entry and the Deployment the stack renders for it
    (components/manifests.py): the variables and files the service reads are the ones provided,
    on the port, user and probe path the pod expects."""

    def test_health_paths(self) -> None:
        test_client = client(env={"MLOPS_VERSION": "158"})
        for path in ("/healthz", CATALOGUE["health_path"]):
            response = test_client.get(path)
            assert response.status_code == 200
            expected = {"status": "ok", "component": "document_tagging", "version": "158", "track": "stable"}
            assert response.json() == expected

    @pytest.mark.parametrize("entry", CATALOGUE["versions"], ids=lambda v: str(v["id"]))
    def test_every_catalogued_app_config_starts_the_service(self, entry: dict[str, Any]) -> None:
        test_client = client(entry.get("app_config", {}))
        [prediction] = predict(test_client, CLEAR_TEXTS["tech"])
        expected = entry.get("app_config", {}).get("merge_classes", {}).get("tech", "tech")
        assert prediction["tags"] == [expected]

    def test_reads_the_app_config_file_the_deployment_mounts(self, tmp_path: Path) -> None:
        path = tmp_path / "app_config.yaml"
        path.write_text(json.dumps({"threshold": 0.0}))
        settings = Settings.from_env({"MLOPS_APP_CONFIG_PATH": str(path)})
        assert (settings.app_config.threshold, settings.app_config.source) == (0.0, str(path))

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

    def test_port_user_and_probes(self) -> None:
        pod = self.pod("model")
        [container] = pod["containers"]
        port = str(CATALOGUE["port"])
        assert [args for name, args in dockerfile_instructions() if name == "EXPOSE"] == [port]
        assert entrypoint()[entrypoint().index("--port") + 1] == port == str(container["ports"][0]["containerPort"])
        user = pod["securityContext"]["runAsUser"]
        assert [args for name, args in dockerfile_instructions() if name == "USER"] == [f"{user}:{user}"]
        assert container["readinessProbe"]["httpGet"]["path"] in HEALTH_PATHS


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
        with serving(command[1:], APP_DIR, env, free_tcp_port, CATALOGUE["health_path"]) as health:
            assert health["version"] == "158"
            body = json.dumps({"instances": [CLEAR_TEXTS["business"]]}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{free_tcp_port}/predict", body)
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.load(response)["predictions"][0]["tags"] == ["business"]


class TestTraining:
    """`train.py` is deterministic: the shipped model is exactly what it writes; training stays out
    of the image; the app config may name another artifact, in the image or in a bucket."""

    def test_training_stays_out_of_the_build_context(self) -> None:
        assert dockerignored("document_tagging/train.py")
        assert dockerignored("document_tagging/data/articles.jsonl")
        assert not dockerignored("document_tagging/model/model.json")

    def test_retraining_reproduces_the_shipped_model(self, tmp_path: Path) -> None:
        out = tmp_path / "model.json"
        command = [sys.executable, str(APP_DIR / "train.py"), "--out", str(out)]
        subprocess.run(command, check=True, capture_output=True, env=clean_env(), timeout=60)
        assert out.read_bytes() == (APP_DIR / "model" / "model.json").read_bytes()

    ARTIFACT = "gs://acme-models/document_tagging/159/model.json"

    @staticmethod
    def small_model() -> str:
        return dumps(train([("goal match striker", "sport"), ("shares profit bank", "business")], "category"))

    def tagged_by(self, artifact: str) -> dict[str, Any]:
        model = {"task": "classification", "framework": "naive-bayes", "artifact": artifact}
        app = create_app(Settings(app_config=parse_app_config({"model": model})))
        [prediction] = predict(TestClient(app), "the striker's goal")
        return prediction

    def test_a_gs_artifact_from_the_local_mirror(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """`mlops run`: the bucket is a local folder (MLOPS_ARTIFACT_MIRROR), nothing is fetched."""
        local = tmp_path / "acme-models" / "document_tagging" / "159" / "model.json"
        local.parent.mkdir(parents=True)
        local.write_text(self.small_model())
        monkeypatch.setenv("MLOPS_ARTIFACT_MIRROR", str(tmp_path))
        prediction = self.tagged_by(self.ARTIFACT)
        assert sorted(prediction["probabilities"]) == ["business", "sport"]
        assert prediction["tags"] == ["sport"]

    def test_a_gs_artifact_from_the_bucket(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """In the cluster the artifact is downloaded once, through the Cloud Storage JSON API
        (here a stand-in on 127.0.0.1, named the way Google's libraries name an emulator)."""
        body = self.small_model().encode()
        asked: list[str] = []

        class Bucket(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads `asked`, not the log."""

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bucket)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.delenv("MLOPS_ARTIFACT_MIRROR", raising=False)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("MLOPS_ARTIFACT_CACHE", str(tmp_path / "cache"))
        try:
            assert self.tagged_by(self.ARTIFACT)["tags"] == ["sport"]
            assert self.tagged_by(self.ARTIFACT)["tags"] == ["sport"]
        finally:
            server.shutdown()
            server.server_close()
        assert asked == ["/storage/v1/b/acme-models/o/document_tagging%2F159%2Fmodel.json?alt=media"]


class TestImage:
    """The Dockerfile, read as text: a pinned base, a numeric non-root user, no caches, a build
    context (apps/) that holds what it copies, and a lock file that pins everything the service
    imports, at the versions these tests ran. test_app_web.py runs these on the web app's image."""

    APP: ClassVar[Path] = APP_DIR
    PINNED_BASE = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}( AS \w+)?$")

    def test_every_base_is_pinned_by_tag_and_digest(self) -> None:
        bases = [args for name, args in dockerfile_instructions(self.APP) if name == "FROM"]
        assert bases and all(self.PINNED_BASE.match(base) and "slim" in base for base in bases), bases

    def test_runs_as_a_numeric_non_root_user(self) -> None:
        instructions = dockerfile_instructions(self.APP)
        final = instructions[max(i for i, (name, _) in enumerate(instructions) if name == "FROM") :]
        assert [args for name, args in final if name == "USER"] == ["10001:10001"]
        names = [name for name, _ in final]
        assert names.index("USER") < names.index("ENTRYPOINT")
        assert ("HEALTHCHECK", "NONE") in final

    def test_no_package_caches(self) -> None:
        installs = [args for name, args in dockerfile_instructions(self.APP) if re.search(r"pip .*install", args)]
        assert installs and all("--no-cache-dir" in args for args in installs)
        assert "apt-get" not in (self.APP / "Dockerfile").read_text()

    def test_lock_pins_the_whole_closure_at_the_tested_versions(self) -> None:
        locked = pins(self.APP / "requirements.txt")
        assert all(version(name) == pinned for name, pinned in locked.items())
        assert set(locked) == closure(["fastapi", "uvicorn", "prometheus-client"])

    def test_copies_the_runtime_helper_and_only_what_the_context_holds(self) -> None:
        """The context is apps/: every source exists there and .dockerignore lets it in (else the
        build fails, or worse, copies an empty folder)."""
        sources = copied_sources(self.APP)
        assert "mlops_runtime/" in sources
        assert f"{self.APP.name}/requirements.txt" in sources
        for source in sources:
            assert (CONTEXT / source).exists(), source
            assert not dockerignored(source), f"apps/.dockerignore leaves {source} out of the build context"


def pins(path: Path) -> dict[str, str]:
    """A lock file's distributions (canonical names) and their pinned versions."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {canonicalize_name(name): pinned for name, pinned in (line.split("==") for line in lines)}


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
