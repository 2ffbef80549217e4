"""The app-side runtime helper: what a component reads about itself, the same way in the cluster
and on a laptop (`mlops run`).

In the cluster the stack's Deployment (components/pod_spec.py) sets the variables named below
and mounts the files they point to; `mlops run` sets the same variables and writes the same files
to a local folder. A test renders the Deployment and checks that every variable this module reads
is one the program sets, and every file it opens is one the program mounts, so neither can drift.

    import mlops_runtime as rt
    rt.app_config()                  # the deployed version's app config (a dict)
    rt.environment_config()          # the environment's config (a dict)
    rt.component_url("document_tagging")   # where to call another component
    rt.api_key()                     # the API key clients must send (apps), else None

Standard library only: a user's app can copy this package, or install it, without new dependencies.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_runtime.artifacts import ARTIFACT_MIRROR, artifact_path
from mlops_runtime.errors import RuntimeConfigError

__all__ = [
    "API_KEY_HEADER",
    "ARTIFACT_MIRROR",
    "CALLER_HEADER",
    "Identity",
    "RuntimeConfigError",
    "api_key",
    "app_config",
    "artifact_path",
    "call_json",
    "callers",
    "component_url",
    "environment_config",
    "identity",
    "port",
]

# --------------------------------------------------------------------------- the contract
# Variables the program sets on every pod (components/pod_spec.py).
PROJECT = "MLOPS_PROJECT"
ENVIRONMENT = "MLOPS_ENVIRONMENT"
COMPONENT = "MLOPS_COMPONENT"
COMPONENT_TYPE = "MLOPS_COMPONENT_TYPE"
VERSION = "MLOPS_VERSION"
VERSION_LABEL = "MLOPS_VERSION_LABEL"
TRACK = "MLOPS_TRACK"
LOW_LATENCY_MODE = "MLOPS_LOW_LATENCY_MODE"
PORT = "PORT"
APP_CONFIG_PATH = "MLOPS_APP_CONFIG_PATH"
ENVIRONMENT_CONFIG_PATH = "MLOPS_ENVIRONMENT_CONFIG_PATH"
# Set when the component has them: the API key file (apps), the components it calls (catalogue
# `calls` pinned in the environment: JSON {name: base URL}), the components that call it
# (comma-separated names: the only values the caller metric label takes).
API_KEY_PATH = "MLOPS_API_KEY_PATH"
COMPONENT_URLS = "MLOPS_COMPONENT_URLS"
CALLERS = "MLOPS_CALLERS"

ALWAYS_SET = (
    PROJECT,
    ENVIRONMENT,
    COMPONENT,
    COMPONENT_TYPE,
    VERSION,
    VERSION_LABEL,
    TRACK,
    LOW_LATENCY_MODE,
    PORT,
    APP_CONFIG_PATH,
    ENVIRONMENT_CONFIG_PATH,
)
SET_WHEN_NEEDED = (API_KEY_PATH, COMPONENT_URLS, CALLERS)
# Variables that point to a mounted file.
FILE_VARIABLES = (APP_CONFIG_PATH, ENVIRONMENT_CONFIG_PATH, API_KEY_PATH)

# Headers: the key clients send to an app, and who is calling (set by `call_json`).
API_KEY_HEADER = "X-API-Key"
CALLER_HEADER = "X-Mlops-Caller"
# Config files are small: a larger one is a mistake, refused before it is read.
MAX_CONFIG_BYTES = 1 << 20


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


@dataclass(frozen=True)
class Identity:
    """Who this process is: metric labels, log fields, health answers."""

    project: str
    environment: str
    component: str
    component_type: str
    version: str
    version_label: str
    track: str
    low_latency_mode: bool


def identity(environ: Mapping[str, str] | None = None, *, default_component: str = "local") -> Identity:
    """The component's identity. Outside the stack and `mlops run` (a bare `uvicorn` in a
    checkout) the values default to `default_component`, version `dev`, track `stable`."""
    env = _env(environ)
    track = env.get(TRACK) or "stable"
    if track not in ("stable", "canary"):
        raise RuntimeConfigError(f"{TRACK}={track!r}: must be stable or canary")
    return Identity(
        project=env.get(PROJECT) or "",
        environment=env.get(ENVIRONMENT) or "local",
        component=env.get(COMPONENT) or default_component,
        component_type=env.get(COMPONENT_TYPE) or "",
        version=env.get(VERSION) or "dev",
        version_label=env.get(VERSION_LABEL) or "",
        track=track,
        low_latency_mode=(env.get(LOW_LATENCY_MODE) or "false") == "true",
    )


def port(environ: Mapping[str, str] | None = None, default: int = 8080) -> int:
    value = _env(environ).get(PORT)
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise RuntimeConfigError(f"{PORT}={value!r}: must be a port number from 1 to 65535")
    return int(value)


def _read_text(variable: str, path: str, what: str) -> str:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise RuntimeConfigError(f"{path} ({variable}): the {what} is {size} bytes, over 1 MiB: keep it small")
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuntimeConfigError(
            f"{path} ({variable}): cannot read the {what} ({exc.strerror}): fix {variable}"
        ) from None
    except UnicodeDecodeError:
        raise RuntimeConfigError(f"{path} ({variable}): the {what} is not UTF-8 text") from None


def _config_file(variable: str, what: str, environ: Mapping[str, str] | None) -> dict[str, Any]:
    path = _env(environ).get(variable)
    if not path:
        return {}
    text = _read_text(variable, path, what)
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise RuntimeConfigError(
            f"{path} ({variable}): the {what} is not JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise RuntimeConfigError(f"{path} ({variable}): the {what} must be a JSON object, not {type(data).__name__}")
    return data


def app_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The app config of the version this process runs (catalogue `app_config`); `{}` when the
    variable is unset (a bare local run), an error when the file it names cannot be read."""
    return _config_file(APP_CONFIG_PATH, "app config", environ)


