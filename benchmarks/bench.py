"""Benchmarks: the `mlops` commands on generated projects of many components.

Targets (issue 9): `status`, `diff` and `promote --dry-run` on 1000 components each under 0.5 s;
`plan` of 1000 components under 5 s. Each figure is the wall time of the whole command as a user
runs it (a fresh process: interpreter start, imports, validation, output); each line prints the
best and the median of N runs and every run. The first run of each project is "cold": no parsed catalogue
cached yet (as after a `git pull` that changed every catalogue file); the later runs are warm.
For scale, the line "python -c pass" is a bare interpreter start on the same machine.

    .venv/bin/python benchmarks/bench.py            # prints one line per figure
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MLOPS = str(Path(sys.executable).parent / "mlops")
# As a user's install runs: Python keeps the compiled modules (a shell that sets
# PYTHONDONTWRITEBYTECODE would otherwise recompile every module of ours on every run).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_project(root: Path, count: int) -> None:
    """A project of `count` components (alternating apps and models), three versions each;
    integration pins the newest versions, uat the middle ones."""
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    catalogue = root / "config" / "components"
    catalogue.mkdir(parents=True)
    pins: dict[str, list[str]] = {"integration": [], "uat": []}
    for i in range(count):
        name = f"component_{i:04d}"
        kind = "app" if i % 2 else "model"
        versions = []
        for v in range(1, 4):
            digest = hashlib.sha256(f"{name}{v}".encode()).hexdigest()
            versions.append(
                f"  - id: {i * 10 + v}\n    label: v{v}\n    digest: sha256:{digest}\n"
                f"    created: 2026-11-0{v}T10:00:00Z\n    app_config: {{threshold: 0.{v}, model_name: {name}}}\n"
            )
        (catalogue / f"{name}.yaml").write_text(
            f"name: {name}\ntype: {kind}\nimage: europe-docker.pkg.dev/acme/ml/{name.replace('_', '-')}\n"
            f"port: 8080\nhealth_path: /health\nresources:\n  requests: {{cpu: 100m, memory: 256Mi}}\n"
            f"default_version: {i * 10 + 3}\nversions:\n" + "".join(versions)
        )
        pins["integration"].append(f"    - {{name: {name}, type: {kind}, version: {i * 10 + 3}}}\n")
        pins["uat"].append(f"    - {{name: {name}, type: {kind}, version: {i * 10 + 2}}}\n")
    for stack, promotes_to in (("integration", "uat"), ("uat", None)):
        chain = f"  mlops:environment: {{promotes_to: {promotes_to}}}\n" if promotes_to else ""
        (root / f"Pulumi.{stack}.yaml").write_text(
            "config:\n  gcp:project: acme\n"
            + chain
            + "  mlops:cluster: {name: ml, location: europe-west2,"
            + " node_service_account: ml-nodes@acme.iam.gserviceaccount.com}\n"
            + f"  mlops:routing: {{host: {stack}.ml.acme.example}}\n"
            + "  mlops:worker_groups:\n    pool: {worker_type: 32-CPU-256GB-RAM-AMD, min_size: 3, max_size: 30}\n"
            + "  mlops:settings: {worker_group: pool}\n  mlops:components:\n"
            + "".join(pins[stack])
        )


def move_every_pin(stack_file: Path) -> None:
    """Move every pin of the stack file between the newest and the middle version."""
    text = stack_file.read_text()
    moved = re.sub(r"version: (\d*)([23])\}", lambda m: f"version: {m[1]}{'2' if m[2] == '3' else '3'}}}", text)
    stack_file.write_text(moved)


def timed(args: list[str], cwd: Path, runs: int, command: str = MLOPS) -> list[float]:
    """Wall times of `runs` fresh processes."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run([command, *args], cwd=cwd, capture_output=True, text=True, check=False, env=ENV)
        times.append(time.perf_counter() - start)
        if result.returncode not in (0, 1):
            raise SystemExit(f"{command} {' '.join(args)} failed: {result.stderr.strip()}")
    return times


def report(label: str, times: list[float], target: float | None = None) -> None:
    """One line: the best and the median run (the target is judged on the best: this machine's
    noise only ever adds time), then every run."""
    best, median = min(times), statistics.median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    verdict = "" if target is None else f" (target < {target:g} s) {'ok' if best < target else 'SLOW'}"
    print(f"{label}: {best:.2f} s best, {median:.2f} s median of {len(times)} ({runs}){verdict}", flush=True)


def main() -> None:
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    report("python -c pass (bare interpreter start)", timed(["-c", "pass"], REPO, 5, sys.executable))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p1000"
        project.mkdir()
        make_project(project, 1000)
        cold = timed(["status", "-s", "integration"], project, runs=1)
        report("status, 1000 components, cold (catalogue not cached yet)", cold)
        for label, args in (
            ("status, 1000 components", ["status", "-s", "integration"]),
            ("diff, 1000 components", ["diff", "integration", "uat"]),
            ("promote --dry-run, 1000 components", ["promote", "integration", "--dry-run"]),
        ):
            report(label, timed(args, project, runs=5), 0.5)
        # Every run writes a directory of its own: every file is rendered and created.
        fresh = [
            timed(["plan", "-s", "integration", "--out", str(Path(tmp) / f"plan-{i}")], project, 1)[0] for i in range(3)
        ]
        report("plan, 1000 components, into a new directory", fresh, 5)
        # Replacing its own previous plan after every pin moved (as after a promotion): each
        # component's app config and Deployment are written again, its other files kept (linked).
        replaced = []
        for _ in range(3):
            move_every_pin(project / "Pulumi.integration.yaml")
            replaced += timed(["plan", "-s", "integration", "--out", str(Path(tmp) / "plan-0")], project, 1)
        report("plan, 1000 components, replacing its plan after every pin moved", replaced, 5)


if __name__ == "__main__":
    main()
