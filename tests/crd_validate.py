"""Strict offline validation of the custom resources the program declares (Gateway API, GKE's gateway
policies, Google Managed Prometheus), which kubernetes-validate cannot check: it only knows built-in kinds.

Each kind is checked against the OpenAPI v3 schema vendored from its project's own CRD manifest
(tests/crd_schemas/<group>_<version>_<kind>.json; tests/crd_schemas/fetch.md says where each came from),
in the same strict spirit as `kubernetes_validate.validate(..., strict=True)`:

- a field not declared where the schema lists `properties` is an error, unless that node allows more
  (`additionalProperties`, `x-kubernetes-preserve-unknown-fields`); the API server would silently prune
  it, so a typo would otherwise deploy as "no setting at all";
- `metadata` is checked as ObjectMeta's basics (name, namespace, labels, annotations), which is all the
  program sets; any other metadata field is reported as unknown;
- defaults are applied first, as the API server does before validating (a Gateway address without a
  `type` is an IPAddress, which the address's `oneOf` relies on);
- `x-kubernetes-int-or-string` accepts an integer or a string; `x-kubernetes-list-type` map/set lists
  must not repeat a key/item; formats the API server checks (int32, int64, date-time, duration, ipv4,
  ipv6) are checked;
- `x-kubernetes-validations` (CEL rules) are NOT evaluated: there is no CEL interpreter here. What they
  forbid (e.g. `tls` on an HTTP listener, a RequestRedirect filter next to backendRefs) is only caught by
  the API server at `pulumi up`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError
from jsonschema.exceptions import relevance
from jsonschema.validators import extend

SCHEMA_DIR = Path(__file__).resolve().parent / "crd_schemas"

# ObjectMeta, as far as the program uses it. Name and namespace follow the API server's rules for
# custom resources (a DNS subdomain, a DNS label); label values follow the label-value syntax.
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "maxLength": 63,
                "pattern": r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$",
            },
        },
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["name"],
    "additionalProperties": False,
}

# Go's time.ParseDuration syntax (what the API server's `duration` format and Prometheus accept),
# not ISO 8601's, which is what jsonschema's own `duration` checker would demand.
_GO_DURATION = re.compile(r"^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w|y))+$")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


@_FORMATS.checks("duration")
def _duration(value: object) -> bool:
    return not isinstance(value, str) or bool(_GO_DURATION.match(value))


@_FORMATS.checks("ipv4", raises=ValueError)
def _ipv4(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.IPv4Address(value))


@_FORMATS.checks("ipv6", raises=ValueError)
def _ipv6(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.IPv6Address(value))


def _list_type(validator: Any, list_type: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """The API server rejects a `map` list repeating a key and a `set` list repeating an item."""
    if not validator.is_type(instance, "array") or list_type not in ("map", "set"):
        return
    keys = schema.get("x-kubernetes-list-map-keys", [])
    seen: set[str] = set()
    for index, item in enumerate(instance):
        identity = item if list_type == "set" or not isinstance(item, dict) else {k: item.get(k) for k in keys}
        token = json.dumps(identity, sort_keys=True)
        if token in seen:
            what = f"key {identity}" if list_type == "map" else f"item {item!r}"
            yield ValidationError(f"duplicate {what} in a list of type {list_type}", path=[index])
        seen.add(token)


# Draft 4 is the JSON Schema dialect OpenAPI v3 schemas are built on; the x-kubernetes-* keywords are
# unknown to it (so ignored) except the list-type rule added here.
_Validator = extend(Draft4Validator, {"x-kubernetes-list-type": _list_type})


def _strict(node: Any, *, in_combinator: bool = False) -> Any:
    """A copy of a schema node made strict the way `kubernetes_validate(strict=True)` is.

    Nodes under `oneOf`/`anyOf`/`allOf`/`not` only constrain fields declared elsewhere (a structural
    schema may not declare new ones there), so they are left open."""
    if isinstance(node, list):
        return [_strict(item, in_combinator=in_combinator) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _strict(sub, in_combinator=in_combinator) for name, sub in value.items()}
        elif key in ("oneOf", "anyOf", "allOf", "not"):
            out[key] = _strict(value, in_combinator=True)
        elif key in ("default", "enum", "x-kubernetes-validations"):
            out[key] = value  # values, not schemas
        else:
            out[key] = _strict(value, in_combinator=in_combinator)
    open_ended = "additionalProperties" in node or node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and not open_ended and not in_combinator:
        out["additionalProperties"] = False
    if node.get("x-kubernetes-int-or-string") and "type" not in node and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


@cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict schema, read once from the vendored files."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        group, version, kind = path.stem.rsplit("_", 2)
        schema = json.loads(path.read_text())
        schema.pop("_source")
        schema = _strict(schema)
        schema["properties"]["metadata"] = _OBJECT_META
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
        found[(f"{group}/{version}", kind)] = schema
    return found


def _group(api_version: object) -> str:
    return api_version.rsplit("/", 1)[0] if isinstance(api_version, str) and "/" in api_version else ""


def is_custom(obj: dict[str, Any]) -> bool:
    """True for an object of an API group whose schemas are vendored here (validate it with
    `validate_custom`, not kubernetes-validate); a kind of such a group that has no vendored schema
    is custom too, so `validate_custom` can say what to vendor instead of failing obscurely."""
    return _group(obj.get("apiVersion")) in {_group(api_version) for api_version, _ in _schemas()}


def _apply_defaults(schema: dict[str, Any], value: Any) -> None:
    """Fill in absent fields that declare a `default`, in place, as the API server does on create."""
    if isinstance(value, dict):
        declared = schema.get("properties", {})
        for name, sub in declared.items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _apply_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in declared:
                    _apply_defaults(extra, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _apply_defaults(schema["items"], item)


def _json_path(parts: list[str | int]) -> str:
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _describe(error: ValidationError) -> tuple[str, str]:
    """(JSON path, message) of one error, pointing at the offending field itself where it can."""
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        declared = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(declared))
        return _json_path([*path, unknown[0]]), f"unknown field (declared here: {', '.join(declared)})"
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return _json_path([*path, missing[0]]), "required field is missing"
    if error.validator in ("oneOf", "anyOf") and error.context:
        forms = "; ".join(f"{_json_path(list(sub.absolute_path))}: {sub.message}" for sub in error.context)
        return _json_path(path), f"fits none of the allowed forms ({forms})"
    return _json_path(path), error.message


def validate_custom(obj: dict[str, Any]) -> None:
    """Validate one custom resource strictly against its vendored schema; raise ValueError naming the
    object and the JSON path of the first problem: jsonschema's most relevant error, reported where
    it occurs (a failed `oneOf`/`anyOf` at the field that fits none of its forms)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    name = (obj.get("metadata") or {}).get("name", "<unnamed>")
    schema = _schemas().get((str(api_version), str(kind)))
    if schema is None:
        raise ValueError(
            f"{kind} {name}: no vendored schema for {api_version} {kind}: "
            "vendor its CRD's openAPIV3Schema as tests/crd_schemas/fetch.md describes"
        )
    defaulted = copy.deepcopy(obj)
    _apply_defaults(schema, defaulted)
    error = max(_Validator(schema, format_checker=_FORMATS).iter_errors(defaulted), key=relevance, default=None)
    if error is not None:
        path, message = _describe(error)
        raise ValueError(f"{kind} {name}: {path}: {message}")
