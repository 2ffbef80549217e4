"""Checks that span stacks, which the Pulumi program cannot make (it reads no other stack's
file): every `promotes_to` names an existing stack, the chain has no cycle, and a challenger's
parent exists and is what it promotes to. Run by `mlops validate` and in CI."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from spec.environment import Environment
from spec.errors import Problem, did_you_mean, one_of
from spec.project import NAMESPACE, list_stacks, stack_file_name

PROMOTES_TO = f"{NAMESPACE}:environment.promotes_to"
UPSTREAM = f"{NAMESPACE}:environment.upstream"


def chain_problems(root: Path, envs: Mapping[str, Environment]) -> list[Problem]:
    """Problems of the promotion chain among `envs` (the stacks that validated on their own)."""
    known = list_stacks(root)
    found: list[Problem] = []
    for stack, env in envs.items():
        display = stack_file_name(stack)
        target = env.promotes_to
        if target is not None and target not in known:
            others = [s for s in known if s != stack]
            found.append(
                Problem(
                    display,
                    PROMOTES_TO,
                    f"no stack '{target}' ({stack_file_name(target)} not found){did_you_mean(target, others)}; "
                    f"use one of: {one_of(others)}",
                )
            )
        meta = env.config.challenger
        if meta is not None:
            if meta.parent not in known:
                found.append(
                    Problem(
                        display,
                        f"{NAMESPACE}:challenger.parent",
                        f"its parent '{meta.parent}' no longer exists: destroy the challenger "
                        f"(mlops challenger destroy {stack.removeprefix('challenger-')})",
                    )
                )
            elif target != meta.parent:
                found.append(
                    Problem(display, PROMOTES_TO, f"a challenger promotes to its parent: set it to '{meta.parent}'")
                )
    found.extend(_upstreams(envs, known))
    found.extend(_shared_worker_groups(envs))
    found.extend(_shared_hosts(envs))
    found.extend(_cycles(envs))
    return found


def build_problems(root: Path) -> list[Problem]:
    """Every catalogue `build:` names a directory of this repository holding its Dockerfile (the
    program needs them only for a `version: source` pin; CI should know sooner)."""
    from spec.project import load_catalogue

    found: list[Problem] = []
    for name, entry in sorted(load_catalogue(root).items()):
        if entry.build is None:
            continue
        display = f"config/components/{name}.yaml"
        context = root / entry.build.context
        dockerfile = root / entry.build.dockerfile if entry.build.dockerfile else context / "Dockerfile"
        if not context.is_dir():
            found.append(
                Problem(display, "build.context", f"{entry.build.context} is not a directory of this repository")
            )
        elif not dockerfile.is_file():
            key = "build.dockerfile" if entry.build.dockerfile else "build.context"
            found.append(
                Problem(
                    display, key, f"no Dockerfile at {dockerfile.relative_to(root)}: add one or name it (dockerfile:)"
                )
            )
    return found


def _shared_worker_groups(envs: Mapping[str, Environment]) -> list[Problem]:
    """A node pool belongs to one environment: two stacks owning a worker group of the same name
    on the same cluster would schedule each other's pods (the group's node label is the same)."""
    owners: dict[tuple[str, str], list[str]] = {}
    for stack, env in sorted(envs.items()):
        if not env.config.is_gke:
            continue
        cluster = env.config.platform or f"{env.config.cluster.name}@{env.config.cluster.location}"  # type: ignore[union-attr]
        for name, group in env.worker_groups.items():
            if not group.existing:
                owners.setdefault((cluster, name), []).append(stack)
    found = []
    for (_, name), stacks in sorted(owners.items()):
        if len(stacks) > 1:
            for stack in stacks[1:]:
                found.append(
                    Problem(
                        stack_file_name(stack),
                        f"{NAMESPACE}:worker_groups.{name}",
                        f"'{stacks[0]}' owns a worker group '{name}' on the same cluster: rename this one, or "
                        "mark it existing: true to share that pool",
                    )
                )
    return found


def _shared_hosts(envs: Mapping[str, Environment]) -> list[Problem]:
    """Each environment has its own Gateway, address and certificate, so its own host: two stacks
    on one host would each claim the DNS name (the path keeps the environment apart anyway)."""
    owners: dict[str, str] = {}
    found = []
    for stack, env in sorted(envs.items(), key=lambda item: (item[1].promotes_to is not None, item[0])):
        host = env.config.routing.host
        if env.config.routing.gateway is not None:
            continue  # routes on a shared Gateway: many environments, one host, told apart by path
        if host in owners:
            found.append(
                Problem(
                    stack_file_name(stack),
                    f"{NAMESPACE}:routing.host",
                    f"'{owners[host]}' serves {host} already: give this environment its own host (e.g. {stack}.{host})",
                )
            )
        else:
            owners[host] = stack
    return found


def _upstreams(envs: Mapping[str, Environment], known: list[str]) -> list[Problem]:
    """`upstream` mirrors `promotes_to` (challengers aside): the program of a stack reads its
    upstream's pins through a StackReference, so the two must name each other."""
    found: list[Problem] = []
    for stack, env in envs.items():
        upstream = env.config.environment.upstream
        if upstream is not None:
            source = envs.get(upstream)
            if upstream not in known:
                found.append(
                    Problem(
                        stack_file_name(stack), UPSTREAM, f"no stack '{upstream}': name the stack that promotes here"
                    )
                )
            elif source is not None and source.promotes_to != stack:
                found.append(
                    Problem(
                        stack_file_name(stack),
                        UPSTREAM,
                        f"'{upstream}' promotes to {source.promotes_to or 'nothing'}, not '{stack}': "
                        f"name the stack whose promotes_to is '{stack}'",
                    )
                )
        target = envs.get(env.promotes_to) if env.promotes_to else None
        if env.config.challenger is None and target is not None and target.config.environment.upstream != stack:
            found.append(
                Problem(
                    stack_file_name(env.promotes_to or ""),
                    UPSTREAM,
                    f"'{stack}' promotes here: set mlops:environment.upstream: {stack} (the program checks every "
                    "promoted pin against it)",
                )
            )
    return found


def _cycles(envs: Mapping[str, Environment]) -> list[Problem]:
    found: list[Problem] = []
    reported: set[str] = set()
    for start in sorted(envs):
        path = [start]
        while True:
            env = envs.get(path[-1])
            target = env.promotes_to if env is not None else None
            if target is None or target in reported:
                break
            if target in path:
                cycle = path[path.index(target) :]
                if not reported & set(cycle):
                    found.append(
                        Problem(
                            stack_file_name(cycle[0]),
                            PROMOTES_TO,
                            f"the chain loops ({' -> '.join([*cycle, target])}): end it with a stack "
                            "without promotes_to (production)",
                        )
                    )
                reported.update(cycle)
                break
            path.append(target)
    return found
