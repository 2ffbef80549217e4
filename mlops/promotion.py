"""Promotion, pinning and rollback as pure steps: work out the new pins, the stack file text that
carries them, and exactly what would change (pins and resources); then, under the project lock,
write the file atomically and append the log record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlops import history
from mlops.changes import PinChange, ResourceChange, pin_changes, resource_changes
from mlops.outputs import deployed_pins
from mlops.stackfile import (
    PINS_KEY,
    PROMOTION_KEY,
    PROVENANCE_KEY,
    atomic_write,
    pin_entries,
    project_lock,
    read_text,
    render_stack_text,
    validate_stack_text,
)
from spec.environment import Environment, ResolvedComponent, build_environment, load_environment
from spec.errors import ConfigError, did_you_mean, one_of
from spec.project import (
    list_stacks,
    load_catalogue,
    load_project,
    read_stack_file,
    stack_config_values,
    stack_file_name,
)
from spec.schema import SOURCE_VERSION


@dataclass
class Update:
    """A prepared change of one stack's pins: nothing is written until `commit`."""

    stack: str
    action: Literal[
        "promote",
        "pin",
        "rollback",
        "add",
        "remove",
        "settings",
        "canary-start",
        "canary-weight",
        "canary-promote",
        "canary-abort",
    ]
    before: Environment
    after: Environment
    before_text: str
    after_text: str
    source: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    # Renders the new file text when it is needed (a commit): `diff` and `--dry-run` only need
    # the environments, and a round-trip edit of a thousand pins is the slowest step.
    render: Callable[[], str] | None = None

    def new_text(self) -> str:
        """The stack file's text after the change, fully validated and equal in meaning to `after`."""
        if self.render is not None:
            self.after_text, self.render = self.render(), None
        return self.after_text

    @property
    def pins(self) -> list[PinChange]:
        return pin_changes(self.before, self.after)

    @property
    def changed(self) -> bool:
        if self.action == "settings":
            return self.new_text() != self.before_text
        # Pin actions compare versions: rewriting a label as its id changes nothing.
        return any(c.status != "unchanged" for c in self.pins)

    def resources(self) -> list[ResourceChange]:
        return resource_changes(self.before, self.after)


def require_stack(root: Path, stack: str) -> None:
    known = list_stacks(root)
    if stack not in known:
        raise ConfigError.one(
            stack_file_name(stack),
            "",
            f"no such stack{did_you_mean(stack, known)}: use one of {one_of(known)}",
        )


def update_pins(
    root: Path,
    stack: str,
    action: Any,
    pins: list[dict[str, Any]],
    source: dict[str, Any],
    provenance: bool,
    before: Environment | None = None,
    unverified: list[str] | None = None,
) -> Update:
    """The update that makes `stack` run `pins`; `before` is the stack as loaded already, if it was."""
    display = stack_file_name(stack)
    before = before if before is not None else load_environment(root, stack)
    text = read_text(root, stack)
    prov = None
    if provenance:
        prov = {
            "stack": source["stack"],
            "source": source["kind"],
            "update": source.get("update"),
            "time": history.now(),
            "user": history.current_user(),
        }
    # The new environment from the edited data; the text that carries it is rendered (and checked
    # to mean the same) only when it is written.
    data = read_stack_file(root, stack) or {}
    config = data.setdefault("config", {})
    config[PINS_KEY] = pins
    if unverified:
        config[PROMOTION_KEY] = {"unverified": unverified}
    elif unverified is not None:
        config.pop(PROMOTION_KEY, None)
    if prov is not None:
        config[PROVENANCE_KEY] = {k: v for k, v in prov.items() if v is not None}
    values, secret_keys = stack_config_values(root, data, display)
    after = build_environment(load_project(root), stack, values, secret_keys, load_catalogue(root))

    def render() -> str:
        after_text = render_stack_text(text, pins, prov, display, unverified)
        if pin_entries(validate_stack_text(root, stack, after_text)) != pin_entries(after):
            raise ConfigError.one(display, PINS_KEY, "the edited file does not say what was meant: edit it by hand")
        return after_text

    return Update(stack, action, before, after, text, "", source, render=render)


