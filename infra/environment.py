"""Loading and validating an environment: project file + stack config + catalogue -> Environment.

This is the one entry point for validation, used by the Pulumi program (with the config the
Pulumi CLI passes) and by the tooling (with the stack file read from disk). Every problem is a
`Problem`: one line naming the file, the key and the fix.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from infra.errors import ConfigError, Problem, did_you_mean, one_of
from infra.quantities import parse_quantity
from infra.settings import (
    DNS_LABEL,
    SETTING_KEYS,
    CatalogueComponent,
    Pin,
    ProjectFile,
    Settings,
    StackConfig,
    Version,
    WorkerGroupConfig,
)
from infra.worker_types import WORKER_TYPES

PROJECT_FILE = "Pulumi.yaml"
CATALOGUE_DIR = Path("config") / "components"
NAMESPACE = "mlops"
SECRET_PLACEHOLDER = "[secret]"

# Built-in settings: the lowest level of the hierarchy.
BUILT_IN = {"replicas": 2, "worker_group": None, "low_latency_mode": False}
Level = Literal["built-in", "project", "environment", "component"]


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


# --------------------------------------------------------------------------- resolved model


@dataclass(frozen=True)
class ResolvedSetting:
    value: Any
    source: Level


def resolve_settings(project: Settings, environment: Settings, component: Settings) -> dict[str, ResolvedSetting]:
    """Layer the settings: built-in < project < environment < component; the most specific wins."""
    resolved = {key: ResolvedSetting(value, "built-in") for key, value in BUILT_IN.items()}
    for level, settings in (("project", project), ("environment", environment), ("component", component)):
        for key, value in settings.explicit().items():
            resolved[key] = ResolvedSetting(value, level)
    return resolved


@dataclass(frozen=True)
class ResolvedComponent:
    pin: Pin
    catalogue: CatalogueComponent
    version: Version
    settings: dict[str, ResolvedSetting]

    @property
    def name(self) -> str:
        return self.pin.name

    @property
    def type(self) -> str:
        return self.catalogue.type

    @property
    def k8s_name(self) -> str:
        """The component's Kubernetes name (and in-namespace DNS name): '_' becomes '-'."""
        return k8s_name(self.pin.name)

    @property
    def replicas(self) -> int:
        return self.settings["replicas"].value

    @property
    def worker_group(self) -> str | None:
        return self.settings["worker_group"].value

    @property
    def low_latency_mode(self) -> bool:
        return self.settings["low_latency_mode"].value

    @property
    def image(self) -> str:
        return f"{self.catalogue.image}@{self.version.digest}"


def k8s_name(component: str) -> str:
    return component.replace("_", "-")


@dataclass(frozen=True)
class Environment:
    """A validated environment: everything the program needs, nothing left to check."""

    project: str
    name: str
    config: StackConfig
    project_settings: Settings
    components: list[ResolvedComponent]
    gcp_project: str | None = None

    @property
    def namespace(self) -> str:
        return f"{self.project}-{self.name}"

    @property
    def promotes_to(self) -> str | None:
        return self.config.environment.promotes_to

    @property
    def ends_chain(self) -> bool:
        """The stack at the end of the promotion chain (production): no promotes_to."""
        return self.promotes_to is None

    @property
    def worker_groups(self) -> dict[str, WorkerGroupConfig]:
        return self.config.worker_groups

    @cached_property
    def by_name(self) -> dict[str, ResolvedComponent]:
        return {c.name: c for c in self.components}

    def url(self, component: ResolvedComponent) -> str:
        return f"https://{self.config.ingress.host}{route_prefix(self.project, self.name, component)}/"


def route_prefix(project: str, environment: str, component: ResolvedComponent) -> str:
    """The DESIGN.md URL path of a component, without the trailing slash."""
    kind = "apps" if component.type == "app" else "models"
    return f"/api/v1/projects/{project}/environments/{environment}/{kind}/{component.name}"


