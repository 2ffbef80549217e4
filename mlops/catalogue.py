"""`mlops version`: the catalogue of a component's versions, managed without editing YAML by hand.

Edits go through ruamel.yaml's round-trip mode (comments, key order and quoting kept), the
result is validated as a whole catalogue file before it is written, and writes are atomic under
the project lock. Ids are never reused: a new version gets one more than the highest id in the
file, and these commands never delete a version.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from mlops import history
from mlops.stackfile import atomic_write, project_lock
from spec.environment import CATALOGUE_DIR, _problems, load_catalogue, load_yaml_text
from spec.errors import ConfigError, did_you_mean, one_of
from spec.schema import DIGEST, LABEL, CatalogueComponent


def _path(root: Path, component: str) -> tuple[Path, str]:
    catalogue = load_catalogue(root)
    if component not in catalogue:
        raise ConfigError.one(
            str(CATALOGUE_DIR / f"{component}.yaml"),
            "",
            f"no catalogue component '{component}'{did_you_mean(component, catalogue)}: use one of {one_of(catalogue)}",
        )
    return root / CATALOGUE_DIR / f"{component}.yaml", str(CATALOGUE_DIR / f"{component}.yaml")


def get(root: Path, component: str) -> CatalogueComponent:
    _path(root, component)
    return load_catalogue(root)[component]


def _edit(root: Path, component: str, change: Callable[[CommentedMap], Any]) -> Any:
    """Load the file round-trip, apply `change`, validate the result, write it atomically."""
    path, display = _path(root, component)
    with project_lock(root):
        yaml = YAML()
        yaml.preserve_quotes = True
        # The house layout of our YAML files: lists indented under their key, long lines kept.
        yaml.indent(mapping=2, sequence=4, offset=2)
        yaml.width = 4096
        data = yaml.load(path.read_text(encoding="utf-8"))
        result = change(data)
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        text = buffer.getvalue()
        try:
            CatalogueComponent.model_validate(load_yaml_text(text, display))
        except ValidationError as exc:
            raise ConfigError(
                _problems(exc, CatalogueComponent, display, lambda loc, _d: ".".join(map(str, loc)))
            ) from None
        atomic_write(path, text)
    return result


def _find(data: CommentedMap, ref: str, display: str) -> CommentedMap:
    for version in data["versions"]:
        if str(version["id"]) == str(ref) or version.get("label") == ref:
            return version
    choices = [str(v["id"]) for v in data["versions"]] + [v["label"] for v in data["versions"] if v.get("label")]
    raise ConfigError.one(
        display, "versions", f"no version {ref!r}{did_you_mean(ref, choices)}; use one of {', '.join(choices)}"
    )


def _check_label(data: CommentedMap, label: str, display: str, keep_id: int | None = None) -> None:
    if not LABEL.match(label):
        raise ConfigError.one(display, "label", f"'{label}' must start with a letter (for example v3)")
    for version in data["versions"]:
        if version.get("label") == label and version["id"] != keep_id:
            raise ConfigError.one(
                display, "label", f"'{label}' already names version {version['id']}: labels are unique"
            )


def add(root: Path, component: str, digest: str, label: str | None, app_config: Path | None, make_default: bool) -> int:
    _, display = _path(root, component)
    if not DIGEST.match(digest):
        raise ConfigError.one(
            "--digest", "", f"'{digest}' is not an image digest: use sha256: and 64 lowercase hex digits"
        )
    config: Any = None
    if app_config is not None:
        if not app_config.is_file():
            raise ConfigError.one(str(app_config), "", "file not found: give a YAML file with the version's app config")
        config = load_yaml_text(app_config.read_text(encoding="utf-8"), str(app_config))
        if not isinstance(config, dict):
            raise ConfigError.one(str(app_config), "", "must be a YAML mapping (key: value) of app config")

    def change(data: CommentedMap) -> int:
        for version in data["versions"]:
            if version["digest"] == digest:
                raise ConfigError.one(display, "versions", f"digest is version {version['id']} already: tag that one")
        if label is not None:
            _check_label(data, label, display)
        new_id = max(int(v["id"]) for v in data["versions"]) + 1
        entry = CommentedMap()
        entry["id"] = new_id
        if label is not None:
            entry["label"] = label
        entry["digest"] = digest
        entry["created"] = history.now()
        if config is not None:
            entry["app_config"] = config
        data["versions"].append(entry)
        if make_default:
            data["default_version"] = new_id
        return new_id

    return _edit(root, component, change)


def tag(root: Path, component: str, version: str, label: str) -> int:
    _, display = _path(root, component)

    def change(data: CommentedMap) -> int:
        found = _find(data, version, display)
        _check_label(data, label, display, keep_id=found["id"])
        if "label" in found:
            found["label"] = label
        else:
            found.insert(1, "label", label)  # right after the id, as the other versions have it
        return int(found["id"])

    return _edit(root, component, change)


def set_default(root: Path, component: str, version: str) -> int:
    _, display = _path(root, component)

    def change(data: CommentedMap) -> int:
        found = _find(data, version, display)
        data["default_version"] = found["id"]
        return int(found["id"])

    return _edit(root, component, change)
