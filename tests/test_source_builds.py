"""Issue 10: images built from source (`version: source`): built with pulumi-docker and deployed by
digest, in integration only; a build registered as a catalogue version from what the stack runs;
kept as written by the tooling and never promoted - all under Pulumi's mocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spec.errors import ProgramError

from .conftest import stack_config
from .program_run import ACCESS_TOKEN, built_digest, run_program
from .test_promotion_guard import PLATFORM, PLATFORM_OUTPUTS, deployment_image, use_platform


def add_build(root: Path, component: str = "document_tagging") -> Path:
    context = root / "apps" / component
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY model.json /model.json\n")
    (context / "model.json").write_text("{}\n")
    catalogue = root / "config" / "components" / f"{component}.yaml"
    lines = [line for line in catalogue.read_text().splitlines(keepends=True) if not line.startswith("build:")]
    at = next(i for i, line in enumerate(lines) if line.startswith("image:")) + 1
    lines.insert(at, f"build: {{context: apps/{component}, args: {{MODEL: tiny}}}}\n")
    catalogue.write_text("".join(lines))
    return context


def pin_source(root: Path, stack: str, component: str = "document_tagging") -> None:
    """Pin `component` to `version: source`, editing the line as a user would (layout kept)."""
    import re

    path = root / f"Pulumi.{stack}.yaml"
    pattern = rf"(\{{name: {component}, type: \w+, version: )[^,}}]+"
    text, count = re.subn(pattern, r"\g<1>source", path.read_text())
    assert count == 1
    path.write_text(text)


class TestSourceBuilds:
    """`version: source` builds the component's context with pulumi-docker and deploys its digest."""

    def test_integration_builds_and_deploys_the_digest(self, project: Path) -> None:
        context = add_build(project)
        pin_source(project, "integration")
        run = run_program(project, "integration")
        [image] = run.of_type("docker:index/image:Image")
        assert image.parent == "document_tagging" and image.parent_type == "mlops:build:SourceImage"
        assert image.inputs["build"]["context"] == str(context)
        assert image.inputs["build"]["args"] == {"MODEL": "tiny"}
        assert image.inputs["build"]["platform"] == "linux/amd64"
        name = image.inputs["imageName"]
        assert name.startswith("europe-west2-docker.pkg.dev/acme-ml-platform/models/document-tagging:local-")
        assert image.inputs["registry"]["server"] == "europe-west2-docker.pkg.dev"
        assert image.inputs["registry"]["username"] == "oauth2accesstoken"
        assert image.inputs["registry"]["password"] == ACCESS_TOKEN and "registry" in image.secret_inputs
        assert deployment_image(run, "document_tagging") == built_digest(name)
        pin = run.outputs["pins"][0]
        assert pin["version"] == "source" and pin["digest"] == built_digest(name).rsplit("@", 1)[1]
        assert run.outputs["components"]["document_tagging"]["image"] == built_digest(name)

    def test_the_tag_carries_the_commit_and_changes_with_the_source(self, project: Path, monkeypatch) -> None:
        context = add_build(project)
        pin_source(project, "integration")
        monkeypatch.setenv("MLOPS_SOURCE_COMMIT", "0123456789abcdef")
        first = run_program(project, "integration").of_type("docker:index/image:Image")[0].inputs["imageName"]
        (context / "model.json").write_text('{"changed": true}\n')
        second = run_program(project, "integration").of_type("docker:index/image:Image")[0].inputs["imageName"]
        assert first.split(":")[-1].startswith("0123456789ab-") and second.split(":")[-1].startswith("0123456789ab-")
        assert first != second

    def test_the_app_config_is_the_default_versions(self, project: Path) -> None:
        add_build(project)
        pin_source(project, "integration")
        run = run_program(project, "integration")
        [config_map] = [r for r in run.kubernetes_objects() if r.name == "document_tagging-app-config"]
        assert config_map.inputs["metadata"]["name"] == "document-tagging-app-config-source-158"

    @pytest.mark.parametrize("stack", ["uat", "production"])
    def test_uat_and_production_refuse_source(self, project: Path, stack: str) -> None:
        add_build(project)
        pin_source(project, stack)
        with pytest.raises(ProgramError) as raised:
            run_program(project, stack)
        assert str(raised.value).count("\n") == 0
        assert "version: source is for integration and challengers only" in str(raised.value)

    def test_a_missing_build_context_is_one_line(self, project: Path) -> None:
        context = add_build(project)
        (context / "Dockerfile").unlink()
        pin_source(project, "integration")
        with pytest.raises(ProgramError, match=r"build.context: apps/document_tagging/Dockerfile does not exist"):
            run_program(project, "integration")

    def test_a_component_without_build_cannot_be_source(self, project: Path) -> None:
        catalogue = project / "config" / "components" / "document_tagging.yaml"
        catalogue.write_text("".join(x for x in catalogue.read_text().splitlines(True) if not x.startswith("build:")))
        pin_source(project, "integration")
        with pytest.raises(
            ProgramError, match=r"has no source to build: add build: \{context: apps/document_tagging\}"
        ):
            run_program(project, "integration")


