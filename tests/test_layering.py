"""Settings layering: built-in < project (Pulumi.yaml) < environment (mlops:settings) < component."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec.environment import load_environment, resolve_settings
from spec.schema import Settings

from .conftest import Runner, edit_stack, edit_yaml

P, E, C = "project", "environment", "component"

# (project, environment, component) -> (replicas, source), (worker_group, source), (low_latency, source)
CASES = [
    ({}, {}, {}, (2, "built-in"), (None, "built-in"), (False, "built-in")),
    ({"replicas": 3}, {}, {}, (3, P), (None, "built-in"), (False, "built-in")),
    ({"replicas": 3}, {"replicas": 1}, {}, (1, E), (None, "built-in"), (False, "built-in")),
    ({"replicas": 3}, {"replicas": 1}, {"replicas": 5}, (5, C), (None, "built-in"), (False, "built-in")),
    ({}, {"worker_group": "a"}, {}, (2, "built-in"), ("a", E), (False, "built-in")),
    (
        {"worker_group": "a"},
        {"worker_group": "b"},
        {"worker_group": "c"},
        (2, "built-in"),
        ("c", C),
        (False, "built-in"),
    ),
    ({"low_latency_mode": True}, {}, {}, (2, "built-in"), (None, "built-in"), (True, P)),
    ({"low_latency_mode": True}, {"low_latency_mode": False}, {}, (2, "built-in"), (None, "built-in"), (False, E)),
    ({}, {}, {"low_latency_mode": True}, (2, "built-in"), (None, "built-in"), (True, C)),
    ({"replicas": 4}, {"worker_group": "g"}, {"low_latency_mode": True}, (4, P), ("g", E), (True, C)),
]


@pytest.mark.parametrize(("project", "environment", "component", "replicas", "group", "low_latency"), CASES)
def test_layering_table(project, environment, component, replicas, group, low_latency) -> None:
    resolved = resolve_settings(Settings(**project), Settings(**environment), Settings(**component))
    assert (resolved["replicas"].value, resolved["replicas"].source) == replicas
    assert (resolved["worker_group"].value, resolved["worker_group"].source) == group
    assert (resolved["low_latency_mode"].value, resolved["low_latency_mode"].source) == low_latency


class TestLayeringInTheProgram:
    """The levels as users write them in files reach the Deployments."""

    def test_project_level_applies_when_the_stack_sets_nothing(self, project: Path, offline_engine: Runner) -> None:
        edit_yaml(project / "Pulumi.yaml", lambda d: d["config"]["mlops:settings"]["value"].update(replicas=3))
        env = load_environment(project, "uat")
        assert {c.name: (c.replicas, c.settings["replicas"].source) for c in env.components} == {
            "document_tagging": (3, "project"),
            "nlp_document_classifier": (3, "project"),
            "sentiment_analysis": (3, "project"),
        }
        run = offline_engine(project, "uat")
        replicas = {
            r.inputs["metadata"]["name"]: r.inputs["spec"]["replicas"] for r in run.resources if r.kind == "Deployment"
        }
        assert set(replicas.values()) == {3}

    def test_component_beats_environment_beats_project(self, project: Path, offline_engine: Runner) -> None:
        def change(config: dict) -> None:
            config["mlops:components"][0]["settings"] = {"replicas": 5, "low_latency_mode": True}

        edit_stack(project, "integration", change)
        run = offline_engine(project, "integration")
        deployments = {r.inputs["metadata"]["name"]: r.inputs for r in run.resources if r.kind == "Deployment"}
        assert deployments["document-tagging"]["spec"]["replicas"] == 5  # component
        assert deployments["sentiment-analysis"]["spec"]["replicas"] == 1  # environment
        container = deployments["document-tagging"]["spec"]["template"]["spec"]["containers"][0]
        # low-latency mode: requests equal limits (Guaranteed QoS)
        assert container["resources"]["requests"] == container["resources"]["limits"]
        other = deployments["sentiment-analysis"]["spec"]["template"]["spec"]["containers"][0]
        assert other["resources"]["requests"] != other["resources"]["limits"]

    def test_stack_settings_replace_the_project_value_but_layer_per_key(self, project: Path) -> None:
        # The Pulumi CLI replaces the project's mlops:settings object with the stack's; the
        # program still layers per key because it reads the project level from Pulumi.yaml.
        edit_yaml(
            project / "Pulumi.yaml", lambda d: d["config"]["mlops:settings"]["value"].update(low_latency_mode=True)
        )
        env = load_environment(project, "integration")
        component = env.by_name["sentiment_analysis"]
        assert (component.low_latency_mode, component.settings["low_latency_mode"].source) == (True, "project")
        assert (component.replicas, component.settings["replicas"].source) == (1, "environment")
