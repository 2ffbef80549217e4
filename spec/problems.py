"""Pydantic validation errors as one line each: the file, the key as users write it
(`mlops:components[document_tagging].version`), and what to do about it."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from spec.errors import Problem, did_you_mean

NAMESPACE = "mlops"


def project_key(loc: tuple[Any, ...], _data: Any) -> str:
    parts = ["mlops:settings" if loc and loc[0] == "settings" else str(loc[0])] if loc else []
    return _join(parts, loc[1:])


def plain_key(loc: tuple[Any, ...], _data: Any) -> str:
    return _join([], loc)


def stack_key(loc: tuple[Any, ...], data: Any) -> str:
    if not loc:
        return "config"
    head = f"{NAMESPACE}:{loc[0]}"
    rest = list(loc[1:])
    if loc[0] == "components" and rest and isinstance(rest[0], int):
        pins = data.get("components") if isinstance(data, Mapping) else None
        index = rest.pop(0)
        name = None
        if isinstance(pins, list) and index < len(pins) and isinstance(pins[index], Mapping):
            name = pins[index].get("name")
        head += f"[{name}]" if name else f"[{index}]"
    return _join([head], tuple(rest))


def _join(parts: list[str], rest: Iterable[Any]) -> str:
    text = ".".join(parts)
    for item in rest:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
    return text


def _key_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pydantic's error location without its union-member tags ('int', 'str', 'function-after[...]')."""
    tags = {"int", "str", "bool", "float", "none", "constrained-int", "constrained-str"}
    return tuple(item for item in loc if isinstance(item, int) or (item not in tags and "[" not in str(item)))


def _unwrap(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else (args[0] if args else annotation)
    if origin is typing.Annotated:
        return _unwrap(args[0])
    return annotation


def _element_type(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    args = typing.get_args(annotation)
    return _unwrap(args[-1]) if args else Any


def _is_mapping_type(annotation: Any) -> bool:
    return typing.get_origin(_unwrap(annotation)) is dict


def problems(exc: ValidationError, model: type[BaseModel], display: str, keyfn: Any, data: Any = None) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    errors = exc.errors()
    # A misspelt key shows up twice: as an unknown key and as the real key missing. Say it once.
    unknown = {(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"}
    errors = [
        e
        for e in errors
        if not (
            e["type"] == "missing"
            and any(
                parent == tuple(e["loc"][:-1]) and did_you_mean(key, [str(e["loc"][-1])]) for parent, key in unknown
            )
        )
    ]
    for error in errors:
        loc = _key_path(tuple(error["loc"]))
        key = keyfn(loc, data)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(display, key, _message(error, model, loc)))
    return problems


def _owner_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for item in loc:
        if isinstance(item, int) or _is_mapping_type(current):
            current = _element_type(current)
            continue
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and item in current.model_fields:
            current = _unwrap(current.model_fields[item].annotation)
        else:
            break
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _message(error: dict[str, Any], model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _owner_fields(model, loc[:-1])
        return f"unknown key{did_you_mean(str(loc[-1]), allowed)}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing: add it"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.endswith("_type") or kind.startswith(("literal", "greater", "less", "int_", "bool_")):
        return f"{message} (got {error.get('input')!r})"
    return message
