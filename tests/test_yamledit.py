"""The one YAML writer (`mlops.yamledit`) and the stack-file edits built on it: what an edit does
not touch stays byte for byte (comments, key order, layout), config keys mean what they mean to
`pulumi config set --path`, pins keep the house style, and challengers copy no secret."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest

from mlops import challenger
from mlops.stackfile import render_config_key, render_stack_text
from mlops.yamledit import YamlDocument, config_path
from spec.errors import ConfigError
from spec.files import parse_yaml

from .conftest import REPO

COMMITTED = sorted(p.relative_to(REPO) for p in [*REPO.glob("Pulumi*.yaml"), *REPO.glob("config/components/*.yaml")])
STACKS = sorted(p.name for p in REPO.glob("Pulumi.*.yaml"))
# Billion laughs: nine anchors of nine aliases each, 9**9 values once expanded.
BOMB = (
    "l0: &l0 ["
    + ", ".join(["lol"] * 9)
    + "]\n"
    + "".join(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]\n" for n in range(1, 9))
)

# A stack file with a comment in every place ruamel keeps one: end of line, before and after a
# block, between list entries, after a flow value, at the end of the file.
COMMENTED = """\
# Head of the file.
config:
  gcp:project: acme  # end of line
  # Before the pins.
  mlops:components:  # on the key
    - {name: a, type: model, version: 1}  # on pin a
    # Between the pins.
    - {name: b, type: app, version: 2}
  # After the pins, before the settings.

  mlops:settings: {replicas: 1}  # on the settings
  # After the settings.
  mlops:environment_config:
    log_level: INFO
  # After the environment config.
  mlops:api_key:
    secure: v1:abc
# Tail of the file.
"""


def edited(text: str, change: Any) -> str:
    doc = YamlDocument.load(text, "Pulumi.test.yaml")
    change(doc)
    return doc.text()


def changed_lines(before: str, after: str) -> list[str]:
    """The lines removed (-) and added (+) between two texts, hunk by hunk, removals first."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
    return [line for line in diff if line[:1] in "-+" and not line.startswith(("---", "+++"))]


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip().startswith("#") or not line.strip()]


class TestRoundTrip:
    """Loading and writing back without a change gives the file byte for byte."""

    @pytest.mark.parametrize("relative", COMMITTED, ids=str)
    def test_every_committed_file(self, relative: Path) -> None:
        text = (REPO / relative).read_text()
        assert YamlDocument.load(text, str(relative)).text() == text

    def test_a_file_in_another_layout_keeps_its_own(self) -> None:
        text = "config:\n  mlops:components:\n  - name: a\n    version: 1\n  mlops:settings:\n    replicas: 1\n"
        after = edited(text, lambda d: d.set(config_path("mlops:settings.replicas"), 2))
        assert after == text.replace("replicas: 1", "replicas: 2")

    def test_windows_line_endings_are_kept(self) -> None:
        text = "# c\r\nconfig:\r\n  mlops:settings: {replicas: 1}\r\n"
        after = edited(text, lambda d: d.set(config_path("mlops:settings.replicas"), 2))
        assert after == "# c\r\nconfig:\r\n  mlops:settings: {replicas: 2}\r\n"

    @pytest.mark.parametrize("text", ["config:\n  a: {x: 1,y: 2}\n", "config:\n  a: 1   \n"])
    def test_a_file_that_would_be_reformatted_is_refused(self, text: str) -> None:
        with pytest.raises(ConfigError) as caught:
            YamlDocument.load(text, "Pulumi.uat.yaml")
        message = str(caught.value)
        assert message.startswith("Pulumi.uat.yaml: line 2: the editor would rewrite this line too")
        assert "\n" not in message

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            (BOMB, "expands to more than"),
            ("a: " + "[" * 100 + "]" * 100 + "\n", "nested deeper than"),
            ("a: !!python/object:os.system x\n", "not valid YAML"),
            ("", "is empty"),
        ],
        ids=["alias-bomb", "deep", "tag", "empty"],
    )  # fmt: skip
    def test_hostile_input_is_refused_like_spec_files_refuses_it(self, text: str, problem: str) -> None:
        with pytest.raises(ConfigError, match=problem):
            YamlDocument.load(text, "Pulumi.uat.yaml")


