"""The runtime helper's model artifacts (apps/mlops_runtime/artifacts.py): a relative path inside the
app's folder, a `gs://` object from the local mirror, or downloaded with the pod's Workload
Identity. A fake GKE metadata server and a fake Cloud Storage JSON API run on 127.0.0.1 (one
http.server in a thread); requests meant for storage.googleapis.com are rerouted to it, and any
other URL fails the test, so nothing here touches the network."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mlops_runtime import RuntimeConfigError
from mlops_runtime.artifacts import artifact_path, parse_gcs_uri

PUBLIC_STORAGE = "https://storage.googleapis.com"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
OBJECT_PATH = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>[^/?]+)\?alt=media$")
BUCKET = "acme-ml-models"
NAME = "sentiment/210/classifier.json"
URI = f"gs://{BUCKET}/{NAME}"
BODY = b'{"task": "classification"}\n' * 1000


@dataclass
class Seen:
    """One request the fake received: its raw path (query included) and headers."""

    path: str
    headers: dict[str, str]


@dataclass
class FakeGoogle:
    """The metadata server and Cloud Storage in one loopback server, recording every request."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    # Objects answered with an error status instead of their bytes.
    statuses: dict[tuple[str, str], int] = field(default_factory=dict)
    # Objects whose transfer stops half way: "length" (Content-Length promises more), "chunked".
    cut: dict[tuple[str, str], str] = field(default_factory=dict)
    token: str = "ya29.fake-token"
    metadata_up: bool = True
    seen: list[Seen] = field(default_factory=list)
    # The public URLs the helper asked for, before rerouting.
    public_urls: list[str] = field(default_factory=list)
    base: str = ""

    def requests_to(self, prefix: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.startswith(prefix)]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        self.seen.append(Seen(handler.path, {k.lower(): v for k, v in handler.headers.items()}))
        if handler.path == TOKEN_PATH:
            self.answer_token(handler)
            return
        match = OBJECT_PATH.match(handler.path)
        key = (match["bucket"], urllib.parse.unquote(match["name"])) if match else None
        if key is None or (key not in self.objects and key not in self.statuses):
            handler.send_error(404)
        elif key in self.statuses:
            handler.send_error(self.statuses[key])
        elif key in self.cut:
            self.answer_cut(handler, self.objects[key], self.cut[key])
        else:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(self.objects[key])))
            handler.end_headers()
            handler.wfile.write(self.objects[key])

    def answer_token(self, handler: BaseHTTPRequestHandler) -> None:
        # The real metadata server refuses requests without this header (SSRF protection).
        if not self.metadata_up or handler.headers.get("Metadata-Flavor") != "Google":
            handler.send_error(503 if not self.metadata_up else 403)
            return
        body = json.dumps({"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def answer_cut(handler: BaseHTTPRequestHandler, body: bytes, how: str) -> None:
        half = body[: len(body) // 2]
        handler.close_connection = True
        handler.send_response(200)
        if how == "length":
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(half)
        else:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.write(f"{len(body):x}\r\n".encode() + half)


@pytest.fixture()
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    """The fake, started; urllib's requests to storage.googleapis.com go to it, others fail."""
    fake = FakeGoogle(objects={(BUCKET, NAME): BODY})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            fake.handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `fake.seen` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    real_urlopen = urllib.request.urlopen

    def urlopen(request: urllib.request.Request, *args: Any, **kwargs: Any) -> Any:
        url = request.full_url
        if url.startswith(PUBLIC_STORAGE + "/"):
            fake.public_urls.append(url)
            request = urllib.request.Request(
                fake.base + url[len(PUBLIC_STORAGE) :],
                headers=dict(request.header_items()),
                method=request.get_method(),
            )
        elif not url.startswith(fake.base + "/"):
            raise AssertionError(f"the helper tried to reach {url}")
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def in_cluster(fake: FakeGoogle, cache: Path) -> dict[str, str]:
    """What a pod has: the metadata server (here the fake's address), no mirror, no emulator."""
    return {"GCE_METADATA_HOST": fake.base.removeprefix("http://"), "MLOPS_ARTIFACT_CACHE": str(cache)}


def with_emulator(fake: FakeGoogle, cache: Path) -> dict[str, str]:
    # The metadata host is one nothing listens on: a token request would fail the download.
    return {"STORAGE_EMULATOR_HOST": fake.base, "GCE_METADATA_HOST": "127.0.0.1:9", "MLOPS_ARTIFACT_CACHE": str(cache)}


def leftovers(cache: Path) -> list[str]:
    return sorted(str(path.relative_to(cache)) for path in cache.rglob("*") if path.is_file())


def one_line(exc_info: pytest.ExceptionInfo[RuntimeConfigError]) -> str:
    message = str(exc_info.value)
    assert message and "\n" not in message
    return message


class TestWorkloadIdentity:
    """In the cluster: a token from the metadata server, sent to Cloud Storage as a Bearer token."""

    def test_token_from_the_metadata_server_sent_as_bearer(self, google: FakeGoogle, tmp_path: Path) -> None:
        path = artifact_path(URI, base=tmp_path, environ=in_cluster(google, tmp_path / "cache"))
        assert path == tmp_path / "cache" / BUCKET / NAME
        assert path.read_bytes() == BODY
        [token_request] = google.requests_to("/computeMetadata/")
        assert token_request.headers["metadata-flavor"] == "Google"
        [download] = google.requests_to("/storage/")
        assert download.headers["authorization"] == f"Bearer {google.token}"
        assert google.public_urls == [
            f"{PUBLIC_STORAGE}/storage/v1/b/{BUCKET}/o/sentiment%2F210%2Fclassifier.json?alt=media"
        ]

    def test_object_name_is_quoted_whole(self, google: FakeGoogle, tmp_path: Path) -> None:
        """Slashes, spaces and '+' in the object name are all escaped: the name is one path segment."""
        name = "sentiment/212/model v2+final.json"
        google.objects[(BUCKET, name)] = b"{}"
        path = artifact_path(f"gs://{BUCKET}/{name}", base=tmp_path, environ=in_cluster(google, tmp_path / "cache"))
        assert path.read_bytes() == b"{}"
        [download] = google.requests_to("/storage/")
        assert download.path == f"/storage/v1/b/{BUCKET}/o/sentiment%2F212%2Fmodel%20v2%2Bfinal.json?alt=media"

    def test_no_token_means_one_line_and_no_download(self, google: FakeGoogle, tmp_path: Path) -> None:
        google.metadata_up = False
        with pytest.raises(RuntimeConfigError) as exc_info:
            artifact_path(URI, base=tmp_path, environ=in_cluster(google, tmp_path / "cache"))
        message = one_line(exc_info)
        assert "metadata server" in message and "MLOPS_ARTIFACT_MIRROR" in message
        assert google.requests_to("/storage/") == []

    def test_emulator_skips_the_token(self, google: FakeGoogle, tmp_path: Path) -> None:
        path = artifact_path(URI, base=tmp_path, environ=with_emulator(google, tmp_path / "cache"))
        assert path.read_bytes() == BODY
        assert google.requests_to("/computeMetadata/") == []
        [download] = google.requests_to("/storage/")
        assert "authorization" not in download.headers
        assert google.public_urls == []

    def test_downloaded_once_then_cached(self, google: FakeGoogle, tmp_path: Path) -> None:
        env = in_cluster(google, tmp_path / "cache")
        first = artifact_path(URI, base=tmp_path, environ=env)
        count = len(google.seen)
        assert artifact_path(URI, base=tmp_path, environ=env) == first
        assert len(google.seen) == count == 2  # the token and the object, the first time only
        assert leftovers(tmp_path / "cache") == [f"{BUCKET}/{NAME}"]


class TestFailedDownloads:
    """A refused or broken download is one line naming the object, and leaves no file behind
    that the next start would take for the artifact."""

    @pytest.mark.parametrize(("status", "hint"), [(403, "artifacts.prefix"), (404, "no such object"), (401, "token")])
    def test_error_status(self, google: FakeGoogle, tmp_path: Path, status: int, hint: str) -> None:
        google.statuses[(BUCKET, NAME)] = status
        with pytest.raises(RuntimeConfigError) as exc_info:
            artifact_path(URI, base=tmp_path, environ=in_cluster(google, tmp_path / "cache"))
        message = one_line(exc_info)
        assert message.startswith(f"{URI}: Cloud Storage answered {status} (")
        assert hint in message
        assert leftovers(tmp_path / "cache") == []

    def test_missing_object(self, google: FakeGoogle, tmp_path: Path) -> None:
        with pytest.raises(RuntimeConfigError, match=r"^gs://acme-ml-models/nope\.json: Cloud Storage answered 404"):
            artifact_path(f"gs://{BUCKET}/nope.json", base=tmp_path, environ=with_emulator(google, tmp_path / "cache"))
        assert leftovers(tmp_path / "cache") == []

    def test_nothing_answering(self, tmp_path: Path) -> None:
        env = {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9", "MLOPS_ARTIFACT_CACHE": str(tmp_path / "cache")}
        with pytest.raises(RuntimeConfigError) as exc_info:
            artifact_path(URI, base=tmp_path, environ=env, timeout=5)
        assert one_line(exc_info).startswith(f"{URI}: download failed (")
        assert leftovers(tmp_path / "cache") == []

    def test_transfer_cut_short_is_not_cached(self, google: FakeGoogle, tmp_path: Path) -> None:
        google.cut[(BUCKET, NAME)] = "length"
        with pytest.raises(RuntimeConfigError) as exc_info:
            artifact_path(URI, base=tmp_path, environ=with_emulator(google, tmp_path / "cache"))
        assert one_line(exc_info).startswith(f"{URI}: ")
        assert leftovers(tmp_path / "cache") == []

    def test_chunked_transfer_cut_short_is_one_line(self, google: FakeGoogle, tmp_path: Path) -> None:
        google.cut[(BUCKET, NAME)] = "chunked"
        try:
            artifact_path(URI, base=tmp_path, environ=with_emulator(google, tmp_path / "cache"))
        except RuntimeConfigError as exc:
            assert str(exc).startswith(f"{URI}: ")
        except Exception as exc:
            raise AssertionError(f"{type(exc).__name__} escaped: not one line") from None
        else:
            raise AssertionError("the cut transfer was accepted")
        finally:
            # Whatever is raised, no partial file may stay behind.
            assert leftovers(tmp_path / "cache") == []


class TestMirror:
    """Locally (`mlops run`), gs:// objects come from MLOPS_ARTIFACT_MIRROR and nothing is fetched."""

    def test_hit(self, google: FakeGoogle, tmp_path: Path) -> None:
        local = tmp_path / "mirror" / BUCKET / NAME
        local.parent.mkdir(parents=True)
        local.write_bytes(b"mirrored")
        env = {**in_cluster(google, tmp_path / "cache"), "MLOPS_ARTIFACT_MIRROR": str(tmp_path / "mirror")}
        assert artifact_path(URI, base=tmp_path, environ=env) == local
        assert google.seen == []
        assert not (tmp_path / "cache").exists()

    def test_miss_is_one_line_with_the_copy_command(self, google: FakeGoogle, tmp_path: Path) -> None:
        env = {**in_cluster(google, tmp_path / "cache"), "MLOPS_ARTIFACT_MIRROR": str(tmp_path / "mirror")}
        with pytest.raises(RuntimeConfigError) as exc_info:
            artifact_path(URI, base=tmp_path, environ=env)
        local = tmp_path / "mirror" / BUCKET / NAME
        assert one_line(exc_info) == (
            f"artifact {URI}: not in the local mirror ({local} is missing): copy it there, "
            f"e.g. gcloud storage cp {URI} {local}"
        )
        assert google.seen == []

    def test_the_repository_mirror_holds_the_catalogued_sentiment_models(self) -> None:
        mirror = Path(__file__).resolve().parent.parent / "artifacts"
        for uri in (
            "gs://acme-ml-platform-ml-artifacts/models/sentiment/210/classifier.json",
            "gs://acme-ml-platform-ml-artifacts/models/sentiment/211/regressor.json",
        ):
            path = artifact_path(uri, base=Path("/nonexistent"), environ={"MLOPS_ARTIFACT_MIRROR": str(mirror)})
            assert json.loads(path.read_text())["framework"] == "bag-of-words"


class TestUris:
    """Only gs://bucket/object names an artifact in a bucket; anything else is refused in one line
    before any request or file access."""

    def test_a_good_uri(self) -> None:
        assert parse_gcs_uri("gs://acme-ml-models/sentiment/210/classifier.json") == (BUCKET, NAME)

    @pytest.mark.parametrize(
        ("uri", "says"),
        [
            ("gs://acme-ml-models", "name an object"),
            ("gs://acme-ml-models/", "name an object"),
            ("gs://acme-ml-models/sentiment/210/", "name an object"),
            ("gs://acme-ml-models/sentiment/../secrets.json", "name an object"),
            ("gs://acme-ml-models/sentiment/./model.json", "name an object"),
            ("gs://acme-ml-models/..", "name an object"),
            ("gs://Acme_Models/model.json", "not a Cloud Storage bucket name"),
            ("gs://ab/model.json", "not a Cloud Storage bucket name"),
            ("gs:///model.json", "not a Cloud Storage bucket name"),
            ("gs://-acme/model.json", "not a Cloud Storage bucket name"),
            ("s3://acme-ml-models/model.json", "not a gs://bucket/object URI"),
            ("https://storage.googleapis.com/acme-ml-models/model.json", "not a gs://bucket/object URI"),
        ],
    )
    def test_refused(self, google: FakeGoogle, tmp_path: Path, uri: str, says: str) -> None:
        with pytest.raises(RuntimeConfigError) as exc_info:
            artifact_path(uri, base=tmp_path, environ=in_cluster(google, tmp_path / "cache"))
        message = one_line(exc_info)
        assert uri in message and says in message
        assert google.seen == []


class TestRelativePaths:
    """A path without a scheme is inside the app's folder (the same in the image and a checkout)."""

    def test_resolved_from_base(self, tmp_path: Path) -> None:
        assert artifact_path("model/classifier.json", base=tmp_path, environ={}) == tmp_path / "model/classifier.json"
        assert artifact_path("./model/x.json", base=tmp_path, environ={}) == tmp_path / "model/x.json"

    def test_a_mirror_changes_nothing_for_paths(self, tmp_path: Path) -> None:
        env = {"MLOPS_ARTIFACT_MIRROR": str(tmp_path / "mirror")}
        assert artifact_path("model/x.json", base=tmp_path, environ=env) == tmp_path / "model/x.json"

    @pytest.mark.parametrize(
        "uri", ["/etc/passwd", "../document_tagging/model/model.json", "model/../../x.json", "", " "]
    )
    def test_outside_the_app_folder_is_refused(self, tmp_path: Path, uri: str) -> None:
        with pytest.raises(RuntimeConfigError) as exc_info:
            artifact_path(uri, base=tmp_path, environ={})
        assert one_line(exc_info) == f"artifact {uri!r}: give a path inside the app's folder, or a gs:// URI"