class TestRegisterWhatAStackBuilt:
    """`mlops version add COMPONENT --from-stack STACK` turns a source build into a catalogue version."""

    @pytest.fixture()
    def cli(self, project: Path, monkeypatch: pytest.MonkeyPatch):
        from typer.testing import CliRunner

        from mlops.cli import app

        monkeypatch.chdir(project)
        return lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)

    def outputs_file(self, project: Path) -> Path:
        """Integration's outputs after deploying document_tagging from source (the program's own run)."""
        import json

        add_build(project)
        pin_source(project, "integration")
        outputs = run_program(project, "integration").outputs
        path = project / "integration-outputs.json"
        path.write_text(json.dumps(outputs))
        return path

    def test_the_built_digest_becomes_a_version_with_the_app_config_it_ran_with(self, project: Path, cli) -> None:
        from spec.project import load_catalogue

        outputs = self.outputs_file(project)
        built = json_pins(outputs)["document_tagging"]["digest"]
        result = cli(
            "version",
            "add",
            "document_tagging",
            "--from-stack",
            "integration",
            "--outputs-file",
            str(outputs),
            "--label",
            "v4",
        )
        assert result.exit_code == 0, result.output
        assert "Added document_tagging version 159 (v4) from what integration runs" in result.output
        entry = load_catalogue(project)["document_tagging"]
        added = entry.find_version(159)
        assert added is not None and added.digest == built and added.label == "v4"
        assert added.app_config == entry.find_version(158).app_config

    def test_a_catalogue_version_is_not_added_again(self, project: Path, cli) -> None:
        import json

        path = project / "outputs.json"
        path.write_text(json.dumps(run_program(project, "integration").outputs))
        result = cli("version", "add", "document_tagging", "--from-stack", "integration", "--outputs-file", str(path))
        assert result.exit_code == 2
        assert "runs catalogue version 158 of 'document_tagging', not a source build" in result.output

    def test_digest_or_stack_not_both(self, project: Path, cli) -> None:
        result = cli("version", "add", "document_tagging")
        assert result.exit_code == 2 and "give --digest DIGEST or --from-stack STACK" in result.output


def json_pins(path: Path) -> dict[str, dict[str, Any]]:
    import json

    return {p["name"]: p for p in json.loads(path.read_text())["pins"]}


class TestSourcePinsInTheTooling:
    """The tooling keeps `version: source` as written and never promotes it."""

    @pytest.fixture()
    def cli(self, project: Path, monkeypatch: pytest.MonkeyPatch):
        from typer.testing import CliRunner

        from mlops.cli import app

        monkeypatch.chdir(project)
        return lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)

    def test_editing_other_pins_keeps_source(self, project: Path, cli) -> None:
        add_build(project)
        pin_source(project, "integration")
        assert cli("pin", "sentiment_analysis", "205", "-s", "integration", "--no-deploy", "--yes").exit_code == 0
        pins = {p["name"]: p["version"] for p in stack_config(project, "integration")["mlops:components"]}
        assert pins["document_tagging"] == "source" and pins["sentiment_analysis"] == 205

    def test_a_source_build_is_not_promoted(self, project: Path, cli) -> None:
        add_build(project)
        pin_source(project, "integration")
        result = cli("promote", "integration", "--no-deploy", "--yes")
        assert result.exit_code == 2
        assert "runs a build from source, which is never promoted" in result.output
        assert "mlops version add document_tagging --from-stack integration" in result.output


def test_validate_names_a_build_context_that_is_missing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from typer.testing import CliRunner

    from mlops.cli import app

    shutil.rmtree(project / "apps" / "document_tagging")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["validate"], catch_exceptions=False)
    assert result.exit_code == 2
    assert (
        "config/components/document_tagging.yaml: build.dockerfile: no Dockerfile at apps/document_tagging/Dockerfile"
        in result.output
    )


def test_a_source_build_outside_the_platforms_registry_is_refused(project: Path) -> None:
    add_build(project)
    pin_source(project, "integration")
    use_platform(project, "integration")
    with pytest.raises(ProgramError, match=r"image: .*document-tagging is outside the platform's registry"):
        run_program(project, "integration", stack_outputs={PLATFORM: PLATFORM_OUTPUTS})
    # moved into the registry, it deploys
    outputs = dict(PLATFORM_OUTPUTS, registry="europe-west2-docker.pkg.dev/acme-ml-platform/models")
    run = run_program(project, "integration", stack_outputs={PLATFORM: outputs})
    assert deployment_image(run, "document_tagging").startswith(outputs["registry"] + "/document-tagging@sha256:")