class TestCommentsAndOrder:
    """An edit changes the entries it names; every comment, blank line and key stays in place."""

    def test_replacing_the_pins_changes_only_pin_lines(self) -> None:
        after = edited(COMMENTED, lambda d: d.set(config_path("mlops:components"), [{"name": "c"}], flow=3))
        assert changed_lines(COMMENTED, after) == [
            "-    - {name: a, type: model, version: 1}  # on pin a",
            "-    # Between the pins.",
            "-    - {name: b, type: app, version: 2}",
            "+    - {name: c}",
        ]

    @pytest.mark.parametrize(
        "key", ["gcp:project", "mlops:components", "mlops:settings", "mlops:environment_config", "mlops:api_key"]
    )
    def test_deleting_a_key_keeps_the_comments_around_it(self, key: str) -> None:
        after = edited(COMMENTED, lambda d: d.delete(config_path(key)))
        own = {"gcp:project": ["# end of line"], "mlops:components": ["# on the key", "# on pin a", "# Between"]}
        expected = [c for c in comments(COMMENTED) if not any(o in c for o in own.get(key, []))]
        assert comments(after) == expected
        assert key not in parse_yaml(after, "x")["config"]
        assert list(parse_yaml(after, "x")["config"]) == [k for k in parse_yaml(COMMENTED, "x")["config"] if k != key]

    def test_a_new_key_goes_last_and_the_tail_stays_at_the_end(self) -> None:
        after = edited(COMMENTED, lambda d: d.set(config_path("mlops:promoted_from"), {"stack": "uat"}))
        assert after.endswith("    secure: v1:abc\n  mlops:promoted_from:\n    stack: uat\n# Tail of the file.\n")
        assert comments(after) == comments(COMMENTED)

    def test_a_new_key_at_a_position_takes_the_comments_that_followed_its_predecessor(self) -> None:
        after = edited(COMMENTED, lambda d: d.set(("config", "mlops:x"), 1, position=2))
        assert changed_lines(COMMENTED, after) == ["+  mlops:x: 1"]
        assert "version: 2}\n  mlops:x: 1\n  # After the pins, before the settings.\n\n  mlops:settings:" in after

    def test_a_changed_value_keeps_its_end_of_line_comment_in_its_column(self) -> None:
        after = edited(COMMENTED, lambda d: d.set(config_path("gcp:project"), "ac"))
        assert changed_lines(COMMENTED, after) == [
            "-  gcp:project: acme  # end of line",
            "+  gcp:project: ac    # end of line",
        ]

    def test_writing_twice_gives_the_same_text(self) -> None:
        doc = YamlDocument.load(COMMENTED, "x")
        doc.delete(config_path("mlops:settings"))
        assert doc.text() == doc.text()
        assert YamlDocument.load(doc.text(), "x").text() == doc.text()


