"""Run the Pulumi program offline, the way the Python language host runs it, and record what it
declares.

No Pulumi CLI, no cloud: Pulumi's own mock runtime stands in for the engine. Everything else is
as in `pulumi up`: config is handed over as the CLI hands it (PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS
environment variables, project-level config merged, `secure:` values replaced by placeholders),
the working directory is the `main:` directory, and the program is `runpy.run_path(main)` inside
`run_in_stack`. The recording keeps every resource's type, name, inputs and options (parent,
protect, provider), and the stack outputs, as plain data.

For speed the engine side differs in ways the program cannot observe (see `_sdk_shortcuts` and
`_EngineLoop`; tests/test_stacks.py runs every stack with and without them and compares every
registered resource).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import os
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi._types as pulumi_types
import pulumi.runtime.config as pulumi_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import set_root_resource
from pulumi.runtime.stack import run_in_stack

from spec.environment import PROJECT_FILE, _read_yaml, read_stack_config
from spec.errors import ProgramError

# What the offline engine answers for the one data source the program reads: the GKE cluster.
FAKE_ENDPOINT = "203.0.113.10"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\noffline\n-----END CERTIFICATE-----\n").decode()
GENERATED_SECRET = "offline-generated-secret"


@dataclass
class RecordedResource:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str = ""
    protect: bool = False
    provider: str = ""
    custom: bool = True
    ignore_changes: list[str] = field(default_factory=list)
    # Top-level input keys whose values are (or contain) Pulumi secrets: mask them before printing.
    secret_inputs: set[str] = field(default_factory=set)

    @property
    def is_kubernetes_object(self) -> bool:
        return self.type.startswith("kubernetes:") and self.type != "pulumi:providers:kubernetes" and self.custom

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]


@dataclass
class ProgramRun:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    calls: list[tuple[str, dict[str, Any]]]
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}

    def kubernetes_objects(self) -> list[RecordedResource]:
        return [r for r in self.resources if r.is_kubernetes_object]


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.last_inputs = threading.local()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        # The monitor reads these right after (same thread), instead of deserializing twice.
        self.last_inputs.value = args.inputs
        state = _echoed_state(args.typ, args.inputs)
        if args.typ == "gcp:container/nodePool:NodePool":
            # Pulumi's auto-naming: logical name plus a random suffix.
            state["name"] = f"{args.name}-{hashlib.sha256(args.name.encode()).hexdigest()[:7]}"
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = GENERATED_SECRET
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "gcp:container/getCluster:getCluster":
            return {
                **args.args,
                "endpoint": FAKE_ENDPOINT,
                "masterAuths": [{"clusterCaCertificate": FAKE_CA, "clientCertificateConfigs": []}],
            }, []
        raise NotImplementedError(f"the offline run has no answer for data source {args.token}")


def _echoed_state(type_: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What a created resource reports back. For Kubernetes objects only what programs read
    (name, namespace, a workload's selector): echoing whole objects costs time on every output."""
    if not type_.startswith("kubernetes:") or type_.startswith("pulumi:providers:"):
        return dict(inputs)
    state = {k: inputs[k] for k in ("apiVersion", "kind") if k in inputs}
    metadata = inputs.get("metadata")
    if isinstance(metadata, dict):
        state["metadata"] = {k: metadata[k] for k in ("name", "namespace") if k in metadata}
    spec = inputs.get("spec")
    if isinstance(spec, dict) and "selector" in spec:
        state["spec"] = {"selector": spec["selector"]}
    return state


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _Mocks, on_record: Callable[[RecordedResource], None] | None = None) -> None:
        super().__init__(mocks)
        self.mocks: _Mocks = mocks
        self.on_record = on_record
        self.recorded: list[RecordedResource] = []
        self.stack_outputs: dict[str, Any] = {}
        self.secret_outputs: set[str] = set()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs, secret_inputs = _plain_properties(self.mocks.last_inputs.value)
            recorded = RecordedResource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                inputs=inputs,
                parent=request.parent,
                protect=bool(request.protect),
                provider=request.provider,
                custom=bool(request.custom),
                ignore_changes=list(request.ignoreChanges),
                secret_inputs=secret_inputs,
            )
            self.recorded.append(recorded)
            if self.on_record is not None:
                # In registration order: a resource's parent has always been recorded before it.
                self.on_record(recorded)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs, self.secret_outputs = _plain_properties(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def _plain_properties(raw: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Deserialized properties as plain JSON-like data (secrets unwrapped: mask before printing),
    and the top-level keys whose values are, or contain, secrets."""
    plain: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in raw.items():
        found: list[bool] = []
        plain[str(key)] = _plain(value, found)
        if found:
            secret.add(str(key))
    return plain, secret


def _plain(value: Any, found: list[bool]) -> Any:
    # Deserialized values are dicts, lists and scalars: exact type checks first (ABC checks are
    # slow at this volume), then the abstract ones for anything else.
    kind = type(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        if rpc.is_rpc_secret(value):
            found.append(True)
            return _plain(rpc.unwrap_rpc_secret(value), found)
        return {str(k): _plain(v, found) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v, found) for v in value]
    # The wire format has only doubles; the providers send whole numbers as integers.
    if kind is float and value.is_integer():
        return int(value)
    return value


def _no_stack_trace() -> Any:
    return source_pb2.StackTrace()


@contextmanager
def _sdk_shortcuts() -> Iterator[None]:
    """Three changes to the SDK for the length of a run, none changing what is registered (a test
    runs every committed stack with and without them and compares every resource):
    - source positions are metadata for the engine's diagnostics, which the mock engine drops:
      skip collecting a Python stack trace for every resource (a third of the run time);
    - `unwrap_type` (Input[T] / Optional[T] -> T), called for every serialized property, is a
      pure function of a type: remember its answers (about 7% of a large run);
    - the mock engine serializes its answers (plain data, never awaiting anything) through an
      event loop of its own per call: finish those coroutines directly instead."""
    saved = pulumi_resource._get_stack_trace, pulumi_types.unwrap_type, pulumi_mocks._sync_await
    pulumi_resource._get_stack_trace = _no_stack_trace
    pulumi_types.unwrap_type = _remembered(saved[1])
    pulumi_mocks._sync_await = _finished_now
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace, pulumi_types.unwrap_type, pulumi_mocks._sync_await = saved


def _finished_now(awaitable: Any) -> Any:
    """The result of a coroutine that completes without waiting on anything."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    awaitable.close()
    raise RuntimeError("offline engine: serializing an answer of the mock engine waited on a pending value")


class _EngineLoop(asyncio.SelectorEventLoop):
    """The event loop of an offline run. The SDK sends each RPC to the engine with
    `run_in_executor`; the mock engine answers at once, so the call runs right there, on the
    loop's thread, and the SDK awaits an already finished future. Handing every call to a worker
    thread instead costs a GIL hand-off each way (about 15% of a large run) and changes nothing
    the program can observe: the engine's answer is the same either way."""

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


def _remembered(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    answers: dict[Any, Any] = {}

    def remembered(value: Any) -> Any:
        try:
            return answers[value]
        except KeyError:
            answer = answers[value] = function(value)
            return answer
        except TypeError:  # an unhashable type: ask every time
            return function(value)

    return remembered


def cli_config(root: Path, stack: str, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, str], list[str]]:
    """Config for a stack exactly as the Pulumi CLI hands it to the language host: every value a
    string (structured values as JSON), project-level config merged, secrets as placeholders."""
    values, secret_keys = read_stack_config(root, stack)
    values.update(overrides or {})
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    return encoded, sorted(secret_keys)


@contextmanager
def _process_state(env: dict[str, str], cwd: Path) -> Iterator[None]:
    saved_env = {k: os.environ.get(k) for k in env}
    saved_cwd, saved_argv = os.getcwd(), list(sys.argv)
    os.environ.update(env)
    try:
        os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def garbage_left_to_exit() -> Iterator[None]:
    """For a command whose process ends right after the run (`mlops plan`): keep the cyclic
    collector off and, at the end, freeze what the run left behind so that neither a collection
    nor the interpreter's shutdown collection walks it. At 500 components that walk is millions
    of objects, about 2 s of a 9 s plan. Library callers (the tests) keep the default: one
    collection after each run releases its memory."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def _new_loop() -> asyncio.AbstractEventLoop:
    return _EngineLoop()


def run_program(
    root: Path,
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    on_record: Callable[[RecordedResource], None] | None = None,
) -> ProgramRun:
    """Run the project's program for `stack` under Pulumi's mock engine and record it.

    `overrides` replace config values (as `--config key=value` would), for tests. `on_record` is
    called with each resource as the engine registers it (`mlops plan` writes files meanwhile);
    it must not raise.
    Raises ProgramError with the program's one-line messages when the configuration is invalid.
    """
    root = root.resolve()
    project = _read_yaml(root / PROJECT_FILE, PROJECT_FILE)
    main_dir = (root / str(project.get("main", "."))).resolve()
    config, secret_keys = cli_config(root, stack, overrides)

    mocks = _Mocks()
    monitor = _RecordingMonitor(mocks, on_record)
    env = {"PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys)}
    with _process_state(env, main_dir), _sdk_shortcuts():
        # One event loop for the whole run: set_mocks already schedules work on the current loop.
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        pulumi.runtime.set_mocks(mocks, project=str(project["name"]), stack=stack, preview=False, monitor=monitor)
        # set_mocks makes a root stack of its own; the language host's run_in_stack makes the real one.
        set_root_resource(None)
        # As pulumi-language-python-exec does: read the config the CLI put in the environment.
        pulumi_config.set_all_config(pulumi_config.get_config_env(), pulumi_config.get_config_secret_keys_env())
        sys.argv = [str(main_dir)]
        # The run creates hundreds of thousands of short-lived objects; the cyclic collector's
        # full passes over an ever larger heap cost half the time of a large plan. Everything is
        # released when the run ends, so collect once then instead.
        collecting = gc.isenabled()
        gc.disable()
        try:
            loop.run_until_complete(run_in_stack(lambda: runpy.run_path(str(main_dir), run_name="__main__")))
        except pulumi.RunError as exc:
            raise ProgramError(str(exc)) from None
        finally:
            if collecting:
                gc.enable()
            loop.close()
            asyncio.set_event_loop(None)
    return ProgramRun(
        stack=stack,
        resources=monitor.recorded,
        outputs=monitor.stack_outputs,
        calls=mocks.calls,
        secret_outputs=monitor.secret_outputs,
    )