# --------------------------------------------------------------------------- files


def find_project_root(start: Path | None = None) -> Path:
    """The directory of the nearest Pulumi.yaml at or above `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    raise ConfigError.one(
        str(here), "", f"no {PROJECT_FILE} here or in any parent directory: run this inside the project"
    )


def _read_yaml(path: Path, display: str) -> Any:
    if not path.is_file():
        raise ConfigError.one(display, "", "file not found")
    return load_yaml_text(path.read_text(encoding="utf-8"), display)


# Parsed YAML by text: a command reads the same stack file several times over (load, validate
# the edit, check that only the pins changed), and a 200-component file takes 20 ms to parse.
_PARSED: dict[str, Any] = {}
_PARSED_KEPT = 32


def load_yaml_text(text: str, display: str) -> Any:
    """The data of a YAML text (a copy the caller may change), or one line naming the problem."""
    if text not in _PARSED:
        parsed = _parse_yaml_text(text, display)
        if len(_PARSED) >= _PARSED_KEPT:
            del _PARSED[next(iter(_PARSED))]
        _PARSED[text] = parsed
    return copy.deepcopy(_PARSED[text])


def _parse_yaml_text(text: str, display: str) -> Any:
    try:
        # libyaml (fast) first; it is stricter than YAML 1.2 in places (':' inside flow
        # collections), so the pure parser has the last word.
        return YAML(typ="safe").load(text)
    except YAMLError:
        pass
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError.one(display, where, f"not valid YAML ({problem}); fix the syntax") from None


def config_value(entry: Any) -> Any:
    """A project-level config entry's value: short form, or the `value:`/`default:` long form."""
    if isinstance(entry, Mapping) and ("value" in entry or "default" in entry):
        return entry.get("value", entry.get("default"))
    return entry


def load_project(root: Path) -> ProjectFile:
    data = _read_yaml(root / PROJECT_FILE, PROJECT_FILE)
    if not isinstance(data, Mapping) or "name" not in data:
        raise ConfigError.one(PROJECT_FILE, "name", "missing: name the project (name: document-tagging)")
    name = str(data["name"])
    if not DNS_LABEL.match(name) or len(name) > 40:
        raise ConfigError.one(
            PROJECT_FILE, "name", f"'{name}' must be lowercase letters, digits and '-' (it names namespaces)"
        )
    config = data.get("config") or {}
    unknown = [k for k in config if str(k).startswith(f"{NAMESPACE}:") and k != f"{NAMESPACE}:settings"]
    if unknown:
        raise ConfigError.one(
            PROJECT_FILE,
            f"config.{unknown[0]}",
            f"unknown project-level key{did_you_mean(unknown[0], ['mlops:settings'])}; "
            "only mlops:settings is set per project (the rest belongs in the stack files)",
        )
    raw_settings = config_value(config.get(f"{NAMESPACE}:settings")) or {}
    try:
        return ProjectFile(name=name, settings=raw_settings)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, ProjectFile, PROJECT_FILE, _project_key)) from None


_CATALOGUES: dict[Path, tuple[tuple[Any, ...], dict[str, CatalogueComponent]]] = {}


def load_catalogue(root: Path) -> dict[str, CatalogueComponent]:
    """The validated catalogue, read once per process while its files are unchanged."""
    directory = root / CATALOGUE_DIR
    paths = sorted(directory.glob("*.y*ml")) if directory.is_dir() else []
    signature = tuple((p.name, *_mtime_size(p)) for p in paths)
    cached = _CATALOGUES.get(directory.resolve())
    if cached and cached[0] == signature:
        return dict(cached[1])
    catalogue = _read_catalogue(paths)
    _CATALOGUES[directory.resolve()] = (signature, catalogue)
    return dict(catalogue)


