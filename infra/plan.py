"""`mlops plan`: run a stack's program offline (the engine-faithful recording run the tests use)
and write every declared object: Kubernetes manifests as YAML, one file per object grouped by
component, node pools as YAML specs; secret values masked."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.offline import ProgramRun, RecordedResource, run_program

MASK = "<secret>"
ENVIRONMENT_GROUP = "_environment"
WORKER_GROUPS = "_worker_groups"
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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


def write_plan(root: Path, stack: str, out: Path) -> PlanResult:
    """Write the plan into a fresh directory next to `out`, then swap it in: a failed or
    interrupted plan never leaves a half-written directory behind."""
    run = run_program(root, stack)
    by_urn = run.by_urn()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    files: list[Path] = []
    groups: dict[str, Counter] = {}
    try:
        for resource in run.resources:
            if not resource.custom or resource.type.startswith(("pulumi:providers:", "random:")):
                continue
            group = _group(resource, by_urn)
            groups.setdefault(group, Counter())[resource.kind] += 1
            if resource.is_kubernetes_object:
                body = masked(resource)
                filename = f"{resource.kind.lower()}-{body['metadata']['name']}.yaml"
            else:
                body = {
                    "type": resource.type,
                    "name": resource.name,
                    "protect": resource.protect,
                    "inputs": masked(resource),
                }
                filename = f"{resource.kind.lower()}-{resource.name}.yaml"
            directory = staging / group
            directory.mkdir(exist_ok=True)
            (directory / filename).write_text(to_yaml_document(body), encoding="utf-8")
            files.append(out / group / filename)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PlanResult(run, out, files, groups)


def to_yaml_document(body: dict[str, Any]) -> str:
    # Manifests keep their natural key order (apiVersion, kind, metadata, spec) for reading.
    return yaml.dump(body, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True)
