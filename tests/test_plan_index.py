"""A plan that replaces an earlier one keeps (links) the files whose documents did not change and
writes the others; whatever it kept, the result is byte for byte the plan written from nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlops import plan_index
from mlops.plan import write_plan
from spec.environment import load_environment

from .conftest import edit_yaml


def files(directory: Path) -> dict[str, bytes]:
    """Every file of a plan but its index (which records modification times)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != plan_index.INDEX
    }


def inodes(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_ino for p in directory.rglob("*.yaml")}


def fresh(project: Path, stack: str, tmp_path: Path) -> dict[str, bytes]:
    out = tmp_path / "fresh"
    write_plan(load_environment(project, stack), out)
    return files(out)


def set_replicas(project: Path, replicas: int) -> None:
    def change(data: Any) -> None:
        config = data["config"]
        settings = config.setdefault("mlops:settings", {}) or {}
        settings["replicas"] = replicas
        config["mlops:settings"] = settings

    edit_yaml(project / "Pulumi.integration.yaml", change)


class TestReplacingAPlan:
    def test_an_unchanged_stack_keeps_every_file(self, project: Path, tmp_path: Path) -> None:
        out = tmp_path / "plan"
        first = write_plan(load_environment(project, "integration"), out)
        assert first.unchanged == 0
        before = inodes(out)
        again = write_plan(load_environment(project, "integration"), out)
        assert again.unchanged == len(again.files) == len(first.files)
        assert inodes(out) == before  # the same files, linked into the new plan
        assert files(out) == fresh(project, "integration", tmp_path)

    def test_changed_documents_are_written_and_the_rest_kept(self, project: Path, tmp_path: Path) -> None:
        out = tmp_path / "plan"
        write_plan(load_environment(project, "integration"), out)
        before = inodes(out)
        set_replicas(project, 3)
        result = write_plan(load_environment(project, "integration"), out)
        after = inodes(out)
        rewritten = {name for name in after if after[name] != before.get(name)}
        assert rewritten and all("deployment-" in name or "poddisruptionbudget-" in name for name in rewritten)
        assert result.unchanged == len(result.files) - len(rewritten)
        assert files(out) == fresh(project, "integration", tmp_path)

    def test_a_file_edited_by_hand_is_written_again(self, project: Path, tmp_path: Path) -> None:
        out = tmp_path / "plan"
        write_plan(load_environment(project, "integration"), out)
        edited = next(out.rglob("deployment-*.yaml"))
        edited.write_text(edited.read_text().replace("replicas:", "replicas: 99 #"))
        result = write_plan(load_environment(project, "integration"), out)
        assert result.unchanged == len(result.files) - 1
        assert files(out) == fresh(project, "integration", tmp_path)

    @pytest.mark.parametrize("damage", ["garbage", "missing", "other writer", "nested", "wrong shape"])
    def test_an_index_that_cannot_be_trusted_keeps_nothing(
        self, project: Path, tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        out = tmp_path / "plan"
        write_plan(load_environment(project, "integration"), out)
        index = out / plan_index.INDEX
        if damage == "garbage":
            index.write_bytes(b"\x00not marshal")
        elif damage == "missing":
            index.unlink()
        elif damage == "nested":
            index.write_text("[" * 100_000 + "]" * 100_000)
        elif damage == "wrong shape":
            index.write_text(json.dumps({"writer": plan_index.writer_signature(), "files": {"a.yaml": [1]}}))
        else:
            monkeypatch.setattr(plan_index, "writer_signature", lambda: "a newer writer")
        before = inodes(out)
        result = write_plan(load_environment(project, "integration"), out)
        assert result.unchanged == 0
        assert not set(inodes(out).values()) & set(before.values())
        assert files(out) == fresh(project, "integration", tmp_path)

    def test_another_stack_s_plan_keeps_only_equal_documents(self, project: Path, tmp_path: Path) -> None:
        out = tmp_path / "plan"
        write_plan(load_environment(project, "uat"), out)
        write_plan(load_environment(project, "integration"), out)
        assert files(out) == fresh(project, "integration", tmp_path)
        assert not [p for p in out.parent.iterdir() if p.name.startswith(".plan.")]


def test_digests_tell_types_and_order_apart() -> None:
    assert plan_index.document_digest({"a": [1, "x", None, True]}) is not None
    assert plan_index.document_digest({"a": object()}) is None
    digests = {plan_index.document_digest({"a": value}) for value in (1, 1.0, "1", True, [1], None)}
    assert len(digests) == 6
    # Equal data built apart (strings that are distinct objects) has one digest.
    assert plan_index.document_digest({"k": "".join(["a", "b"])}) == plan_index.document_digest({"k": "ab"})
    assert plan_index.document_digest({"a": 1, "b": 2}) != plan_index.document_digest({"b": 2, "a": 1})


def test_where_links_fail_the_files_are_written(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without hard links (or a plan on another one) costs time, never the plan."""
    out = tmp_path / "plan"
    write_plan(load_environment(project, "integration"), out)

    def no_links(source: str, target: str) -> None:
        raise OSError(1, "Operation not permitted", target)

    monkeypatch.setattr(os, "link", no_links)
    result = write_plan(load_environment(project, "integration"), out)
    assert result.unchanged == 0
    assert files(out) == fresh(project, "integration", tmp_path)
