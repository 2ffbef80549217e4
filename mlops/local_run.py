"""`mlops run`: components on this machine, configured exactly as the stack configures their pods.

Each component gets the environment variables of its rendered Deployment (the same builder the
program uses, `components.pod_spec`), with three local substitutions: the config files the pod
mounts under /etc/mlops are written to `.mlops/run/<stack>/`, the Service URLs of the components
it calls become the local ports they were started on, and `gs://` model artifacts are read from
the project's local mirror of its buckets (`artifacts/<bucket>/<object>`). The code is the
checkout's (the catalogue's `run:` command in its `directory`); the app config is the pinned
version's, the environment config the stack's, and the API key a fresh random one.

A state file, `.mlops/run/<stack>.json`, says what runs where (URLs and process ids) while the
command lives, so that `mlops smoke --local` can find them; it is removed when the run stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import pod_spec
from components.render import service_args
from mlops.processes import alive
from mlops.stackfile import atomic_write
from spec.environment import Environment, ResolvedComponent
from spec.errors import ConfigError
from spec.files import read_json
from spec.project import SECRET_PLACEHOLDER

RUN_DIR = Path(".mlops") / "run"
MIRROR_DIR = "artifacts"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalComponent:
    """One component as `mlops run` starts it."""

    name: str
    type: str
    version: str
    port: int
    command: list[str]
    directory: Path
    env: dict[str, str]
    health_path: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def run_dir(root: Path, stack: str) -> Path:
    return root / RUN_DIR / stack


def state_file(root: Path, stack: str) -> Path:
    return root / RUN_DIR / f"{stack}.json"


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice; released at once for the component)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def local_environment_config(env: Environment) -> tuple[dict[str, Any], list[str]]:
    """The stack's environment config without its secrets (the tooling never decrypts them), and
    the keys left out."""
    left_out: list[str] = []

    def strip(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if item == SECRET_PLACEHOLDER:
                    left_out.append(where)
                else:
                    kept[key] = strip(item, where)
            return kept
        return value

    return strip(env.config.environment_config, ""), left_out


def _require_run(c: ResolvedComponent, root: Path) -> tuple[list[str], Path]:
    display = f"config/components/{c.name}.yaml"
    run = c.catalogue.run
    if run is None:
        raise ConfigError.one(
            display,
            "run",
            "missing: say how to start it locally, e.g. run: {directory: apps/" + c.name + ", command: [python, -m, "
            "uvicorn, --factory, " + c.name + ".app:create_app, --host, 127.0.0.1, --port, '{port}']}",
        )
    directory = root / run.directory
    if not directory.is_dir():
        raise ConfigError.one(display, "run.directory", f"{run.directory} is not a folder of the repository")
    return list(run.command), directory


def plan(
    root: Path,
    env: Environment,
    names: list[str],
    ports: dict[str, int],
    running: dict[str, str],
    mirror: Path,
) -> list[LocalComponent]:
    """What to start for `names`: commands, folders and variables. `ports`: the port of each
    component to start; `running`: URLs of components already running locally (other runs)."""
    found = []
    for name in names:
        c = env.by_name[name]
        command, directory = _require_run(c, root)
        port = ports[name]
        command = [sys.executable if i == 0 and part == "python" else part for i, part in enumerate(command)]
        command = [part.replace("{port}", str(port)) for part in command]
        args = service_args(env, c, env.namespace)
        variables = {
            item["name"]: str(item["value"]) for item in pod_spec.pod_spec(args, "", "")["containers"][0]["env"]
        }
        base = run_dir(root, env.name)
        for key, local in (
            ("MLOPS_APP_CONFIG_PATH", base / name / pod_spec.APP_CONFIG_KEY),
            ("MLOPS_ENVIRONMENT_CONFIG_PATH", base / pod_spec.ENVIRONMENT_CONFIG_KEY),
            ("MLOPS_API_KEY_PATH", base / pod_spec.API_KEY_KEY),
        ):
            if key in variables:
                variables[key] = str(local)
        if "MLOPS_COMPONENT_URLS" in variables:
            urls = {}
            for callee in json.loads(variables["MLOPS_COMPONENT_URLS"]):
                if callee in ports:
                    urls[callee] = f"http://{HOST}:{ports[callee]}"
                elif callee in running:
                    urls[callee] = running[callee]
            variables["MLOPS_COMPONENT_URLS"] = json.dumps(urls, sort_keys=True)
        variables["PORT"] = str(port)
        variables["MLOPS_ARTIFACT_MIRROR"] = str(mirror)
        found.append(
            LocalComponent(
                name=name,
                type=c.type,
                version=variables["MLOPS_VERSION"],
                port=port,
                command=command,
                directory=directory,
                env=variables,
                health_path=c.catalogue.health_path,
            )
        )
    return found


def write_files(root: Path, env: Environment, names: list[str]) -> Path:
    """The files the pods mount, for `names`: app configs, the environment config and a fresh API
    key (readable by this user only). Returns the key file's path."""
    from components.manifests import to_config_text

    base = run_dir(root, env.name)
    try:
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o700)  # the key and any config stay this user's
        environment_config, _ = local_environment_config(env)
        atomic_write(base / pod_spec.ENVIRONMENT_CONFIG_KEY, to_config_text(environment_config))
        key_file = base / pod_spec.API_KEY_KEY
        if not key_file.exists():
            atomic_write(key_file, secrets.token_urlsafe(32) + "\n")
        os.chmod(key_file, 0o600)
        for name in names:
            (base / name).mkdir(exist_ok=True)
            config = to_config_text(env.by_name[name].version.app_config or {})
            atomic_write(base / name / pod_spec.APP_CONFIG_KEY, config)
    except OSError as exc:
        shown = base.relative_to(root) if base.is_relative_to(root) else base
        raise ConfigError.one(
            str(shown), "", f"cannot write the run's files ({exc.strerror or exc}): fix its permissions"
        ) from None
    return key_file


