"""Writes to the stack files: a write interrupted or killed at any point leaves the old file or the
new one, never a mix, and writers in several processes are serialized (the history is one chain)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops import stackfile
from mlops.history import LOG_FILE
from spec.environment import load_environment

from .test_promotion import pins


class TestAtomicity:
    """A write interrupted at any point leaves the old file or the new one, never a mix."""

    @pytest.mark.parametrize("fail_at", ["write", "fsync", "chmod", "replace"])
    def test_interrupted_before_the_rename_keeps_the_old_file(self, tmp_path: Path, monkeypatch, fail_at: str) -> None:
        path = tmp_path / "Pulumi.uat.yaml"
        path.write_text("old\n")

        def boom(*_args, **_kwargs):
            raise KeyboardInterrupt(fail_at)

        target = {"write": "io.TextIOWrapper.write", "fsync": "os.fsync", "chmod": "os.chmod", "replace": "os.replace"}
        if fail_at == "write":
            monkeypatch.setattr(os, "fdopen", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt("write")))
        else:
            monkeypatch.setattr(target[fail_at], boom)
        with pytest.raises(KeyboardInterrupt):
            stackfile.atomic_write(path, "new\n")
        monkeypatch.undo()
        assert path.read_text() == "old\n"
        assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.uat.yaml"]  # no temporary left behind

    def test_interrupted_after_the_rename_has_the_new_file(self, tmp_path: Path, monkeypatch) -> None:
        path = tmp_path / "Pulumi.uat.yaml"
        path.write_text("old\n")
        real_fsync = os.fsync
        calls = []

        def fsync(fd: int) -> None:
            calls.append(fd)
            if len(calls) == 2:  # the directory fsync, after the rename
                raise KeyboardInterrupt
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        with pytest.raises(KeyboardInterrupt):
            stackfile.atomic_write(path, "new\n")
        assert path.read_text() == "new\n"

    def test_killed_writers_never_leave_a_torn_file(self, project: Path) -> None:
        """Processes killed mid-promotion: the file always parses and is one of the valid states."""
        script = (
            "import sys, os; from pathlib import Path; from mlops.promotion import commit, prepare_pin\n"
            "root = Path(sys.argv[1])\n"
            "for i in range(200):\n"
            "    v = ['151', '154', '158'][i % 3]\n"
            "    commit(root, lambda: prepare_pin(root, 'uat', 'document_tagging', v))\n"
        )
        for _ in range(3):
            process = subprocess.Popen([sys.executable, "-c", script, str(project)])
            try:
                process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            env = load_environment(project, "uat")  # parses and validates
            assert env.by_name["document_tagging"].version.id in (151, 154, 158)


class TestConcurrency:
    def test_concurrent_writers_are_serialized(self, project: Path) -> None:
        """Four processes pin at once; the log forms one chain (each record starts where the
        previous ended), so no write was lost or interleaved."""
        env = dict(os.environ, MLOPS_USER="ci")
        versions = ["151", "152", "154", "158"]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "mlops.cli", "pin", "document_tagging", v, "-s", "uat", "--no-deploy", "--yes"],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for v in versions
        ]
        for process in processes:
            assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
        records = [json.loads(line) for line in (project / LOG_FILE).read_text().splitlines()]
        assert 1 <= len(records) <= 4
        for previous, current in itertools.pairwise(records):
            assert current["pins_before"] == previous["pins_after"]
        final = dict(pins(project, "uat"))["document_tagging"]
        assert {p["name"]: p["version"] for p in records[-1]["pins_after"]}["document_tagging"] == final
