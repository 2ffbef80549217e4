"""Secrets stay secret from config to resource: a `secure:` value under mlops:environment_config
and the API key reach the cluster only as Kubernetes Secrets mounted as files, never a
ConfigMap, an environment variable, a stack output or a plan file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import edit_stack
from .program_run import ProgramRun, run_program

PASSWORD = "hunter2-do-not-leak"
KEY = "configured-api-key-do-not-leak"
SECRETS = {"mlops:environment_config.db_password": PASSWORD, "mlops:api_key": KEY}


@pytest.fixture()
def secret_run(project: Path) -> ProgramRun:
    edit_stack(project, "integration", lambda c: c["mlops:environment_config"].update(db_password={"secure": "v1:x"}))
    return run_program(project, "integration", secrets=SECRETS)


def objects(run: ProgramRun, kind: str) -> list:
    return [r for r in run.kubernetes_objects() if r.kind == kind]


class TestSecretEnvironmentConfig:
    """With a secure value in the environment config, all of it is deployed as a Secret."""

    def test_the_value_is_in_a_secret_marked_secret(self, secret_run: ProgramRun) -> None:
        (config,) = [s for s in objects(secret_run, "Secret") if s.inputs["metadata"]["name"] == "environment-config"]
        text = config.inputs["stringData"]["environment_config.yaml"]
        assert json.loads(text)["db_password"] == PASSWORD
        assert json.loads(text)["log_level"] == "DEBUG"  # the rest of the environment config travels with it
        assert "stringData" in config.secret_inputs

    def test_the_value_is_in_no_configmap_output_or_other_object(self, secret_run: ProgramRun) -> None:
        secrets = {id(s) for s in objects(secret_run, "Secret")}
        for resource in secret_run.resources:
            if id(resource) not in secrets:
                assert PASSWORD not in json.dumps(resource.inputs), resource.name
        assert not [c for c in objects(secret_run, "ConfigMap") if c.inputs["metadata"]["name"] == "environment-config"]
        assert PASSWORD not in json.dumps(secret_run.outputs)
        assert KEY not in json.dumps(secret_run.outputs)

    def test_pods_mount_it_as_a_file_and_restart_when_it_changes(self, project: Path, secret_run: ProgramRun) -> None:
        hashes = set()
        for deployment in objects(secret_run, "Deployment"):
            template = deployment.inputs["spec"]["template"]
            sources = template["spec"]["volumes"][0]["projected"]["sources"]
            assert {
                "name": "environment-config",
                "items": [{"key": "environment_config.yaml", "path": "environment_config.yaml"}],
            } in [s.get("secret") for s in sources]
            env = {e["name"] for e in template["spec"]["containers"][0]["env"]}
            assert "MLOPS_ENVIRONMENT_CONFIG" not in env
            assert "MLOPS_ENVIRONMENT_CONFIG_PATH" in env
            assert not deployment.secret_inputs
            hashes.add(template["metadata"]["annotations"]["mlops.dev/environment-config-hash"])
        (first,) = hashes
        assert len(first) == 16 and PASSWORD not in first
        changed = run_program(
            project, "integration", secrets={**SECRETS, "mlops:environment_config.db_password": "another"}
        )
        (deployment, *_) = objects(changed, "Deployment")
        assert (
            deployment.inputs["spec"]["template"]["metadata"]["annotations"]["mlops.dev/environment-config-hash"]
            != first
        )
        assert not deployment.secret_inputs  # the keyed hash is not a secret: previews keep showing the spec

    def test_the_plan_never_holds_it(self, project: Path, secret_run: ProgramRun, tmp_path: Path) -> None:
        from mlops.plan import write_plan
        from spec.environment import load_environment

        result = write_plan(load_environment(project, "integration"), tmp_path / "plan")
        texts = [p.read_text() for p in result.files]
        assert not any(PASSWORD in t or "v1:x" in t for t in texts)
        assert any("environment_config.yaml: <secret>" in t for t in texts)


def test_a_generated_api_key_is_a_secret_output(project: Path) -> None:
    edit_stack(project, "integration", lambda c: c.pop("mlops:api_key"))
    run = run_program(project, "integration")
    assert "api_key" in run.secret_outputs
    assert set(run.secret_outputs) == {"api_key"}
    (key,) = [s for s in objects(run, "Secret") if s.inputs["metadata"]["name"] == "mlops-api-key"]
    assert "stringData" in key.secret_inputs


def test_a_configured_api_key_is_never_an_output(project: Path) -> None:
    run = run_program(project, "integration", secrets=SECRETS)
    assert "api_key" not in run.outputs
    (key,) = [s for s in objects(run, "Secret") if s.inputs["metadata"]["name"] == "mlops-api-key"]
    assert key.inputs["stringData"] == {"api-key": KEY} and "stringData" in key.secret_inputs