def with_target_settings(pins: list[dict[str, Any]], target: Environment) -> list[dict[str, Any]]:
    """Source pins (name, type, version), keeping the target's own component-level settings and
    its own canary (promotion copies pins, never canaries), unless the canary's version is the one
    that now becomes stable."""
    kept = {c.name: c.pin.settings.explicit() for c in target.components}
    canaries = {e["name"]: e["canary"] for e in pin_entries(target) if "canary" in e}
    result = []
    for pin in pins:
        entry = {"name": pin["name"], "type": pin["type"], "version": pin["version"]}
        if kept.get(pin["name"]):
            entry["settings"] = kept[pin["name"]]
        canary = canaries.get(pin["name"])
        if canary is not None and canary["version"] != pin["version"]:
            entry["canary"] = canary
        result.append(entry)
    return result


def canary_warnings(source: Environment) -> list[str]:
    """Promoting from a stack with a running canary moves its stable versions, not the canaries."""
    return [
        f"'{source.name}' runs a canary of {c.name} ({c.canary.id}, {c.pin.canary.weight}%): "
        f"its stable version {c.version.id} is what moves"
        for c in source.components
        if c.canary is not None and c.pin.canary is not None
    ]


def prepare_promotion(
    root: Path,
    source: str,
    target: str | None = None,
    *,
    source_kind: Literal["config", "deployed"] = "config",
    outputs: dict[str, Any] | None = None,
    outputs_display: str = "stack outputs",
    update_number: int | None = None,
    force: bool = False,
) -> Update:
    require_stack(root, source)
    source_env = load_environment(root, source)
    if target is None:
        target = source_env.promotes_to
        if target is None:
            raise ConfigError.one(
                stack_file_name(source),
                "mlops:environment.promotes_to",
                f"'{source}' ends the promotion chain: name the target (mlops promote {source} TARGET --force)",
            )
    require_stack(root, target)
    if target == source:
        raise ConfigError.one(stack_file_name(source), "", f"cannot promote '{source}' to itself: name another stack")
    if target != source_env.promotes_to and not force:
        chain = source_env.promotes_to or "nothing (it ends the chain)"
        raise ConfigError.one(
            stack_file_name(source),
            "mlops:environment.promotes_to",
            f"'{source}' promotes to {chain}, not '{target}': pass --force to promote against the chain",
        )
    warnings: list[str] = []
    if source_kind == "deployed":
        if outputs is None:
            raise ConfigError.one(
                outputs_display, "", "no stack outputs: pass --outputs-file or install the Pulumi CLI"
            )
        pins = deployed_pins(outputs, outputs_display)
        configured = [{"name": p["name"], "type": p["type"], "version": p["version"]} for p in pin_entries(source_env)]
        if pins != configured:
            warnings.append(
                f"'{source}' runs pins that differ from {stack_file_name(source)}: promoting what it runs "
                "(deploy or fix the file to reconcile)"
            )
    else:
        pins = pin_entries(source_env)
    warnings.extend(canary_warnings(source_env))
    built = [p["name"] for p in pins if p["version"] == SOURCE_VERSION]
    if built:
        raise ConfigError.one(
            stack_file_name(source),
            f"mlops:components[{built[0]}].version",
            f"'{source}' runs a build from source, which is never promoted: register its digest first "
            f"(mlops version add {built[0]} --from-stack {source}), pin that version in '{source}', then promote",
        )
    target_env = load_environment(root, target)
    new_pins = with_target_settings(pins, target_env)
    update = update_pins(
        root,
        target,
        "promote",
        new_pins,
        {"stack": source, "kind": source_kind, "update": update_number},
        provenance=True,
        before=target_env,
        # A promotion moves pins to what the upstream runs: earlier hotfix exceptions end here.
        unverified=[],
    )
    update.warnings = warnings
    return update


def pinned(env: Environment, component: str) -> ResolvedComponent:
    """The component as pinned in the environment, or one line saying it is not."""
    if component not in env.by_name:
        raise ConfigError.one(
            stack_file_name(env.name),
            "mlops:components",
            f"'{component}' is not pinned in this stack{did_you_mean(component, env.by_name)}; "
            f"pinned: {one_of(env.by_name)}",
        )
    return env.by_name[component]


