"""`mlops plan`: run a stack's program offline (the engine-faithful recording run the tests use)
and write every declared object: Kubernetes manifests as YAML, one file per object grouped by
component, node pools as YAML specs; secret values masked."""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.offline import ProgramRun, RecordedResource, run_program

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
    """Write the plan into a fresh directory next to `out`, then swap it in: a failed or
    interrupted plan never leaves a half-written directory behind."""
    run = run_program(root, stack)
    by_urn = run.by_urn()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    files: list[Path] = []
    groups: dict[str, Counter] = {}
    made: set[str] = set()
    collecting = gc.isenabled()
    gc.disable()  # thousands of documents of small objects: collect once at the end
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
            if group not in made:
                directory.mkdir()
                made.add(group)
            (directory / filename).write_text(to_yaml_document(body), encoding="utf-8")
            files.append(out / group / filename)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if collecting:
            gc.enable()
    return PlanResult(run, out, files, groups)


_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*(:[A-Za-z0-9_./-]+)*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    # Plain when unambiguous; otherwise a JSON string, which is a valid YAML double-quoted scalar.
    return text if _PLAIN.match(text) and text.lower() not in _RESERVED else json.dumps(text, ensure_ascii=False)


def _emit(value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _item(f"{indent}{_scalar(key)}:", item, indent + "  ", out)
    else:
        for item in value:
            _item(f"{indent}-", item, indent + "  ", out)


def _item(prefix: str, item: Any, indent: str, out: list[str]) -> None:
    if isinstance(item, dict | list) and item:
        if isinstance(item, dict) and prefix.endswith("-"):
            # "- key: value" with the mapping's other keys aligned under the first
            nested: list[str] = []
            _emit(item, indent, nested)
            nested[0] = f"{prefix} {nested[0][len(indent) :]}"
            out.extend(nested)
            return
        out.append(prefix)
        _emit(item, indent, out)
    elif isinstance(item, dict | list):
        out.append(f"{prefix} {'{}' if isinstance(item, dict) else '[]'}")
    else:
        out.append(f"{prefix} {_scalar(item)}")


def to_yaml_document(body: dict[str, Any]) -> str:
    """Block YAML for plain manifest data, keys in their natural order (apiVersion, kind,
    metadata, spec). A small emitter of our own: thousands of files must render in seconds."""
    out: list[str] = []
    _emit(body, "", out)
    return "\n".join(out) + "\n"
