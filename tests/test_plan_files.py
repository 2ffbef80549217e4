"""The plan's YAML writer builds ruamel's representation tree itself (the representer's dispatch
is most of the time of a large plan): its text must be the text ruamel's own safe representer
gives, object for object, for every committed stack and for the data types manifests hold."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

from mlops.plan import document, planned
from mlops.plan_files import dump_yaml
from spec.environment import load_environment
from spec.files import parse_yaml

from .conftest import COMMITTED_STACKS, REPO


class _NoAliases(SafeRepresenter):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def reference(data: Any) -> str:
    """ruamel's safe dump with the plan's settings, through its own representer and resolver."""
    yaml = YAML(typ="safe")
    yaml.Representer = _NoAliases
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    yaml.representer.sort_base_mapping_type_on_output = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_every_planned_object_is_written_as_ruamel_writes_it(stack: str) -> None:
    documents = [document(obj)[1] for obj in planned(load_environment(REPO, stack))]
    assert len(documents) > 10
    for body in documents:
        assert dump_yaml(body) == reference(body)


AWKWARD: dict[str, Any] = {
    "strings that read as other types": ["true", "no", "null", "~", "8080", "0o17", "1e3", ".inf", "2026-11-26"],
    "quoting": ["a: b", "- x", "#x", "x #y", " padded ", "", "'", '"', "*alias", "&anchor", "!tag", "{x}", "[x]"],
    "multi-line": "line one\nline two\n",
    "unicode": "café ✓",
    "numbers": [0, -1, 10**20, True, False, None],
    "float": 0.5,
    "empty": {"map": {}, "list": [], "nested": [{}, []]},
    "keys": {"8080": 1, "true": 2, "": 3, "with space": 4},
}


@pytest.mark.parametrize("key", sorted(AWKWARD))
def test_awkward_values_are_written_as_ruamel_writes_them(key: str) -> None:
    data = {key: AWKWARD[key]}
    text = dump_yaml(data)
    assert text == reference(data)
    assert parse_yaml(text, "x.yaml") == data


def test_sorted_keys_are_sorted_all_the_way_down() -> None:
    data = {"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": None}
    assert dump_yaml(data, sort_keys=True) == "a: null\nb:\n  a:\n  - x: 3\n    y: 2\n  z: 1\n"


def test_the_written_plan_reads_back_as_the_declared_objects(tmp_path: Path) -> None:
    from mlops.plan import write_plan

    env = load_environment(REPO, "integration")
    result = write_plan(env, tmp_path / "plan")
    expected = {f"{obj.group}/{document(obj)[0]}": document(obj)[1] for obj in planned(env)}
    written = {str(path.relative_to(result.out)): parse_yaml(path.read_text(), path.name) for path in result.files}
    assert written == expected
