"""Run the Pulumi program offline, the way the Python language host runs it, on Pulumi's public
testing surface only, and record what it declares as plain data.

As under `pulumi up`: the config of a stack file is handed over as the CLI hands it (the
PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS environment variables, every value a string,
project-level config merged, `secure:` values decrypted - here to values the test chooses), the
working directory is the `main:` directory, and the program is `runpy.run_path(main)`. The engine
is Pulumi's mock engine (`pulumi.runtime.set_mocks` with a `pulumi.runtime.Mocks` subclass),
the run is a `pulumi.runtime.test`, and resource options are seen through a stack
transformation. Nothing private of the SDK is imported or patched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from spec.errors import ConfigError, ProgramError
from spec.files import read_yaml
from spec.project import PROJECT_FILE, config_value, main_directory, read_project_file, stack_file_name

# What the mock engine answers for the one data source the program reads: the GKE cluster.
FAKE_ENDPOINT = "203.0.113.10"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\noffline\n-----END CERTIFICATE-----\n").decode()
GENERATED_SECRET = "offline-generated-secret"
# Pulumi's wire format marks a secret value as {SIG: SECRET_SIG, "value": ...} (the property
# protocol of pulumi/pulumi, sdk/go/common/resource/sig): the mock engine sees inputs that way.
SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


@dataclass
class RecordedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str = ""  # the parent's logical name ("" for the stack)
    parent_type: str = ""
    protect: bool = False
    provider: str = ""  # the logical name of the explicit provider it is declared with (its own or inherited)
    custom: bool = True
    ignore_changes: list[str] = field(default_factory=list)
    # Top-level input keys whose values are (or contain) Pulumi secrets.
    secret_inputs: set[str] = field(default_factory=set)

    @property
    def urn(self) -> str:
        """The tail of the resource's URN: its parent's type, its type and its name."""
        return f"{self.parent_type}${self.type}::{self.name}" if self.parent_type else f"{self.type}::{self.name}"

    @property
    def is_kubernetes_object(self) -> bool:
        return self.type.startswith("kubernetes:") and self.custom

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]


@dataclass
class ProgramRun:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    calls: list[tuple[str, dict[str, Any]]]

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def kubernetes_objects(self) -> list[RecordedResource]:
        return [r for r in self.resources if r.is_kubernetes_object]


def plain(value: Any, found: list[bool]) -> Any:
    """Deserialized wire data as plain JSON-like data (secrets unwrapped, noted in `found`)."""
    if isinstance(value, Mapping):
        if value.get(SIG) == SECRET_SIG:
            found.append(True)
            return plain(value.get("value"), found)
        return {str(k): plain(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, found) for v in value]
    # The wire format has only doubles; the providers send whole numbers as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The organization the offline runs are in (what `pulumi.get_organization()` answers).
ORGANIZATION = "acme"
ACCESS_TOKEN = "offline-access-token"
PROJECT_NUMBER = "123456789012"


def built_digest(image_name: str) -> str:
    """What the mock registry answers for a pushed image: repository@sha256 of the name."""
    repository = image_name.rsplit(":", 1)[0] if "/" not in image_name.rsplit(":", 1)[-1] else image_name
    return f"{repository}@sha256:{hashlib.sha256(image_name.encode()).hexdigest()}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource's type, name and inputs; answers like an engine that created it.
    `stack_outputs`: what StackReferences read, by full stack name (a stack not listed has none)."""

    def __init__(self, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.inputs: dict[tuple[str, str], tuple[dict[str, Any], set[str], bool]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stack_outputs = dict(stack_outputs or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        recorded, secret = {}, set()
        for key, value in args.inputs.items():
            found: list[bool] = []
            recorded[key] = plain(value, found)
            if found:
                secret.add(key)
        if (args.typ, args.name) in self.inputs:
            raise AssertionError(f"two resources of type {args.typ} named {args.name}")
        self.inputs[(args.typ, args.name)] = (recorded, secret, bool(args.custom))
        state = dict(args.inputs)
        if args.typ == "gcp:container/nodePool:NodePool":
            # Pulumi's auto-naming: logical name plus a random suffix.
            state["name"] = f"{args.name}-{hashlib.sha256(args.name.encode()).hexdigest()[:7]}"
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = GENERATED_SECRET
        if args.typ == "docker:index/image:Image":
            state["repoDigest"] = built_digest(str(args.inputs["imageName"]))
        if args.typ == "pulumi:pulumi:StackReference":
            state["outputs"] = dict(self.stack_outputs.get(str(args.inputs["name"]), {}))
            state["secretOutputNames"] = []
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "gcp:container/getCluster:getCluster":
            return {
                **args.args,
                "endpoint": FAKE_ENDPOINT,
                "masterAuths": [{"clusterCaCertificate": FAKE_CA, "clientCertificateConfigs": []}],
            }, []
        if args.token == "gcp:organizations/getProject:getProject":
            return {**args.args, "number": PROJECT_NUMBER, "name": "offline"}, []
        if args.token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"accessToken": ACCESS_TOKEN, "project": "offline", "region": "", "zone": "", "id": "x"}, []
        raise NotImplementedError(f"the offline run has no answer for data source {args.token}")


def _decrypted(value: Any, path: str, secrets: Mapping[str, str]) -> tuple[Any, bool]:
    """A stack-file value with its `secure:` leaves replaced as the CLI decrypts them."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return secrets.get(path, f"decrypted-{path}"), True
        items = {k: _decrypted(v, f"{path}.{k}", secrets) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items_ = [_decrypted(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
        return [v for v, _ in items_], any(s for _, s in items_)
    return value, False


def cli_config(
    root: Path, stack: str, overrides: Mapping[str, Any] | None = None, secrets: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Config for a stack exactly as the Pulumi CLI hands it to the language host: every value a
    string (structured values as JSON), project-level config merged (a key the stack sets
    replaces the project's whole), secrets decrypted and their keys listed."""
    values: dict[str, Any] = {}
    for key, entry in (read_project_file(root).get("config") or {}).items():
        values[key] = config_value(entry)
    data = read_yaml(root / stack_file_name(stack), stack_file_name(stack)) or {}
    secret_keys: list[str] = []
    for key, value in (data.get("config") or {}).items():
        values[key], secret = _decrypted(value, key, secrets or {})
        if secret:
            secret_keys.append(key)
    values.update(overrides or {})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}, sorted(secret_keys)


@contextmanager
def _process_state(env: dict[str, str], cwd: Path) -> Iterator[None]:
    saved_env = {k: os.environ.get(k) for k in env}
    saved_cwd, saved_argv = os.getcwd(), list(sys.argv)
    os.environ.update(env)
    try:
        os.chdir(cwd)
        sys.argv = [str(cwd)]
        yield
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_program(
    root: Path,
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    mocks_class: type[RecordingMocks] | None = None,
) -> ProgramRun:
    """Run the project's program for `stack` under Pulumi's mocks and record it. `overrides`
    replace config values (as `--config key=value` would); `secrets` are the decrypted values of
    `secure:` leaves by config path (`mlops:environment_config.db_password`); `stack_outputs`
    are what StackReferences read, by `<org>/<project>/<stack>` (default: the stack itself was
    last deployed with the pins its file names, so the promotion guard sees nothing move);
    `mocks_class` answers for more resources than RecordingMocks does (the platform program's).
    Raises ProgramError with the program's one-line messages when the configuration is invalid."""
    root = root.resolve()
    project = str(read_yaml(root / PROJECT_FILE, PROJECT_FILE)["name"])
    main = main_directory(root)
    config, secret_keys = cli_config(root, stack, overrides, secrets)
    if stack_outputs is None:
        stack_outputs = {f"{ORGANIZATION}/{project}/{stack}": {"pins": file_pins(root, stack)}}
    mocks = (mocks_class or RecordingMocks)(stack_outputs)
    options: dict[tuple[str, str], pulumi.ResourceOptions] = {}
    identities: dict[int, tuple[str, str]] = {}

    def record_options(args: pulumi.ResourceTransformationArgs) -> None:
        options[(args.type_, args.name)] = args.opts
        identities[id(args.resource)] = (args.type_, args.name)
        return None

    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    @pulumi.runtime.test
    def program() -> Any:
        # As pulumi-language-python-exec does: the config the CLI put in the environment.
        pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env())
        pulumi.runtime.register_stack_transformation(record_options)
        declared = runpy.run_path(str(main), run_name="__main__")["outputs"]

        async def resolve() -> None:
            for name, value in declared.items():
                output = pulumi.Output.from_input(value)
                outputs[name] = plain(await output.future(), [])
                if await output.is_secret():
                    secret_outputs.add(name)

        return pulumi.Output.from_input(resolve())

    env = {"PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys)}
    with _process_state(env, main):
        pulumi.runtime.reset_options(project=project, stack=stack, preview=False, organization=ORGANIZATION)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, organization=ORGANIZATION)
        try:
            program()
        except pulumi.RunError as exc:
            raise ProgramError(str(exc)) from None
        finally:
            pulumi.runtime.set_all_config({}, [])
    return ProgramRun(stack, _resources(mocks, options, identities), outputs, secret_outputs, mocks.calls)


