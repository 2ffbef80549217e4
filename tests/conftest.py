"""Shared fixtures: a temporary copy of the project, and the offline run of the program (as the
Pulumi language host runs it, on Pulumi's mocks) recording every resource as plain data."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from .program_run import ProgramRun, run_program

REPO = Path(__file__).resolve().parent.parent
COMMITTED_STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in REPO.glob("Pulumi.*.yaml"))
# Target Kubernetes version for schema validation: a current GKE stable minor unless overridden.
K8S_VERSION = os.environ.get("MLOPS_K8S_VERSION", "1.34.0")

Runner = Callable[..., ProgramRun]


@pytest.fixture()
def offline_engine() -> Iterator[Runner]:
    """Runs the program under Pulumi's mocks, recording type, name, inputs and options of every
    resource (each run sets up the mocks afresh)."""
    yield run_program


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A throw-away copy of the repository's project files (the package stays installed where it is)."""
    root = tmp_path / "project"
    root.mkdir()
    for path in REPO.glob("Pulumi*.yaml"):
        shutil.copy(path, root / path.name)
    shutil.copytree(REPO / "config", root / "config")
    for package in ("infra", "apps", "artifacts"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    """Load, change in place, write back (plain YAML: tests do not care about comments)."""
    data = load_yaml(path)
    change(data)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    with path.open("w") as handle:
        yaml.dump(data, handle)


def stack_config(root: Path, stack: str) -> dict[str, Any]:
    return load_yaml(root / f"Pulumi.{stack}.yaml")["config"]


def edit_stack(root: Path, stack: str, change: Callable[[dict[str, Any]], None]) -> None:
    edit_yaml(root / f"Pulumi.{stack}.yaml", lambda data: change(data["config"]))


def set_pin_settings(name: str, **settings: Any) -> Callable[[dict[str, Any]], None]:
    """An edit_stack change: the pin of component `name` gets exactly these settings."""

    def change(config: dict[str, Any]) -> None:
        for pin in config["mlops:components"]:
            if pin["name"] == name:
                pin["settings"] = settings

    return change