class TestPulumiPathSemantics:
    """Config keys mean what they mean to `pulumi config set --path` / `config rm --path`."""

    @pytest.mark.parametrize(
        ("key", "path"),
        [
            ("mlops:components", ("config", "mlops:components")),
            ("mlops:settings.replicas", ("config", "mlops:settings", "replicas")),
            ("mlops:components[2].settings", ("config", "mlops:components", 2, "settings")),
            ('mlops:environment_config["a.b"].c', ("config", "mlops:environment_config", "a.b", "c")),
            ("gcp:project", ("config", "gcp:project")),
        ],
    )
    def test_paths(self, key: str, path: tuple) -> None:
        assert config_path(key) == path

    @pytest.mark.parametrize(
        "key", ["settings.replicas", "mlops:", "mlops:a..b", "mlops:[0]", "mlops:a[x]", "mlops:a."]
    )
    def test_bad_paths_are_one_line(self, key: str) -> None:
        with pytest.raises(ConfigError) as caught:
            config_path(key, "--path")
        assert str(caught.value).startswith(f"--path: {key}: not a config path")
        assert "\n" not in str(caught.value)

    def test_set_creates_intermediate_mappings(self) -> None:
        text = "config:\n  gcp:project: acme\n"
        after = edited(text, lambda d: d.set(config_path("mlops:settings.replicas"), 3))
        assert after == "config:\n  gcp:project: acme\n  mlops:settings:\n    replicas: 3\n"
        after = edited("name: x\n", lambda d: d.set(config_path("mlops:settings.replicas"), 3))
        assert parse_yaml(after, "x") == {"name": "x", "config": {"mlops:settings": {"replicas": 3}}}

    def test_list_indexes_create_set_and_append(self) -> None:
        text = "config:\n  mlops:components:\n    - {name: a, version: 1}\n"
        doc = YamlDocument.load(text, "x")
        doc.set(config_path("mlops:components[0].settings.replicas"), 2)
        doc.set(config_path("mlops:components[1]"), {"name": "b"}, flow=3)
        doc.set(config_path("mlops:hosts[0]"), "h")
        assert doc.get(config_path("mlops:components")) == [
            {"name": "a", "version": 1, "settings": {"replicas": 2}},
            {"name": "b"},
        ]
        assert doc.get(config_path("mlops:hosts")) == ["h"]
        with pytest.raises(ConfigError, match="index out of range: the list has 2 entries"):
            doc.set(config_path("mlops:components[5]"), {"name": "c"})

    def test_a_scalar_in_the_way_is_an_error_but_a_config_value_is_replaced(self) -> None:
        doc = YamlDocument.load("config:\n  mlops:x: {a: 1}\n  mlops:y: plain\n", "Pulumi.uat.yaml")
        with pytest.raises(ConfigError, match=r"mlops:x\.a\.b: mlops:x\.a holds 1, not a mapping"):
            doc.set(config_path("mlops:x.a.b"), 2)
        doc.set(config_path("mlops:y.z"), 2)  # as Pulumi: a string config value gives way to an object
        assert doc.get(("config",)) == {"mlops:x": {"a": 1}, "mlops:y": {"z": 2}}

    def test_delete_removes_only_the_addressed_entry(self) -> None:
        text = "config:\n  mlops:settings: {replicas: 1}\n  mlops:list: [a, b, c]\n"
        doc = YamlDocument.load(text, "x")
        assert doc.delete(config_path("mlops:settings.replicas"))
        assert doc.delete(config_path("mlops:list[1]"))
        assert not doc.delete(config_path("mlops:settings.nothing"))
        assert not doc.delete(config_path("mlops:absent.key"))
        assert doc.text() == "config:\n  mlops:settings: {}\n  mlops:list: [a, c]\n"

    def test_get_returns_plain_data(self) -> None:
        doc = YamlDocument.load("a: &t true\nb: *t\nc: 2026-09-02T10:14:03Z\nd: [1, 2.5, x]\n", "x")
        assert doc.get(()) == {"a": True, "b": True, "c": "2026-09-02T10:14:03Z", "d": [1, 2.5, "x"]}
        assert doc.get(("nothing", 0), "default") == "default"


