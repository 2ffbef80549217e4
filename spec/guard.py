"""The promotion guard, as a pure check: a stack that another stack promotes into (UAT,
production) may only move a pin to what its upstream runs now. The program feeds it the pins the
upstream and this stack last deployed (read through StackReferences); the check names every pin
that breaks the rule, one line each, with the fix.

A pin "moves" when its (version, digest) differs from what this stack runs now; pins the stack
already runs pass whatever the upstream has moved on to, so a redeploy or a settings change never
needs the upstream. `mlops:promotion.unverified` lists the recorded hotfix exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spec.environment import Environment
from spec.errors import Problem
from spec.project import stack_file_name

Deployed = dict[str, tuple[Any, Any]]


def deployed_pins(pins: Any) -> Deployed | None:
    """A `pins` stack output as {name: (version, digest)}; None when there is none or it is not a
    list of {name, version, digest} (an upstream deployed by an older program)."""
    if not isinstance(pins, list):
        return None
    found: Deployed = {}
    for pin in pins:
        if not isinstance(pin, dict) or not isinstance(pin.get("name"), str) or "digest" not in pin:
            return None
        version = pin.get("version")
        # Stack outputs travel as JSON numbers: 158 may come back as 158.0.
        if isinstance(version, float) and version.is_integer():
            version = int(version)
        found[pin["name"]] = (version, pin.get("digest"))
    return found


def moved_pins(env: Environment, own: Deployed | None) -> list[str]:
    """The components whose version or digest differs from what the stack last deployed (all of
    them on a first deployment)."""
    own = own or {}
    return [c.name for c in env.components if own.get(c.name) != (c.version.id, c.version.digest)]


def unverified_moves(
    env: Environment, upstream_stack: str, upstream_pins: Any, own_pins: Any
) -> tuple[list[Problem], list[str]]:
    """(problems: moved pins the upstream does not run, exempted: moved pins let through by
    mlops:promotion.unverified)."""
    display = stack_file_name(env.name)
    upstream = env.config.environment.upstream
    exempt = set(env.config.promotion.unverified)
    moved = moved_pins(env, deployed_pins(own_pins))
    checked = [name for name in moved if name not in exempt]
    exempted = [name for name in moved if name in exempt]
    if not checked:
        return [], exempted
    runs = deployed_pins(upstream_pins)
    if runs is None:
        why = "has no pins output yet" if upstream_pins is None else "exports pins without digests"
        return [
            Problem(
                display,
                "mlops:environment.upstream",
                f"upstream stack {upstream_stack} {why}, so {_names(checked)} cannot be checked: deploy "
                f"'{upstream}' with this program first, or list the components under mlops:promotion.unverified "
                "(a recorded hotfix)",
            )
        ], exempted
    problems = []
    for c in env.components:
        if c.name not in checked:
            continue
        wanted = (c.version.id, c.version.digest)
        if runs.get(c.name) == wanted:
            continue
        theirs = runs.get(c.name)
        upstream_runs = f"runs {theirs[0]} ({_short(theirs[1])})" if theirs else "does not run it"
        problems.append(
            Problem(
                display,
                f"mlops:components[{c.name}].version",
                f"'{c.name}' would move to {c.version.id} ({_short(c.version.digest)}) but upstream '{upstream}' "
                f"{upstream_runs}: promote from '{upstream}' (mlops promote {upstream}), or list '{c.name}' under "
                "mlops:promotion.unverified for a recorded hotfix",
            )
        )
    return problems, exempted


def _short(digest: Any) -> str:
    return str(digest)[:19] if digest else "no digest"


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