def _mtime_size(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _read_catalogue_file(path: Path, display: str) -> Any:
    """Catalogue files are read with libyaml through PyYAML (several times faster than any pure
    parser, which matters with hundreds of components); anything it rejects gets the full parser
    and its error message."""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return load_yaml_text(text, display)


def _read_catalogue(paths: list[Path]) -> dict[str, CatalogueComponent]:
    problems: list[Problem] = []
    catalogue: dict[str, CatalogueComponent] = {}
    for path in paths:
        display = str(CATALOGUE_DIR / path.name)
        try:
            data = _read_catalogue_file(path, display)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(data, Mapping):
            problems.append(Problem(display, "", "must be a mapping with name, type, image, ... versions"))
            continue
        try:
            component = CatalogueComponent.model_validate(dict(data))
        except ValidationError as exc:
            problems.extend(_problems(exc, CatalogueComponent, display, _plain_key, data))
            continue
        if component.name != path.stem:
            problems.append(
                Problem(
                    display,
                    "name",
                    f"'{component.name}' must match the file name: rename the file to {component.name}.yaml",
                )
            )
            continue
        catalogue[component.name] = component
    if problems:
        raise ConfigError(problems)
    return catalogue


def read_stack_config(root: Path, stack: str) -> tuple[dict[str, Any], set[str]]:
    """(config values as the Pulumi CLI hands them to the program, the set of secret keys)."""
    display = stack_file_name(stack)
    return stack_config_values(root, _read_yaml(root / display, display), display)


def stack_config_values(root: Path, data: Any, display: str) -> tuple[dict[str, Any], set[str]]:
    """A stack file's `config:` with project-level config merged in as the CLI does (a key the
    stack sets replaces the project's value whole) and `secure:` values replaced by a placeholder."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError.one(display, "", "must be a mapping with a config: key")
    allowed_top = ("config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment")
    unknown_top = [k for k in data if k not in allowed_top]
    if unknown_top:
        raise ConfigError.one(display, str(unknown_top[0]), "unknown top-level key: stack settings go under config:")
    project_raw = _read_yaml(root / PROJECT_FILE, PROJECT_FILE) or {}
    values: dict[str, Any] = {}
    for key, entry in ((project_raw.get("config") or {}) if isinstance(project_raw, Mapping) else {}).items():
        values[str(key)] = config_value(entry)
    secret_keys: set[str] = set()
    for key, value in (data.get("config") or {}).items():
        key = str(key)
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            values[key] = SECRET_PLACEHOLDER
            secret_keys.add(key)
        else:
            values[key] = value
    return values, secret_keys


def list_stacks(root: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


# --------------------------------------------------------------------------- validation


def load_environment(root: Path, stack: str) -> Environment:
    """Validate a stack from the files on disk (tooling and tests)."""
    values, secret_keys = read_stack_config(root, stack)
    project = load_project(root)
    return build_environment(root, project.name, stack, values, secret_keys)


def build_environment(
    root: Path,
    project_name: str,
    stack: str,
    values: Mapping[str, Any],
    secret_keys: Iterable[str] = (),
    catalogue: Mapping[str, CatalogueComponent] | None = None,
) -> Environment:
    """Validate one environment. `values` are config values keyed as the CLI keys them
    (`mlops:components`, `gcp:project`, ...); project-level config is already merged into them."""
    display = stack_file_name(stack)
    project = load_project(root)
    if project.name != project_name:
        raise ConfigError.one(PROJECT_FILE, "name", f"'{project.name}' but Pulumi runs project '{project_name}'")
    if catalogue is None:
        catalogue = load_catalogue(root)
    secret_keys = set(secret_keys)

    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    # The CLI hands over the project's mlops:settings when the stack file has none: that is the
    # project level, not an environment level of the same values.
    if raw.get("settings") == project.settings.explicit() or raw.get("settings") in (None, {}):
        raw.pop("settings", None)
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, StackConfig, display, _stack_key, raw)) from None

    problems: list[Problem] = []
    gcp_project = config.cluster.project or values.get("gcp:project")
    _check_chain(root, stack, config, display, problems)
    _check_cluster(config, gcp_project, display, problems)
    if "mlops:api_key" in values and "mlops:api_key" not in secret_keys:
        problems.append(
            Problem(
                display,
                "mlops:api_key",
                "is stored in plain text: run `pulumi config set --secret mlops:api_key <key>`",
            )
        )
    namespace = f"{project.name}-{stack}"
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        problems.append(
            Problem(
                display, "", f"namespace '{namespace}' (project-stack) is not a valid DNS label: shorten the stack name"
            )
        )
    _check_worker_group_refs(config, project.settings, display, problems)
    components = _resolve_pins(config, project.settings, catalogue, display, problems)
    if not problems:
        _check_production(components, config.environment.promotes_to is None, display, problems)
        for component in components:
            _check_capacity(component, config, display, problems)
    if problems:
        raise ConfigError(problems)
    return Environment(
        project=project.name,
        name=stack,
        config=config,
        project_settings=project.settings,
        components=components,
        gcp_project=gcp_project,
    )


def _check_chain(root: Path, stack: str, config: StackConfig, display: str, problems: list[Problem]) -> None:
    target = config.environment.promotes_to
    if target is None:
        return
    if target == stack:
        problems.append(
            Problem(
                display, "mlops:environment.promotes_to", "a stack cannot promote to itself: name the next environment"
            )
        )
    elif not (root / stack_file_name(target)).is_file():
        known = [s for s in list_stacks(root) if s != stack]
        problems.append(
            Problem(
                display,
                "mlops:environment.promotes_to",
                f"no stack '{target}' ({stack_file_name(target)} not found){did_you_mean(target, known)}; "
                f"use one of: {one_of(known)}",
            )
        )


def _check_cluster(config: StackConfig, gcp_project: Any, display: str, problems: list[Problem]) -> None:
    if config.cluster.is_gke and not gcp_project:
        problems.append(
            Problem(
                display, "gcp:project", "a GKE cluster needs the GCP project: set gcp:project or mlops:cluster.project"
            )
        )


def _check_worker_group_refs(config: StackConfig, project: Settings, display: str, problems: list[Problem]) -> None:
    declared = config.worker_groups
    refs: list[tuple[str, str, str]] = []
    if project.worker_group:
        refs.append((PROJECT_FILE, "mlops:settings.worker_group", project.worker_group))
    if config.settings.worker_group:
        refs.append((display, "mlops:settings.worker_group", config.settings.worker_group))
    for pin in config.components:
        if pin.settings.worker_group:
            refs.append((display, f"mlops:components[{pin.name}].settings.worker_group", pin.settings.worker_group))
    for file, key, group in refs:
        if group not in declared:
            where = "" if file == display else f" (set in {file})"
            problems.append(
                Problem(
                    display,
                    key,
                    f"worker group '{group}'{where} is not declared in this stack{did_you_mean(group, declared)}: "
                    f"add it under mlops:worker_groups as {{worker_type: ..., size: N}} (owned) "
                    "or {existing: true} (a pool that exists already)",
                )
            )


def _resolve_pins(
    config: StackConfig,
    project: Settings,
    catalogue: Mapping[str, CatalogueComponent],
    display: str,
    problems: list[Problem],
) -> list[ResolvedComponent]:
    resolved: list[ResolvedComponent] = []
    seen: dict[str, str] = {}
    for pin in config.components:
        key = f"mlops:components[{pin.name}]"
        k8s = k8s_name(pin.name)
        if k8s in seen:
            clash = "is pinned twice" if seen[k8s] == pin.name else f"has the same Kubernetes name as '{seen[k8s]}'"
            problems.append(Problem(display, key, f"component '{pin.name}' {clash}: keep one pin per component"))
            continue
        seen[k8s] = pin.name
        entry = catalogue.get(pin.name)
        if entry is None:
            problems.append(
                Problem(
                    display,
                    f"{key}.name",
                    f"no catalogue component '{pin.name}'{did_you_mean(pin.name, catalogue)}: "
                    f"add config/components/{pin.name}.yaml or use one of: {one_of(catalogue)}",
                )
            )
            continue
        if entry.type != pin.type:
            problems.append(
                Problem(
                    display,
                    f"{key}.type",
                    f"'{pin.name}' is {'an' if entry.type == 'app' else 'a'} {entry.type} in the catalogue: "
                    f"set type: {entry.type}",
                )
            )
            continue
        version = entry.find_version(pin.version)
        if version is None:
            choices = [str(v.id) for v in entry.versions] + [v.label for v in entry.versions if v.label]
            problems.append(
                Problem(
                    display,
                    f"{key}.version",
                    f"'{pin.name}' has no version {pin.version!r} in config/components/{pin.name}.yaml"
                    f"{did_you_mean(str(pin.version), choices)}; use an id or label: {', '.join(choices)}",
                )
            )
            continue
        resolved.append(
            ResolvedComponent(pin, entry, version, resolve_settings(project, config.settings, pin.settings))
        )
    return resolved


def _setting_key(component: ResolvedComponent, setting: str) -> tuple[str | None, str]:
    """(file if not the stack file, key) where the component's setting gets its value."""
    source = component.settings[setting].source
    if source == "environment":
        return None, f"mlops:settings.{setting}"
    if source == "project":
        return PROJECT_FILE, f"mlops:settings.{setting}"
    return None, f"mlops:components[{component.name}].settings.{setting}"


def _check_production(
    components: list[ResolvedComponent], ends_chain: bool, display: str, problems: list[Problem]
) -> None:
    """The end of the chain runs every component at least twice: one line per place to fix."""
    if not ends_chain:
        return
    by_key: dict[str, list[ResolvedComponent]] = {}
    for component in components:
        if component.replicas < 2:
            by_key.setdefault(_setting_key(component, "replicas")[1], []).append(component)
    for key, offenders in by_key.items():
        names = ", ".join(f"'{c.name}'" for c in offenders)
        origin = offenders[0].settings["replicas"].source
        where = "" if origin == "component" else f" ({origin} level{', Pulumi.yaml' if origin == 'project' else ''})"
        fix = (
            f"set {key}: 2 or more"
            if origin == "component"
            else f"set {key}: 2 or more, or a component-level replicas of 2 or more"
        )
        problems.append(
            Problem(
                display,
                key,
                f"{names} would run {offenders[0].replicas} replica{where}; this stack ends the promotion chain "
                f"(production: no mlops:environment.promotes_to) and needs replicas >= 2: {fix}",
            )
        )


def _check_capacity(component: ResolvedComponent, config: StackConfig, display: str, problems: list[Problem]) -> None:
    group_name = component.worker_group
    group = config.worker_groups.get(group_name) if group_name else None
    if group is None or group.worker_type is None:
        return
    worker_type = WORKER_TYPES[group.worker_type]
    requests = effective_resources(component)["requests"]
    cpu = parse_quantity(requests["cpu"]) * 1000
    memory = parse_quantity(requests["memory"])
    if cpu > worker_type.allocatable_cpu_millis or memory > worker_type.allocatable_memory_bytes:
        problems.append(
            Problem(
                display,
                f"mlops:worker_groups.{group_name}.worker_type",
                f"'{component.name}' requests cpu {requests['cpu']} and memory {requests['memory']} but a "
                f"{group.worker_type} node has only {worker_type.allocatable_cpu_millis}m cpu and "
                f"{worker_type.allocatable_memory_bytes / 2**30:.1f}Gi memory allocatable: "
                "choose a larger worker type or lower the component's requests",
            )
        )


def effective_resources(component: ResolvedComponent) -> dict[str, dict[str, str]]:
    """Requests and limits as deployed. Memory is always limited (a leak must not starve its
    neighbours); under low-latency mode requests equal limits, so the pod gets Guaranteed QoS."""
    res = component.catalogue.resources
    requests = {"cpu": str(res.requests.cpu), "memory": str(res.requests.memory)}
    limits = {"memory": str(res.limits.memory or res.requests.memory)}
    if res.limits.cpu is not None:
        limits["cpu"] = str(res.limits.cpu)
    if component.low_latency_mode:
        limits.setdefault("cpu", requests["cpu"])
        requests = dict(limits)
    return {"requests": requests, "limits": limits}


# --------------------------------------------------------------------------- pydantic errors -> lines


def _project_key(loc: tuple[Any, ...], _data: Any) -> str:
    parts = ["mlops:settings" if loc and loc[0] == "settings" else str(loc[0])] if loc else []
    return _join(parts, loc[1:])


def _plain_key(loc: tuple[Any, ...], _data: Any) -> str:
    return _join([], loc)


def _stack_key(loc: tuple[Any, ...], data: Any) -> str:
    if not loc:
        return "config"
    head = f"{NAMESPACE}:{loc[0]}"
    rest = list(loc[1:])
    if loc[0] == "components" and rest and isinstance(rest[0], int):
        pins = data.get("components") if isinstance(data, Mapping) else None
        index = rest.pop(0)
        name = None
        if isinstance(pins, list) and index < len(pins) and isinstance(pins[index], Mapping):
            name = pins[index].get("name")
        head += f"[{name}]" if name else f"[{index}]"
    return _join([head], tuple(rest))


def _join(parts: list[str], rest: Iterable[Any]) -> str:
    text = ".".join(parts)
    for item in rest:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
    return text


def _key_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pydantic's error location without its union-member tags ('int', 'str', 'function-after[...]')."""
    tags = {"int", "str", "bool", "float", "none", "constrained-int", "constrained-str"}
    return tuple(item for item in loc if isinstance(item, int) or (item not in tags and "[" not in str(item)))


def _unwrap(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else (args[0] if args else annotation)
    if origin is typing.Annotated:
        return _unwrap(args[0])
    return annotation


def _element_type(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    args = typing.get_args(annotation)
    return _unwrap(args[-1]) if args else Any


def _is_mapping_type(annotation: Any) -> bool:
    return typing.get_origin(_unwrap(annotation)) is dict


def _problems(
    exc: ValidationError, model: type[BaseModel], display: str, keyfn: Any, data: Any = None
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    errors = exc.errors()
    # A misspelt key shows up twice: as an unknown key and as the real key missing. Say it once.
    unknown = {(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"}
    errors = [
        e
        for e in errors
        if not (
            e["type"] == "missing"
            and any(
                parent == tuple(e["loc"][:-1]) and did_you_mean(key, [str(e["loc"][-1])]) for parent, key in unknown
            )
        )
    ]
    for error in errors:
        loc = _key_path(tuple(error["loc"]))
        key = keyfn(loc, data)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(display, key, _message(error, model, loc)))
    return problems


def _owner_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for item in loc:
        if isinstance(item, int) or _is_mapping_type(current):
            current = _element_type(current)
            continue
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and item in current.model_fields:
            current = _unwrap(current.model_fields[item].annotation)
        else:
            break
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _message(error: dict[str, Any], model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _owner_fields(model, loc[:-1])
        return f"unknown key{did_you_mean(str(loc[-1]), allowed)}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing: add it"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.endswith("_type") or kind.startswith(("literal", "greater", "less", "int_", "bool_")):
        return f"{message} (got {error.get('input')!r})"
    return message


__all__ = [
    "BUILT_IN",
    "SETTING_KEYS",
    "Environment",
    "ResolvedComponent",
    "ResolvedSetting",
    "build_environment",
    "effective_resources",
    "find_project_root",
    "list_stacks",
    "load_catalogue",
    "load_environment",
    "load_project",
    "read_stack_config",
    "resolve_settings",
]