def prepare_pin(root: Path, stack: str, component: str, version: str, unverified: bool = False) -> Update:
    """Pin one component. `unverified`: a hotfix the upstream does not run; the component is added
    to mlops:promotion.unverified (so the program's guard lets it through) and the log says so."""
    require_stack(root, stack)
    env = load_environment(root, stack)
    current = pinned(env, component)
    found = current.catalogue.require_version(version)
    pins = [dict(p, version=found.id) if p["name"] == component else p for p in pin_entries(env)]
    source: dict[str, Any] = {"component": component, "version": found.id}
    exempt = None
    if unverified:
        if env.config.environment.upstream is None:
            raise ConfigError.one(
                stack_file_name(stack),
                "mlops:environment.upstream",
                "nothing promotes into this stack, so no guard to pass: pin without --unverified",
            )
        exempt = sorted({*env.config.promotion.unverified, component})
        source["unverified"] = True
    return update_pins(root, stack, "pin", pins, source, provenance=False, before=env, unverified=exempt)


def prepare_rollback(root: Path, stack: str) -> Update:
    require_stack(root, stack)
    recorded = history.records(root, stack)
    if not recorded:
        raise ConfigError.one(
            str(history.LOG_FILE), stack, "no recorded promote, pin or rollback for this stack: nothing to roll back"
        )
    last = recorded[-1]
    env = load_environment(root, stack)
    exempt = None
    if env.config.environment.upstream is not None:
        # Going back means running versions the upstream may have left behind: the promotion
        # guard must let exactly those through, recorded like a hotfix until the next promotion.
        now = {c.name: c.version.id for c in env.components}
        back = {p["name"] for p in last["pins_before"] if now.get(p["name"]) != p.get("version")}
        exempt = sorted(set(env.config.promotion.unverified) | back) if back else None
    source = {"undoes": last["time"], "action": last["action"]}
    if exempt:
        source["unverified"] = exempt
    return update_pins(root, stack, "rollback", last["pins_before"], source, False, before=env, unverified=exempt)


def prepare_add(root: Path, stack: str, component: str, version: str | None) -> Update:
    from spec.project import load_catalogue

    require_stack(root, stack)
    env = load_environment(root, stack)
    display = stack_file_name(stack)
    if component in env.by_name:
        raise ConfigError.one(
            display,
            f"mlops:components[{component}]",
            f"'{component}' is pinned already (version {env.by_name[component].version.id}): "
            f"use mlops pin {component} VERSION -s {stack}",
        )
    catalogue = load_catalogue(root)
    entry = catalogue.get(component)
    if entry is None:
        raise ConfigError.one(
            f"config/components/{component}.yaml",
            "",
            f"no catalogue component '{component}'{did_you_mean(component, catalogue)}: use one of {one_of(catalogue)}",
        )
    found = entry.require_version(entry.default_version if version is None else version)
    pins = [*pin_entries(env), {"name": component, "type": entry.type, "version": found.id}]
    return update_pins(
        root, stack, "add", pins, {"component": component, "version": found.id}, provenance=False, before=env
    )


def prepare_remove(root: Path, stack: str, component: str) -> Update:
    require_stack(root, stack)
    env = load_environment(root, stack)
    pinned(env, component)
    pins = [p for p in pin_entries(env) if p["name"] != component]
    return update_pins(root, stack, "remove", pins, {"component": component}, provenance=False, before=env)


def commit(root: Path, prepare: Callable[[], Update]) -> Update:
    """Prepare and write under the project lock, so two writers never interleave: the second one
    sees the first one's file. Appends the log record after the file is in place."""
    with project_lock(root):
        update = prepare()
        if not update.changed:
            return update
        atomic_write(root / stack_file_name(update.stack), update.new_text())
        if update.action == "settings":
            return update
        history.append(
            root,
            {
                "time": history.now(),
                "user": history.current_user(),
                "action": update.action,
                "stack": update.stack,
                "source": update.source,
                "pins_before": pin_entries(update.before),
                "pins_after": pin_entries(update.after),
            },
        )
    return update
