"""Stack outputs as the tooling reads them: a file written by `pulumi stack output --json`, and
the `pins` output that promotion copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spec.errors import ConfigError
from spec.files import read_json


def read_outputs_file(path: Path) -> dict[str, Any]:
    """Stack outputs as `pulumi stack output --json` prints them."""
    display = str(path)
    if not path.exists():
        raise ConfigError.one(
            display, "", "file not found: write it with `pulumi stack output --json -s <stack> > FILE`"
        )
    data = read_json(path, display, ": use `pulumi stack output --json`")
    if not isinstance(data, dict):
        raise ConfigError.one(display, "", "must be a JSON object of stack outputs")
    return data


def deployed_pins(outputs: dict[str, Any], display: str) -> list[dict[str, Any]]:
    pins = outputs.get("pins")
    if pins is None:
        raise ConfigError.one(
            display, "pins", "no pins output: was the stack deployed with this program? (`pulumi up` exports it)"
        )
    ok = isinstance(pins, list) and all(
        isinstance(p, dict) and isinstance(p.get("name"), str) and p.get("type") in ("app", "model") and "version" in p
        for p in pins
    )
    if not ok:
        raise ConfigError.one(display, "pins", "must be a list of {name, type, version}: re-export the stack outputs")
    return [{"name": p["name"], "type": p["type"], "version": p["version"]} for p in pins]
