"""Canary versions as pure steps: start, re-weight, promote or abort a component's canary. Each
is a change of the stack's pins (the pin's `canary:`), prepared like `pin` and committed with its
history record, so `mlops rollback` undoes it like any other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.promotion import Update, pinned, require_stack, update_pins
from mlops.stackfile import pin_entries
from spec.environment import Environment, load_environment
from spec.errors import ConfigError
from spec.project import stack_file_name


def _running(env: Environment, component: str) -> dict[str, Any]:
    current = pinned(env, component)
    if current.pin.canary is None:
        raise ConfigError.one(
            stack_file_name(env.name),
            f"mlops:components[{component}].canary",
            f"'{component}' runs no canary: start one with mlops canary start {component} VERSION -s {env.name}",
        )
    return {e["name"]: e for e in pin_entries(env)}[component]


def _with(env: Environment, component: str, change: Any) -> list[dict[str, Any]]:
    return [change(dict(p)) if p["name"] == component else p for p in pin_entries(env)]


def _check_weight(weight: int) -> None:
    if not 1 <= weight <= 99:
        raise ConfigError.one("--weight", "", f"{weight} is not a percentage of traffic from 1 to 99")


def prepare_start(root: Path, stack: str, component: str, version: str, weight: int, sticky: bool) -> Update:
    require_stack(root, stack)
    _check_weight(weight)
    env = load_environment(root, stack)
    current = pinned(env, component)
    if current.built:
        raise ConfigError.one(
            stack_file_name(stack), f"mlops:components[{component}].version", "a source build has no canary"
        )
    if current.pin.canary is not None:
        raise ConfigError.one(
            stack_file_name(stack),
            f"mlops:components[{component}].canary",
            f"'{component}' runs a canary already ({current.pin.canary.version}): promote or abort it first",
        )
    found = current.catalogue.require_version(version).id
    if found == current.version.id:
        raise ConfigError.one(
            f"config/components/{component}.yaml", "versions", f"{found} is the stable version: pick another"
        )
    canary = {"version": found, "weight": weight, "sticky": sticky}

    def change(p: dict[str, Any]) -> dict[str, Any]:
        return {**p, "canary": canary}

    source = {"component": component, "canary": found, "weight": weight}
    return update_pins(root, stack, "canary-start", _with(env, component, change), source, False, before=env)


def prepare_weight(root: Path, stack: str, component: str, weight: int) -> Update:
    require_stack(root, stack)
    _check_weight(weight)
    env = load_environment(root, stack)
    running = _running(env, component)

    def change(p: dict[str, Any]) -> dict[str, Any]:
        return {**p, "canary": {**running["canary"], "weight": weight}}

    source = {"component": component, "weight": weight}
    return update_pins(root, stack, "canary-weight", _with(env, component, change), source, False, before=env)


def prepare_promote(root: Path, stack: str, component: str) -> Update:
    """The canary's version becomes the pin; the old stable version goes away."""
    require_stack(root, stack)
    env = load_environment(root, stack)
    running = _running(env, component)

    def change(p: dict[str, Any]) -> dict[str, Any]:
        p = {k: v for k, v in p.items() if k != "canary"}
        return {**p, "version": running["canary"]["version"]}

    source = {"component": component, "version": running["canary"]["version"]}
    return update_pins(root, stack, "canary-promote", _with(env, component, change), source, False, before=env)


def prepare_abort(root: Path, stack: str, component: str) -> Update:
    """The canary goes away; the stable version takes all traffic again."""
    require_stack(root, stack)
    env = load_environment(root, stack)
    running = _running(env, component)

    def change(p: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in p.items() if k != "canary"}

    source = {"component": component, "canary": running["canary"]["version"]}
    return update_pins(root, stack, "canary-abort", _with(env, component, change), source, False, before=env)
