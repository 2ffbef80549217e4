"""The program's mounts and the runtime helper's reads agree (issue 13): every variable the helper
reads is one the Deployment sets, every variable the Deployment sets is one the helper reads, and
every file a *_PATH variable names is a file the pod mounts. The proof is behavioural as well:
the rendered ConfigMaps and Secrets are laid out as the kubelet would mount them, and the helper,
given the container's variables, reads back the version's app config, the environment config,
the API key and the URLs of the Services it calls. `mlops run` gives the same variable names."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import mlops_runtime as rt
import pytest

from mlops import local_run
from spec.environment import load_environment

from .conftest import COMMITTED_STACKS, REPO, edit_stack, stack_config
from .program_run import ProgramRun, run_program
from .test_stacks import by_kind, catalogue, version_of

KEY = "contract-test-api-key"
PASSWORD = "contract-test-password"


@pytest.fixture(scope="module", params=COMMITTED_STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(REPO, request.param, secrets={"mlops:api_key": KEY})


def containers(run: ProgramRun) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(Deployment, its container) for every Deployment of the run."""
    found = []
    for deployment in by_kind(run, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        found.append((deployment, container))
    assert found, "the run declares no Deployment"
    return found


def variables(container: dict[str, Any]) -> dict[str, str]:
    env = {}
    for item in container["env"]:
        assert "valueFrom" not in item, f"{item['name']}: config reaches the pod as files, not variables"
        env[item["name"]] = item["value"]
    return env


def pod_view(container: dict[str, Any], root: Path) -> dict[str, str]:
    """The container's variables, with file paths under `root` (where the mounts were laid out)."""
    return {k: (str(root / v.lstrip("/")) if k in rt.FILE_VARIABLES else v) for k, v in variables(container).items()}


def lay_out_mounts(run: ProgramRun, deployment: dict[str, Any], container: dict[str, Any], root: Path) -> Path:
    """The pod's mounted files under `root`, as the kubelet projects them from the run's objects."""
    objects = {(o["kind"], o["metadata"]["name"]): o for o in by_kind(run, "ConfigMap") + by_kind(run, "Secret")}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        for source in volume.get("projected", {}).get("sources", []):
            kind, ref = ("ConfigMap", source["configMap"]) if "configMap" in source else ("Secret", source["secret"])
            data = objects[(kind, ref["name"])]
            values = {**data.get("data", {}), **data.get("stringData", {})}
            for item in ref["items"]:
                target = root / mount["mountPath"].lstrip("/") / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(values[item["key"]], encoding="utf-8")
    return root


def mounted_files(deployment: dict[str, Any], container: dict[str, Any]) -> set[str]:
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    files = set()
    for mount in container["volumeMounts"]:
        for source in volumes[mount["name"]].get("projected", {}).get("sources", []):
            ref = source.get("configMap") or source.get("secret")
            files |= {str(PurePosixPath(mount["mountPath"]) / item["path"]) for item in ref["items"]}
    return files


class TestVariables:
    """The container's variables are exactly the helper's contract."""

    def test_every_variable_set_is_one_the_helper_reads(self, run: ProgramRun) -> None:
        known = set(rt.ALWAYS_SET) | set(rt.SET_WHEN_NEEDED)
        for deployment, container in containers(run):
            extra = set(variables(container)) - known
            assert not extra, f"{deployment['metadata']['name']}: sets {sorted(extra)}, which the helper never reads"

    def test_every_variable_the_helper_needs_is_set(self, run: ProgramRun) -> None:
        for deployment, container in containers(run):
            missing = set(rt.ALWAYS_SET) - set(variables(container))
            assert not missing, f"{deployment['metadata']['name']}: does not set {sorted(missing)}"

    def test_path_variables_name_mounted_files(self, run: ProgramRun) -> None:
        for deployment, container in containers(run):
            env, files = variables(container), mounted_files(deployment, container)
            for name in rt.FILE_VARIABLES:
                if name in env:
                    assert env[name] in files, f"{deployment['metadata']['name']}: {name}={env[name]} is not mounted"

    def test_apps_get_the_key_file_and_models_none(self, run: ProgramRun) -> None:
        for deployment, container in containers(run):
            env = variables(container)
            is_app = env[rt.COMPONENT_TYPE] == "app"
            assert (rt.API_KEY_PATH in env) == is_app, deployment["metadata"]["name"]


class TestTheHelperReadsWhatIsMounted:
    """Given the container's variables and its mounted files, the helper reads what the stack means."""

    def test_config_identity_and_key(self, run: ProgramRun, tmp_path: Path) -> None:
        stack = stack_config(REPO, run.stack)
        pins = {p["name"]: p for p in stack["mlops:components"]}
        for deployment, container in containers(run):
            root = lay_out_mounts(run, deployment, container, tmp_path / deployment["metadata"]["name"])
            env = {
                k: (str(root / v.lstrip("/")) if k in rt.FILE_VARIABLES else v) for k, v in variables(container).items()
            }
            me = rt.identity(env)
            pin = pins[me.component]
            track_version = pin["canary"]["version"] if me.track == "canary" else pin["version"]
            expected = version_of(catalogue(me.component), track_version).get("app_config") or {}
            assert rt.app_config(env) == expected, f"{me.component} ({me.track}): app config"
            assert rt.environment_config(env) == stack.get("mlops:environment_config", {})
            assert me.environment == run.stack
            assert rt.port(env) == catalogue(me.component)["port"]
            assert rt.api_key(env) == (KEY if me.component_type == "app" else None)

    def test_component_urls_are_the_callees_services(self, run: ProgramRun) -> None:
        services = {s["metadata"]["name"]: s for s in by_kind(run, "Service")}
        pinned = {p["name"] for p in stack_config(REPO, run.stack)["mlops:components"]}
        checked = 0
        for _, container in containers(run):
            env = variables(container)
            me = env[rt.COMPONENT]
            calls = [c for c in catalogue(me).get("calls", []) if c in pinned]
            for callee in calls:
                url = rt.component_url(callee, env)
                host = url.removeprefix("http://")
                assert host in services, f"{me} calls {callee} at {url}: no such Service"
                assert services[host]["spec"]["ports"][0]["port"] == 80
                checked += 1
            with pytest.raises(rt.RuntimeConfigError, match="add it to `calls`"):
                rt.component_url("not_called_by_anyone", env)
        assert checked, "no component of this stack calls another: the URL contract went untested"

    def test_a_secret_environment_config_is_read_from_its_secret(self, project: Path, tmp_path: Path) -> None:
        edit_stack(
            project, "integration", lambda c: c["mlops:environment_config"].update(db_password={"secure": "v1:x"})
        )
        secret_run = run_program(
            project, "integration", secrets={"mlops:environment_config.db_password": PASSWORD, "mlops:api_key": KEY}
        )
        deployment, container = containers(secret_run)[0]
        root = lay_out_mounts(secret_run, deployment, container, tmp_path)
        env = pod_view(container, root)
        assert rt.environment_config(env)["db_password"] == PASSWORD


class TestLocalRunsMatchThePods:
    """`mlops run` starts a component with the variables its pod has (local files and ports)."""

    def test_same_variables_as_the_rendered_pod(self, run: ProgramRun, tmp_path: Path) -> None:
        env = load_environment(REPO, run.stack)
        names = [c.name for c in env.components]
        ports = {name: 20000 + i for i, name in enumerate(names)}
        planned = {p.name: p for p in local_run.plan(REPO, env, names, ports, {}, tmp_path)}
        for deployment, container in containers(run):
            pod = variables(container)
            if pod[rt.TRACK] == "canary":
                continue  # mlops run starts the stable track
            local = planned[pod[rt.COMPONENT]].env
            assert set(local) - {"MLOPS_ARTIFACT_MIRROR"} == set(pod), deployment["metadata"]["name"]
            assert local[rt.PORT] == str(ports[pod[rt.COMPONENT]])
            if rt.COMPONENT_URLS in pod:
                urls = json.loads(local[rt.COMPONENT_URLS])
                assert set(urls) == set(json.loads(pod[rt.COMPONENT_URLS]))
                assert all(u == f"http://127.0.0.1:{ports[n]}" for n, u in urls.items())
