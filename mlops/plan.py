"""`mlops plan`: the objects the program declares for a stack, rendered offline from the same
pure builders the program uses (`components.render`), one YAML file per object, secrets masked.
It is not a Pulumi preview (that is `mlops preview`): nothing is compared with deployed state.
A test holds it to what the program declares under Pulumi's mocks, for every committed stack.
"""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.manifests import to_config_text
from components.node_pools import NODE_POOL_TYPE
from components.render import Declared, declared
from mlops import plan_index
from mlops.plan_files import write_files
from mlops.processes import alive
from spec.environment import Environment
from spec.errors import ConfigError

MASK = "<secret>"
# Written into every plan directory: `plan` replaces only a directory that has it (or is empty).
MARKER = ".mlops-plan"
# Free-form maps whose keys are data, not property names.
_DATA_MAPS = {"labels", "metadata", "resource_labels", "resource_manager_tags"}
# Below this many files one process writes them all (starting workers costs more).
_PARALLEL_FROM = 400


@dataclass
class PlanResult:
    out: Path
    files: list[Path]
    groups: dict[str, Counter]
    unchanged: int = 0  # files kept from the plan it replaced


def wire_names(value: Any, key: str = "") -> Any:
    """Pulumi Python argument names as the engine records them (node_config -> nodeConfig),
    leaving the keys of free-form maps (labels) as they are."""
    if isinstance(value, dict):
        if key in _DATA_MAPS:
            return dict(value)
        return {_camel(k): wire_names(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_names(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def masked(obj: Declared) -> dict[str, Any]:
    """A declared Kubernetes object as written: Secret values masked."""
    body = dict(obj.inputs)
    if body.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(body.get(key), dict):
                body[key] = {k: MASK for k in body[key]}
    return body


def planned(env: Environment) -> list[Declared]:
    """What the program declares for `env`, with the values only a deployment knows masked."""
    config = MASK if env.environment_config_secret else to_config_text(env.config.environment_config)
    return declared(env, MASK, config)


def document(obj: Declared) -> tuple[str, dict[str, Any]]:
    """(file name, document): Kubernetes objects as manifests; node pools as their type, name,
    options and inputs (as `pulumi preview` names them)."""
    if obj.type == NODE_POOL_TYPE:
        body = {"type": obj.type, "name": obj.name, "protect": obj.protect, "inputs": wire_names(obj.inputs)}
        if obj.ignore_changes:
            body["ignoreChanges"] = list(obj.ignore_changes)
        return f"nodepool-{obj.name}.yaml", body
    body = masked(obj)
    return f"{body['kind'].lower()}-{body['metadata']['name']}.yaml", body


def check_replaceable(out: Path) -> None:
    """`plan` replaces its own earlier output, never a directory of anything else."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError.one("--out", str(out), "is a file; give a directory for the plan")
    try:
        if (out / MARKER).is_file() or not any(out.iterdir()):
            return
    except OSError as exc:
        raise ConfigError.one("--out", str(out), f"cannot read it: {exc.strerror or exc}") from None
    raise ConfigError.one(
        "--out", str(out), f"exists and holds no {MARKER} (not a plan); give a new or empty directory"
    )


def remove_leftovers(out: Path) -> None:
    """Remove what a killed plan left next to `out` (its working directories carry its pid)."""
    for path in out.parent.glob(f".{out.name}.*-*"):
        kind, _, rest = path.name[len(out.name) + 2 :].partition("-")
        pid = rest.split("-", 1)[0]
        if kind in ("new", "old") and pid.isdigit() and not alive(int(pid)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def write_plan(env: Environment, out: Path) -> PlanResult:
    """Write the plan into a fresh directory next to `out`, then swap it in: a failed or
    interrupted plan never leaves a half-written directory behind, and an earlier plan stays
    whole until the new one is complete."""
    check_replaceable(out)
    objects = planned(env)
    entries: list[tuple[str, dict[str, Any]]] = []
    groups: dict[str, Counter] = {}
    for obj in objects:
        filename, body = document(obj)
        entries.append((f"{obj.group}/{filename}", body))
        groups.setdefault(obj.group, Counter())[obj.type.rsplit(":", 1)[-1]] += 1
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(out)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-{os.getpid()}-"))
    except OSError as exc:
        raise ConfigError.one("--out", str(out), f"cannot write the plan: {exc.strerror or exc}") from None
    try:
        for group in groups:
            (staging / group).mkdir()
        # Files of the plan being replaced whose documents are unchanged are linked, not written.
        kept, to_write = plan_index.keep_unchanged(plan_index.load(out), out, staging, entries)
        _write_all(staging, [(relative, body) for relative, _, body in to_write])
        plan_index.save(staging, kept, to_write)
        (staging / MARKER).write_text(f"stack: {env.name}\nobjects: {len(entries)}\n", encoding="utf-8")
        old = _swap_in(staging, out)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            where = f"{Path(exc.filename).name}: " if exc.filename else ""
            raise ConfigError.one("--out", str(out), f"cannot write the plan: {where}{exc.strerror or exc}") from None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return PlanResult(out, [out / relative for relative, _ in entries], groups, len(kept))


class _WorkerFailed(Exception):
    pass


def _write_all(staging: Path, entries: list[tuple[str, dict[str, Any]]]) -> None:
    """Render and create the files, split with worker processes when there are many: rendering
    YAML is pure Python (one core) and creating thousands of small files is system-call bound."""
    cores = min(os.cpu_count() or 1, 4)
    if len(entries) < _PARALLEL_FROM or cores < 2:
        write_files(str(staging), entries)
        return
    chunks = [entries[i::cores] for i in range(cores)]
    workers = []
    try:
        for chunk in chunks[1:]:
            worker = subprocess.Popen(
                [sys.executable, "-I", "-m", "mlops.plan_files", str(staging)],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            workers.append(worker)
            assert worker.stdin is not None and worker.stderr is not None
            worker.stdin.write(marshal.dumps(chunk))
            worker.stdin.close()
        write_files(str(staging), chunks[0])
        for worker in workers:
            message = worker.stderr.read().decode("utf-8", "replace").strip()  # type: ignore[union-attr]
            if worker.wait() != 0:
                raise _WorkerFailed(
                    message.splitlines()[-1] if message else f"a plan writer exited with {worker.returncode}"
                )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            if worker.stderr is not None:
                worker.stderr.close()


def _swap_in(staging: Path, out: Path) -> Path | None:
    """Rename the finished plan into place; an earlier plan is renamed aside first (returned, for
    removal), so `out` is at every moment the old plan or the new one, or (between the two
    renames) absent - never a mix."""
    if not out.exists():
        os.replace(staging, out)
        return None
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-{os.getpid()}-"))
    os.replace(out, old / "plan")
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(old / "plan", out)  # put the earlier plan back
        old.rmdir()
        raise
    return old
