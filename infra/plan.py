"""`mlops plan`: run a stack's program offline (the engine-faithful recording run the tests use)
and write every declared object: Kubernetes manifests as YAML, one file per object grouped by
component, node pools as YAML specs; secret values masked."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from infra.offline import ProgramRun, RecordedResource, run_program
from infra.stackfile import atomic_write

MASK = "<secret>"
ENVIRONMENT_GROUP = "_environment"
WORKER_GROUPS = "_worker_groups"


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
    run = run_program(root, stack)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    by_urn = run.by_urn()
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    files: list[Path] = []
    groups: dict[str, Counter] = {}
    for resource in run.resources:
        if not resource.custom or resource.type.startswith("pulumi:providers:") or resource.type.startswith("random:"):
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
        path = out / group / filename
        path.parent.mkdir(exist_ok=True)
        import io

        buffer = io.StringIO()
        yaml.dump(body, buffer)
        atomic_write(path, buffer.getvalue())
        files.append(path)
    return PlanResult(run, out, files, groups)