def file_pins(root: Path, stack: str) -> list[dict[str, Any]]:
    """The `pins` output a deployment of the stack file's pins exports ({name, type, version, digest})."""
    from spec.environment import load_environment

    try:
        env = load_environment(root, stack)
    except ConfigError:
        return []  # the run itself reports the stack file's problems
    return [
        {"name": c.name, "type": c.type, "version": c.version.id, "digest": c.version.digest}
        for c in env.components
        if not c.built
    ]


def _resources(
    mocks: RecordingMocks,
    options: Mapping[tuple[str, str], pulumi.ResourceOptions],
    identities: Mapping[int, tuple[str, str]],
) -> list[RecordedResource]:
    def parent_of(key: tuple[str, str]) -> tuple[str, str] | None:
        opts = options.get(key)
        return identities.get(id(opts.parent)) if opts is not None and opts.parent is not None else None

    def protected(key: tuple[str, str] | None) -> bool:
        # As the engine does: a resource without its own `protect` inherits its parent's.
        while key is not None:
            opts = options.get(key)
            if opts is not None and opts.protect is not None:
                return bool(opts.protect)
            key = parent_of(key)
        return False

    def provider(key: tuple[str, str]) -> str:
        # As the SDK does: an explicit provider, else one of the `providers` of itself or an
        # ancestor, for the resource's package.
        wanted = f"pulumi:providers:{key[0].split(':')[0]}"
        current: tuple[str, str] | None = key
        while current is not None:
            opts = options.get(current)
            if opts is not None:
                chosen = [opts.provider] if opts.provider is not None else []
                providers = opts.providers or []
                chosen += list(providers.values()) if isinstance(providers, Mapping) else list(providers)
                for candidate in chosen:
                    found = identities.get(id(candidate))
                    if found is not None and found[0] == wanted:
                        return found[1]
            current = parent_of(current)
        return ""

    found = []
    for (type_, name), (inputs, secret, custom) in mocks.inputs.items():
        opts = options.get((type_, name)) or pulumi.ResourceOptions()
        parent = parent_of((type_, name)) or ("", "")
        found.append(
            RecordedResource(
                type=type_,
                name=name,
                inputs=inputs,
                parent=parent[1],
                parent_type=parent[0],
                protect=protected((type_, name)),
                provider=provider((type_, name)),
                custom=custom,
                ignore_changes=list(opts.ignore_changes or []),
                secret_inputs=secret,
            )
        )
    return found
