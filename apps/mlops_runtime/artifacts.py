"""Model artifacts: a path inside the image (or checkout), or an object in a Cloud Storage bucket.

`gs://bucket/object` is fetched once per process into a local cache, with the pod's own Workload
Identity: an access token from the GKE metadata server, then the Cloud Storage JSON API. The
component's Kubernetes ServiceAccount is what the stack grants read access to (catalogue
`artifacts.prefix`), so no key file is ever involved. Locally (`mlops run`), `MLOPS_ARTIFACT_MIRROR`
names a folder that mirrors the buckets (`<mirror>/<bucket>/<object>`) and nothing is fetched.

The standard variables `GCE_METADATA_HOST` and `STORAGE_EMULATOR_HOST` (as Google's own client
libraries read them) point both at other hosts, e.g. a storage emulator."""

from __future__ import annotations

import http.client
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from mlops_runtime.errors import RuntimeConfigError

ARTIFACT_MIRROR = "MLOPS_ARTIFACT_MIRROR"
METADATA_HOST = "GCE_METADATA_HOST"
STORAGE_EMULATOR_HOST = "STORAGE_EMULATOR_HOST"
CACHE = "MLOPS_ARTIFACT_CACHE"
# Bucket names: 3-63 characters of lowercase letters, digits, '-', '_' and '.', starting and
# ending with a letter or digit (Cloud Storage's rules, without the dotted 222-character form).
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
CHUNK = 1 << 20


def parse_gcs_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/object` -> (bucket, object); one line naming the problem otherwise."""
    if not uri.startswith("gs://"):
        raise RuntimeConfigError(f"{uri!r} is not a gs://bucket/object URI")
    bucket, _, name = uri[len("gs://") :].partition("/")
    if not BUCKET.match(bucket):
        raise RuntimeConfigError(f"{uri!r}: {bucket!r} is not a Cloud Storage bucket name")
    # Split by hand: PurePosixPath would drop a '.' segment, which the bucket keeps as a name.
    if not name or name.endswith("/") or any(p in ("", ".", "..") for p in name.split("/")):
        raise RuntimeConfigError(f"{uri!r}: name an object (gs://bucket/folder/model.json), not a folder")
    return bucket, name


def artifact_path(uri: str, *, base: Path, environ: Mapping[str, str] | None = None, timeout: float = 60.0) -> Path:
    """A local file holding the artifact `uri`: a relative path is taken from `base` (the app's
    folder, the same in the image and the checkout); `gs://` comes from the mirror or the bucket."""
    env = os.environ if environ is None else environ
    if "://" not in uri:
        path = PurePosixPath(uri)
        if path.is_absolute() or ".." in path.parts or not uri.strip():
            raise RuntimeConfigError(f"artifact {uri!r}: give a path inside the app's folder, or a gs:// URI")
        return base / path
    bucket, name = parse_gcs_uri(uri)
    mirror = env.get(ARTIFACT_MIRROR)
    if mirror:
        local = Path(mirror) / bucket / name
        if not local.is_file():
            raise RuntimeConfigError(
                f"artifact {uri}: not in the local mirror ({local} is missing): copy it there, "
                f"e.g. gcloud storage cp {uri} {local}"
            )
        return local
    cache = Path(env.get(CACHE) or Path(tempfile.gettempdir()) / "mlops-artifacts") / bucket / name
    if cache.is_file():
        return cache
    _download(bucket, name, cache, env, timeout)
    return cache


def _token(env: Mapping[str, str], timeout: float) -> str:
    host = env.get(METADATA_HOST) or "metadata.google.internal"
    request = urllib.request.Request(
        f"http://{host}/computeMetadata/v1/instance/service-accounts/default/token",
        headers={"Metadata-Flavor": "Google"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(json.loads(response.read())["access_token"])
    except (OSError, ValueError, KeyError) as exc:
        raise RuntimeConfigError(
            f"no access token from the metadata server at {host} ({exc}): run on GKE with Workload Identity, "
            f"or set {ARTIFACT_MIRROR} to a local copy of the bucket"
        ) from None


def _download(bucket: str, name: str, target: Path, env: Mapping[str, str], timeout: float) -> None:
    emulator = env.get(STORAGE_EMULATOR_HOST)
    base = emulator.rstrip("/") if emulator else "https://storage.googleapis.com"
    url = f"{base}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
    request = urllib.request.Request(url)
    if not emulator:
        request.add_header("Authorization", f"Bearer {_token(env, timeout)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Into a temporary file beside the target, renamed when complete: a failed or concurrent
    # download never leaves a truncated artifact where the next start would trust it.
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            written = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                written += len(chunk)
        # A connection closed early ends the reads without an error: only a complete object is kept.
        if expected is not None and expected.isdigit() and written != int(expected):
            raise RuntimeConfigError(f"gs://{bucket}/{name}: download cut short ({written} of {expected} bytes)")
        os.replace(partial, target)
    except urllib.error.HTTPError as exc:
        hint = {
            401: "the token was refused",
            403: "this component's identity may not read it: check the catalogue's artifacts.prefix",
            404: "no such object",
        }
        raise RuntimeConfigError(
            f"gs://{bucket}/{name}: Cloud Storage answered {exc.code} ({hint.get(exc.code, exc.reason)})"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise RuntimeConfigError(f"gs://{bucket}/{name}: download failed ({exc!r})") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
