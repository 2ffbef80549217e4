"""Minimal change: a pin bump touches only its component; reordering pins touches nothing; adding
or removing a component adds or removes only its resources; a version change never replaces a
Deployment or Service (their names and selectors, the fields that force replacement, stay)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import REPO, Runner, edit_stack
from .program_run import ProgramRun


def snapshot(run: ProgramRun) -> dict[str, tuple[dict[str, Any], str, bool]]:
    return {r.urn: (r.inputs, r.parent, r.protect) for r in run.resources}


def changed(before: ProgramRun, after: ProgramRun) -> tuple[set[str], set[str], set[str]]:
    a, b = snapshot(before), snapshot(after)
    return set(b) - set(a), set(a) - set(b), {u for u in a.keys() & b.keys() if a[u] != b[u]}


def owned_by(run: ProgramRun, component: str) -> set[str]:
    """URNs of the component's own resources: its ComponentService, its children, its route."""
    return {
        r.urn
        for r in run.resources
        if r.name == component
        or r.name.startswith(f"{component}-")
        or r.name.endswith((f"-routes-{component}", f"-routes-{component}-health"))
    }


def set_version(name: str, version: Any):
    def change(config: dict) -> None:
        for pin in config["mlops:components"]:
            if pin["name"] == name:
                pin["version"] = version

    return change


class TestPinBump:
    def test_bumping_one_pin_changes_only_that_component(self, project: Path, offline_engine: Runner) -> None:
        before = offline_engine(project, "uat")
        edit_stack(project, "uat", set_version("sentiment_analysis", 207))
        after = offline_engine(project, "uat")
        added, removed, modified = changed(before, after)
        mine = owned_by(before, "sentiment_analysis") | owned_by(after, "sentiment_analysis")
        assert modified and (added | removed | modified) <= mine
        deployments = [u for u in modified if "Deployment" in u]
        assert len(deployments) == 1 and deployments[0].endswith("sentiment_analysis-deployment")
        # the new version's config map replaces the old one under the same logical name
        assert not added and not removed

    def test_a_version_change_keeps_what_would_force_a_replacement(self, project: Path, offline_engine: Runner) -> None:
        before = {r.urn: r.inputs for r in offline_engine(project, "uat").resources}
        edit_stack(project, "uat", set_version("nlp_document_classifier", "v3"))
        after = {r.urn: r.inputs for r in offline_engine(project, "uat").resources}
        for urn in before:
            if urn.endswith("nlp_document_classifier-deployment"):
                assert before[urn]["metadata"]["name"] == after[urn]["metadata"]["name"]
                assert before[urn]["spec"]["selector"] == after[urn]["spec"]["selector"]
                assert before[urn]["spec"]["template"] != after[urn]["spec"]["template"]
            if urn.endswith("nlp_document_classifier-service"):
                assert before[urn] == after[urn]

    def test_environment_config_change_restarts_every_component(self, project: Path, offline_engine: Runner) -> None:
        before = offline_engine(project, "uat")
        edit_stack(project, "uat", lambda c: c["mlops:environment_config"].update(log_level="DEBUG"))
        _, _, modified = changed(before, offline_engine(project, "uat"))
        assert len([u for u in modified if "Deployment" in u]) == 3


def callers_policies(run: ProgramRun, component: str) -> set[str]:
    """URNs of what a caller of `component` changes when it comes or goes: the NetworkPolicies
    (the way to it opens or closes) and Deployments (MLOPS_COMPONENT_URLS names it, or no longer)
    of the components whose catalogue says they call it."""
    from spec.project import load_catalogue

    callers = {name for name, entry in load_catalogue(REPO).items() if component in entry.calls}
    return {r.urn for r in run.resources if r.kind in ("NetworkPolicy", "Deployment") and r.parent in callers}


def alert_rules(run: ProgramRun) -> set[str]:
    """URN of the environment's alert Rules (one group per component)."""
    return {r.urn for r in run.resources if r.kind == "Rules"}


class TestReorderAddRemove:
    def test_reordering_pins_changes_nothing(self, project: Path, offline_engine: Runner) -> None:
        before = offline_engine(project, "production")
        edit_stack(project, "production", lambda c: c["mlops:components"].reverse())
        after = offline_engine(project, "production")
        assert snapshot(before) == snapshot(after)

    def test_removing_a_component_removes_only_its_resources(self, project: Path, offline_engine: Runner) -> None:
        before = offline_engine(project, "integration")

        def drop(config: dict) -> None:
            config["mlops:components"] = [p for p in config["mlops:components"] if p["name"] != "sentiment_analysis"]

        edit_stack(project, "integration", drop)
        after = offline_engine(project, "integration")
        added, removed, modified = changed(before, after)
        assert not added
        # Only its callers change (their way to it closes, they are no longer told its URL), and the
        # environment's alert rules, which list every component.
        assert modified == callers_policies(before, "sentiment_analysis") | alert_rules(before)
        assert removed == owned_by(before, "sentiment_analysis")
        assert {r.kind for r in before.resources if r.urn in removed} >= {
            "Deployment",
            "Service",
            "ConfigMap",
            "HTTPRoute",
        }

    def test_adding_a_component_adds_only_its_resources(self, project: Path, offline_engine: Runner) -> None:
        def drop(config: dict) -> None:
            config["mlops:components"] = [p for p in config["mlops:components"] if p["name"] != "document_tagging"]

        edit_stack(project, "uat", drop)
        before = offline_engine(project, "uat")
        edit_stack(
            project,
            "uat",
            lambda c: c["mlops:components"].append({"name": "document_tagging", "type": "model", "version": 154}),
        )
        after = offline_engine(project, "uat")
        added, removed, modified = changed(before, after)
        assert not removed
        assert modified == callers_policies(after, "document_tagging") | alert_rules(after)
        assert added == owned_by(after, "document_tagging")


class TestAVersionChangesOnlyItsVersionedObjects:
    """What lets `diff` and `promote --dry-run` render only `versioned_manifests` for a component
    whose version alone moves: for every committed stack, every component and every catalogue
    version, all its other objects are exactly the same whichever version it runs."""

    def test_every_other_object_is_invariant_under_a_version_change(self) -> None:
        import dataclasses

        from components.render import component_manifests, versioned_manifests
        from spec.environment import load_environment

        from .conftest import COMMITTED_STACKS

        checked = 0
        for stack in COMMITTED_STACKS:
            env = load_environment(REPO, stack)
            for c in env.components:
                base = component_manifests(env, c)
                versioned = versioned_manifests(env, c)
                assert versioned == {name: base[name] for name in versioned}, (stack, c.name)
                for version in c.catalogue.versions:
                    moved = dataclasses.replace(c, version=version)
                    others = dataclasses.replace(env, components=[moved if x is c else x for x in env.components])
                    after = component_manifests(others, moved)
                    assert set(after) == set(base), (stack, c.name, version.id)
                    unchanged = {name: after[name] for name in after if name not in versioned}
                    assert unchanged == {name: base[name] for name in unchanged}, (stack, c.name, version.id)
                    checked += 1
        assert checked > 20
