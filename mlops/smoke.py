"""`mlops smoke`: call every deployed component over real HTTP and say whether it is healthy.

Each component's health endpoint (its URL from the stack's `components` output + the catalogue's
`health_path`) must answer 2xx; a model with a catalogue `smoke: {path, json}` sample must also
answer that POST with 2xx. Apps get the API key in the `X-API-Key` header. While a rollout
settles, failures that can pass (5xx, refused or timed-out connections) are retried with
exponential backoff until the deadline; an app refusing the key (401/403) fails at once.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from spec.catalogue import CatalogueComponent
from spec.errors import ConfigError

API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Target:
    component: str
    type: str
    method: str
    url: str
    body: Any = None


@dataclass(frozen=True)
class Result:
    target: Target
    ok: bool
    status: int | None
    detail: str
    attempts: int
    seconds: float


def targets(outputs: Mapping[str, Any], catalogue: Mapping[str, CatalogueComponent], display: str) -> list[Target]:
    components = outputs.get("components")
    if not isinstance(components, Mapping) or not components:
        raise ConfigError.one(display, "components", "no components output: was the stack deployed with this program?")
    found: list[Target] = []
    for name, info in components.items():
        url = info.get("url") if isinstance(info, Mapping) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError.one(
                display, f"components.{name}.url", "missing or not an http(s) URL: re-export the outputs"
            )
        base = url if url.endswith("/") else url + "/"
        entry = catalogue.get(name)
        health = entry.health_path if entry else "/health"
        kind = info.get("type", entry.type if entry else "app")
        found.append(Target(name, kind, "GET", base + health.lstrip("/")))
        if entry is not None and entry.smoke is not None:
            found.append(Target(name, kind, "POST", base + entry.smoke.path.lstrip("/"), entry.smoke.json_body))
    return found


def _request(target: Target, api_key: str | None, timeout: float) -> tuple[int | None, str]:
    data = None if target.body is None else json.dumps(target.body).encode()
    request = urllib.request.Request(target.url, data=data, method=target.method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if target.type == "app" and api_key:
        request.add_header(API_KEY_HEADER, api_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, "ok"
    except urllib.error.HTTPError as exc:
        return exc.code, exc.reason if isinstance(exc.reason, str) else str(exc.code)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"no answer ({reason})"


def check(
    target: Target,
    api_key: str | None,
    deadline: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    request_timeout: float = 10.0,
) -> Result:
    start, attempts, backoff = clock(), 0, 0.5
    while True:
        attempts += 1
        remaining = max(deadline - clock(), 0.1)
        status, detail = _request(target, api_key, min(request_timeout, remaining))
        if status is not None and 200 <= status < 300:
            return Result(target, True, status, "healthy", attempts, clock() - start)
        if status in (401, 403):
            return Result(target, False, status, "refused the API key", attempts, clock() - start)
        retryable = status is None or status >= 500 or status in (404, 408, 429)
        if not retryable or clock() + backoff >= deadline:
            return Result(target, False, status, detail, attempts, clock() - start)
        sleep(backoff)
        backoff = min(backoff * 2, 10.0)


def run(targets_: list[Target], api_key: str | None, timeout: float) -> list[Result]:
    """Check every target concurrently against one deadline; results in the targets' order."""
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max_workers=min(16, max(len(targets_), 1))) as pool:
        return list(pool.map(lambda t: check(t, api_key, deadline), targets_))
