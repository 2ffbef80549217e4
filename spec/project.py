"""A project's files: `Pulumi.yaml`, the stack files `Pulumi.<stack>.yaml` and the catalogue
`config/components/<name>.yaml`, read and validated one file at a time.

The Pulumi program reads its own project file and the catalogue through these functions; it
never reads a stack file (the Pulumi CLI hands it its config). The tooling reads everything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from spec import files
from spec.catalogue import CatalogueComponent
from spec.errors import ConfigError, Problem, did_you_mean
from spec.problems import plain_key, problems, project_key
from spec.schema import DNS_LABEL, ProjectFile

PROJECT_FILE = "Pulumi.yaml"
CATALOGUE_DIR = Path("config") / "components"
NAMESPACE = "mlops"
SECRET_PLACEHOLDER = "[secret]"
# Top-level keys of a stack file besides config: (the Pulumi CLI writes these).
STACK_FILE_KEYS = ("config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment")


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def catalogue_file(component: str) -> str:
    return str(CATALOGUE_DIR / f"{component}.yaml")


def find_project_root(start: Path | None = None) -> Path:
    """The directory of the nearest Pulumi.yaml at or above `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    raise ConfigError.one(
        str(here), "", f"no {PROJECT_FILE} here or in any parent directory: run this inside the project"
    )


def list_stacks(root: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def config_value(entry: Any) -> Any:
    """A project-level config entry's value: short form, or the `value:`/`default:` long form."""
    if isinstance(entry, Mapping) and ("value" in entry or "default" in entry):
        return entry.get("value", entry.get("default"))
    return entry


def read_project_file(root: Path) -> dict[str, Any]:
    cache = parse_cache(root)
    if cache is None:
        data = files.read_yaml(root / PROJECT_FILE, PROJECT_FILE)
    else:
        data = cache.read_yaml(root / PROJECT_FILE, PROJECT_FILE)
        cache.save()
    if not isinstance(data, dict):
        raise ConfigError.one(PROJECT_FILE, "", "must be a mapping with name, runtime and main")
    return data


def load_project(root: Path) -> ProjectFile:
    data = read_project_file(root)
    if "name" not in data:
        raise ConfigError.one(PROJECT_FILE, "name", "missing: name the project (name: document-tagging)")
    name = str(data["name"])
    if not DNS_LABEL.match(name) or len(name) > 40:
        raise ConfigError.one(
            PROJECT_FILE, "name", f"'{name}' must be lowercase letters, digits and '-' (it names namespaces)"
        )
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError.one(PROJECT_FILE, "config", "must be a mapping of config keys")
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
        raise ConfigError(problems(exc, ProjectFile, PROJECT_FILE, project_key)) from None


def main_directory(root: Path) -> Path:
    """The program's directory: `main:` of Pulumi.yaml (the project root when absent)."""
    return (root / str(read_project_file(root).get("main", "."))).resolve()


# --------------------------------------------------------------------------- catalogue

_CATALOGUES: dict[Path, tuple[tuple[Any, ...], dict[str, CatalogueComponent]]] = {}
# Where the tooling keeps parsed catalogue files between commands (see `enable_parse_cache`).
PARSE_CACHE = Path("build") / "cache" / "parsed.marshal"
_cache_enabled = False


def parse_cache(root: Path) -> files.ParseCache | None:
    """The tooling's cache of parsed files of this project, when enabled."""
    if not _cache_enabled:
        return None
    cache = _PARSE_CACHES.get(root)
    if cache is None:
        cache = _PARSE_CACHES[root] = files.ParseCache(root / PARSE_CACHE)
    return cache


_PARSE_CACHES: dict[Path, files.ParseCache] = {}


def enable_parse_cache() -> None:
    """Keep parsed catalogue files between processes (the `mlops` command turns this on; the
    Pulumi program, which never writes files, does not)."""
    global _cache_enabled
    _cache_enabled = True


def load_catalogue(root: Path, cache: files.ParseCache | None = None) -> dict[str, CatalogueComponent]:
    """The validated catalogue, read once per process while its files are unchanged. With a
    `cache` (the tooling's), files unchanged since an earlier command are not parsed again."""
    directory = root / CATALOGUE_DIR
    # Sorted as text (comparing Path objects costs as much as reading the cache at this size).
    names = sorted(n for n in os.listdir(directory) if n.endswith((".yaml", ".yml"))) if directory.is_dir() else []
    # Plain strings and os.stat: at a thousand files, pathlib's object building is the cost.
    folder = str(directory)
    signature = tuple((n, *_mtime_size(os.path.join(folder, n))) for n in names)
    key = directory.resolve()
    cached = _CATALOGUES.get(key)
    if cached and cached[0] == signature:
        return dict(cached[1])
    catalogue = _read_catalogue([directory / n for n in names], cache or parse_cache(root))
    _CATALOGUES[key] = (signature, catalogue)
    return dict(catalogue)


def _mtime_size(path: str) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return (0, -1)
    return stat.st_mtime_ns, stat.st_size


def _read_catalogue(paths: list[Path], cache: files.ParseCache | None) -> dict[str, CatalogueComponent]:
    found: list[Problem] = []
    catalogue: dict[str, CatalogueComponent] = {}
    read = cache.read_yaml if cache is not None else files.read_yaml
    for path in paths:
        display = str(CATALOGUE_DIR / path.name)
        try:
            data = read(path, display)
        except ConfigError as exc:
            found.extend(exc.problems)
            continue
        if not isinstance(data, dict):
            found.append(Problem(display, "", "must be a mapping with name, type, image, ... versions"))
            continue
        try:
            component = CatalogueComponent.model_validate(data)
        except ValidationError as exc:
            found.extend(problems(exc, CatalogueComponent, display, plain_key, data))
            continue
        if component.name != path.stem:
            found.append(
                Problem(
                    display,
                    "name",
                    f"'{component.name}' must match the file name: rename the file to {component.name}.yaml",
                )
            )
            continue
        catalogue[component.name] = component
    if cache is not None:
        cache.save()
    if found:
        raise ConfigError(found)
    return catalogue


# --------------------------------------------------------------------------- stack files


def read_stack_file(root: Path, stack: str) -> Any:
    display = stack_file_name(stack)
    cache = parse_cache(root)
    if cache is None:
        return files.read_yaml(root / display, display)
    data = cache.read_yaml(root / display, display)
    cache.save()
    return data


def read_stack_config(root: Path, stack: str) -> tuple[dict[str, Any], set[str]]:
    """(config values as the Pulumi CLI hands them to the program, the set of secret keys)."""
    return stack_config_values(root, read_stack_file(root, stack), stack_file_name(stack))


def _has_secure(value: Any) -> bool:
    if isinstance(value, (dict, list)):
        # Most values hold no secret: one scan of their text (at C speed) says so.
        try:
            if '"secure"' not in json.dumps(value, default=str):
                return False
        except (TypeError, ValueError):  # a key JSON cannot write: look at every value
            pass
    return _holds_secure(value)


def _holds_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_holds_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secure(v) for v in value)
    return False


def _masked(value: Any) -> Any:
    """Every `secure:` leaf replaced by the placeholder (the tooling never decrypts)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def stack_config_values(root: Path, data: Any, display: str) -> tuple[dict[str, Any], set[str]]:
    """A stack file's `config:` with project-level config merged in as the CLI does (a key the
    stack sets replaces the project's value whole) and `secure:` values replaced by a placeholder.
    A key is secret when its value is, or holds, a `secure:` value (as the CLI marks it)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError.one(display, "", "must be a mapping with a config: key")
    unknown_top = [k for k in data if k not in STACK_FILE_KEYS]
    if unknown_top:
        raise ConfigError.one(display, str(unknown_top[0]), "unknown top-level key: stack settings go under config:")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError.one(display, "config", "must be a mapping of config keys (mlops:components: ...)")
    project_config = read_project_file(root).get("config") or {}
    values: dict[str, Any] = {}
    if isinstance(project_config, dict):
        for key, entry in project_config.items():
            values[str(key)] = config_value(entry)
    secret_keys: set[str] = set()
    for key, value in config.items():
        if _has_secure(value):
            secret_keys.add(key)
            values[key] = _masked(value)
        else:
            values[key] = value
    return values, secret_keys