class TestStackFileEdits:
    """Promotion and settings edits on the committed stack files."""

    @pytest.mark.parametrize("name", STACKS)
    def test_promotion_changes_no_byte_outside_pins_and_provenance(self, name: str) -> None:
        text = (REPO / name).read_text()
        pins = [{"name": "document_tagging", "type": "model", "version": 158}]
        provenance = {"stack": "x", "source": "config", "update": None, "time": "2026-11-26T10:00:00Z", "user": "a"}
        after = render_stack_text(text, pins, provenance, name)
        assert "    - {name: document_tagging, type: model, version: 158}\n  mlops:promoted_from:\n" in after
        assert "  mlops:promoted_from:\n    stack: x\n    source: config\n" in after
        removed = [line for line in changed_lines(text, after) if line.startswith("-")]
        assert removed and all(line.startswith("-    - {name: ") for line in removed), removed
        added = [line for line in changed_lines(text, after) if line.startswith("+")]
        assert all(line.startswith(("+    - {name: ", "+  mlops:promoted_from:", "+    ")) for line in added), added

    def test_promotion_keeps_comments_around_the_pins(self) -> None:
        pins = [{"name": "a", "type": "model", "version": 3}, {"name": "b", "type": "app", "version": 2}]
        after = render_stack_text(COMMENTED, pins, {"stack": "uat", "source": "config"}, "Pulumi.test.yaml")
        assert changed_lines(COMMENTED, after) == [
            "-    - {name: a, type: model, version: 1}  # on pin a",
            "+    - {name: a, type: model, version: 3}  # on pin a",
            "+  mlops:promoted_from:",
            "+    stack: uat",
            "+    source: config",
        ]

    def test_pinning_one_component_changes_one_line(self) -> None:
        text = (REPO / "Pulumi.integration.yaml").read_text()
        pins = parse_yaml(text, "x")["config"]["mlops:components"]
        pins[1] = {**pins[1], "version": 157}
        after = render_stack_text(text, pins, None, "Pulumi.integration.yaml")
        assert changed_lines(text, after) == [
            "-    - {name: nlp_document_classifier, type: app, version: 161}",
            "+    - {name: nlp_document_classifier, type: app, version: 157}",
        ]

    def test_settings_are_set_and_inherited_as_with_pulumi_path(self) -> None:
        text = (REPO / "Pulumi.uat.yaml").read_text()
        after = render_config_key(text, "mlops:settings.replicas", 3, "Pulumi.uat.yaml")
        assert changed_lines(text, after) == [
            "-  mlops:settings: {worker_group: uat-pool}",
            "+  mlops:settings: {worker_group: uat-pool, replicas: 3}",
        ]
        assert render_config_key(after, "mlops:settings.replicas", None, "Pulumi.uat.yaml") == text

    def test_new_settings_are_one_flow_mapping(self) -> None:
        text = "config:\n  gcp:project: acme\n"
        after = render_config_key(text, "mlops:settings.replicas", 3, "Pulumi.uat.yaml")
        assert after == "config:\n  gcp:project: acme\n  mlops:settings: {replicas: 3}\n"


class TestChallengerCopiesNoSecret:
    """A challenger of a parent with encrypted environment config gets none of it."""

    def test_no_secure_value_at_all(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MLOPS_USER", "alice")
        path = project / "Pulumi.integration.yaml"
        text = path.read_text()
        text = render_config_key(text, "mlops:environment_config.db_password", {"secure": "v1:cGFzcw=="}, "x")
        text = render_config_key(text, "mlops:environment_config.db.replicas[0]", {"secure": "v1:cmVw"}, "x")
        text = render_config_key(text, "mlops:environment_config.db.host", "db.internal", "x")
        path.write_text(text)
        written = challenger.create(project, "alice", "integration").read_text()
        assert "secure" not in written and "v1:" not in written
        config = parse_yaml(written, "x")["config"]
        environment_config = config["mlops:environment_config"]
        assert "db_password" not in environment_config
        assert environment_config["db"] == {"host": "db.internal", "replicas": []}
        assert environment_config["log_level"] == "DEBUG"  # the rest is copied
        assert "mlops:api_key" not in config
        header = written.split("\nconfig:")[0]
        assert "mlops:environment_config.db_password" in header and "pulumi config set --secret --path" in header
        assert written.startswith("# Challenger 'alice' of integration")
        assert "  mlops:components:\n    - {name: document_tagging, type: model, version: 158}\n" in written