def read_state(root: Path, stack: str) -> dict[str, Any]:
    """What a live `mlops run -s STACK` started: {components: {name: {url, type, pid}}, api_key_file}."""
    path = state_file(root, stack)
    display = str(path.relative_to(root))
    if not path.exists():
        raise ConfigError.one(
            display, "", f"nothing runs locally for {stack}: start it with mlops run --all -s {stack}"
        )
    data = read_json(path, display, ": remove it and start mlops run again")
    components = data.get("components") if isinstance(data, dict) else None
    if not isinstance(components, dict) or not isinstance(data.get("api_key_file"), str):
        raise ConfigError.one(display, "components", "not a state file of mlops run: remove it and start again")
    return data


def running_stacks(root: Path) -> list[str]:
    """The stacks whose components a live `mlops run` has started (state files), in name order."""
    return sorted(p.stem for p in (root / RUN_DIR).glob("*.json") if running_urls(root, p.stem))


def running_urls(root: Path, stack: str) -> dict[str, str]:
    """URLs of components another live `mlops run` of this stack started (none: {})."""
    path = state_file(root, stack)
    if not path.exists():
        return {}
    try:
        data = read_state(root, stack)
    except ConfigError:
        return {}
    return {
        name: info["url"]
        for name, info in data["components"].items()
        if isinstance(info, dict) and isinstance(info.get("url"), str) and alive(info.get("pid"))
    }


def write_state(root: Path, stack: str, started: dict[str, tuple[LocalComponent, int]], key_file: Path) -> None:
    """Record the started components (merged with other live runs of the stack)."""
    path = state_file(root, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if path.exists():
        try:
            previous = {
                name: info
                for name, info in read_state(root, stack)["components"].items()
                if isinstance(info, dict) and alive(info.get("pid"))
            }
        except ConfigError:
            previous = {}
    for name, (component, pid) in started.items():
        previous[name] = {"url": component.url, "type": component.type, "version": component.version, "pid": pid}
    state = {"stack": stack, "components": previous, "api_key_file": str(key_file)}
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True) + "\n")


def forget(root: Path, stack: str, names: list[str]) -> None:
    """Remove `names` from the state file; when nothing of the stack is left, its state file and
    files go too (and `.mlops/` itself when empty)."""
    path = state_file(root, stack)
    left: dict[str, Any] = {}
    if path.exists():
        try:
            left = {n: i for n, i in read_state(root, stack)["components"].items() if n not in names}
        except ConfigError:
            left = {}
    if left:
        data = read_state(root, stack)
        data["components"] = left
        atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        return
    path.unlink(missing_ok=True)
    shutil.rmtree(run_dir(root, stack), ignore_errors=True)
    for empty in (root / RUN_DIR, (root / RUN_DIR).parent):
        with contextlib.suppress(OSError):
            empty.rmdir()  # only when nothing else is left in it


def smoke_outputs(root: Path, stack: str) -> tuple[dict[str, Any], str | None]:
    """What `mlops smoke --local` checks: the state file as stack outputs (`components` with
    URLs), and the local API key."""
    data = read_state(root, stack)
    components = {
        name: {"url": info.get("url"), "type": info.get("type")}
        for name, info in data["components"].items()
        if isinstance(info, dict)
    }
    key_path = Path(data["api_key_file"])
    key = key_path.read_text(encoding="utf-8").strip() if key_path.is_file() else None
    return {"components": components}, key
