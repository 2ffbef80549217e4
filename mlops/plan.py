"""`mlops plan`: run a stack's program offline (the engine-faithful recording run the tests use)
and write every declared object: Kubernetes manifests as YAML, one file per object grouped by
component, node pools as YAML specs; secret values masked."""

from __future__ import annotations

import contextlib
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spec.errors import ConfigError
from infra.offline import ProgramRun, RecordedResource, run_program

MASK = "<secret>"
ENVIRONMENT_GROUP = "_environment"
WORKER_GROUPS = "_worker_groups"
# Written into every plan directory: `plan` replaces only a directory that has it (or is empty).
MARKER = ".mlops-plan"
WRITER = Path(__file__).with_name("plan_writer.py")
# Declared resources that are not objects of the environment: providers, generated values.
NOT_PLANNED = ("pulumi:providers:", "random:")


@dataclass
class PlanResult:
    run: ProgramRun
    out: Path
    files: list[Path]
    groups: dict[str, Counter]


def masked(resource: RecordedResource) -> dict[str, Any]:
    inputs = dict(resource.inputs)
    for key in resource.secret_inputs:
        value = inputs[key]
        inputs[key] = {k: MASK for k in value} if isinstance(value, dict) else MASK
    if resource.kind == "Secret":
        for key in ("data", "stringData"):
            if isinstance(inputs.get(key), dict):
                inputs[key] = {k: MASK for k in inputs[key]}
    return inputs


def _group(resource: RecordedResource, by_urn: dict[str, RecordedResource]) -> str:
    """The component (or worker group / environment) a resource belongs to, from its parents."""
    parent = by_urn.get(resource.parent)
    while parent is not None:
        if parent.type == "mlops:workloads:ComponentService":
            return parent.name
        if parent.type == "mlops:routing:Routes":
            return resource.name.removeprefix(f"{parent.name}-")
        if parent.type == "mlops:workers:WorkerGroup":
            return WORKER_GROUPS
        parent = by_urn.get(parent.parent)
    return ENVIRONMENT_GROUP


def _entry(resource: RecordedResource) -> tuple[str, dict[str, Any]]:
    """A recorded resource as (file name, document): Kubernetes objects as manifests, anything
    else (node pools) as a spec of its type, name, protection and inputs."""
    if resource.is_kubernetes_object:
        body = masked(resource)
        return f"{resource.kind.lower()}-{body['metadata']['name']}.yaml", body
    body = {"type": resource.type, "name": resource.name, "protect": resource.protect, "inputs": masked(resource)}
    return f"{resource.kind.lower()}-{resource.name}.yaml", body


def _check_replaceable(out: Path) -> None:
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


class _PlanWriteError(Exception):
    pass


class _StreamedPlan:
    """Called with each resource as the engine registers it: masks it and hands it to the writer
    process (infra/plan_writer.py), which renders and creates the files on another core while the
    program is still running."""

    def __init__(self, staging: Path, out: Path, progress: Callable[[int], None] | None = None) -> None:
        self.out = out
        self.progress = progress
        self.registered = 0
        self.by_urn: dict[str, RecordedResource] = {}
        self.files: list[Path] = []
        self.groups: dict[str, Counter] = {}
        self.failure: Exception | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(WRITER), str(staging)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def __call__(self, resource: RecordedResource) -> None:
        self.by_urn[resource.urn] = resource
        self.registered += 1
        if self.progress is not None:
            self.progress(self.registered)
        if self.failure is not None or not resource.custom or resource.type.startswith(NOT_PLANNED):
            return
        try:
            group = _group(resource, self.by_urn)
            filename, body = _entry(resource)
            # Plain data, not YAML: the writer renders it too, so that work leaves this core as well.
            data = marshal.dumps((f"{group}/{filename}", body))
            stdin = self.process.stdin
            assert stdin is not None
            stdin.write(b"%d\n" % len(data) + data)
        except Exception as exc:  # the engine must not see it: finish() raises it
            self.failure = exc
            return
        self.files.append(self.out / group / filename)
        self.groups.setdefault(group, Counter())[resource.kind] += 1

    def finish(self) -> None:
        """Wait until every file is written; raise what went wrong in the writer or in rendering."""
        assert self.process.stdin is not None and self.process.stderr is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        message = self.process.stderr.read().decode("utf-8", "replace").strip()
        code = self.process.wait()
        if self.failure is not None and not isinstance(self.failure, BrokenPipeError):
            raise self.failure
        if code != 0:
            raise _PlanWriteError(message.splitlines()[-1] if message else f"the plan writer exited with {code}")

    def abort(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def write_plan(root: Path, stack: str, out: Path, progress: Callable[[int], None] | None = None) -> PlanResult:
    """Write the plan into a fresh directory next to `out`, then swap it in: a failed or
    interrupted plan never leaves a half-written directory behind, and an earlier plan stays
    whole until the new one is complete. `progress` is called with the number of resources
    registered so far, as the program runs."""
    _check_replaceable(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    except OSError as exc:
        raise ConfigError.one("--out", str(out), f"cannot write the plan: {exc.strerror or exc}") from None
    try:
        stream = _StreamedPlan(staging, out, progress)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ConfigError.one("--out", str(out), f"cannot start the plan writer: {exc.strerror or exc}") from None
    try:
        run = run_program(root, stack, on_record=stream)
    except BaseException:
        stream.abort()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        stream.finish()
        (staging / MARKER).write_text(f"stack: {stack}\nobjects: {len(stream.files)}\n", encoding="utf-8")
        old = _swap_in(staging, out)
    except BaseException as exc:
        stream.abort()
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError | _PlanWriteError):
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError.one("--out", str(out), f"cannot write the plan: {detail}") from None
        raise
    if old is not None:
        _remove(old / "plan")
        shutil.rmtree(old, ignore_errors=True)
    return PlanResult(run, out, stream.files, stream.groups)


def _remove(plan: Path) -> None:
    """Remove an earlier plan (thousands of files): its groups in parallel, as deleting files is
    system-call bound."""
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="plan-remove") as pool:
        for group in plan.iterdir():
            if group.is_dir():
                pool.submit(shutil.rmtree, group, True)
    shutil.rmtree(plan, ignore_errors=True)


def _swap_in(staging: Path, out: Path) -> Path | None:
    """Rename the finished plan into place; an earlier plan is renamed aside first (returned, for
    removal), so `out` is at every moment the old plan or the new one, or (between the two
    renames) absent - never a mix."""
    if not out.exists():
        os.replace(staging, out)
        return None
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    os.replace(out, old / "plan")
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(old / "plan", out)  # put the earlier plan back
        old.rmdir()
        raise
    return old