def environment_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The environment's config (`mlops:environment_config` of the stack, secrets included)."""
    return _config_file(ENVIRONMENT_CONFIG_PATH, "environment config", environ)


def api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The key clients must send in `X-API-Key`. None when none is mounted: the stack mounts one
    for apps, not for models (which only other components reach)."""
    path = _env(environ).get(API_KEY_PATH)
    if not path:
        return None
    key = _read_text(API_KEY_PATH, path, "API key").strip()
    if not key:
        raise RuntimeConfigError(f"{path} ({API_KEY_PATH}): the API key file is empty: set mlops:api_key in the stack")
    return key


def _component_urls(environ: Mapping[str, str] | None) -> dict[str, str]:
    text = _env(environ).get(COMPONENT_URLS)
    if not text:
        return {}
    try:
        urls = json.loads(text)
    except json.JSONDecodeError:
        raise RuntimeConfigError(f"{COMPONENT_URLS}: not a JSON object of component name to URL") from None
    if not isinstance(urls, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in urls.items()):
        raise RuntimeConfigError(f"{COMPONENT_URLS}: not a JSON object of component name to URL")
    return urls


def component_url(name: str, environ: Mapping[str, str] | None = None) -> str:
    """Base URL (no trailing '/') of another component of the same environment: in the cluster its
    Service, locally the port `mlops run` started it on. Only components this one declares in its
    catalogue `calls` (and that the environment pins) are known: the network lets no other call through."""
    urls = _component_urls(environ)
    url = urls.get(name)
    if url is None:
        known = ", ".join(sorted(urls)) or "none"
        me = _env(environ).get(COMPONENT) or "this component"
        raise RuntimeConfigError(
            f"component {name!r} is not one {me} may call (known: {known}): add it to `calls` in "
            f"config/components/{me}.yaml and pin it in the environment"
        )
    return url.rstrip("/")


def callers(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The components that call this one (their catalogue `calls` names it)."""
    text = _env(environ).get(CALLERS) or ""
    return frozenset(name for name in text.split(",") if name)


def call_json(
    name: str,
    path: str,
    body: Any = None,
    *,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """POST `body` as JSON to another component (GET when `body` is None) and return its JSON
    answer. Sends `X-Mlops-Caller`, so the callee's metrics count requests per caller. Raises
    `urllib.error.HTTPError` for an error status and `OSError` when nothing answers."""
    url = component_url(name, environ) + "/" + path.lstrip("/")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    request.add_header(CALLER_HEADER, _env(environ).get(COMPONENT) or "local")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")
