"""`mlops version`: the catalogue of a component's versions, managed without editing YAML by hand.

Edits go through `mlops.yamledit` (ruamel.yaml round trip: comments, key order, quoting and
layout kept), the result is validated as a whole catalogue file before it is written, and writes
are atomic under the project lock. Ids are never reused: a new version gets one more than the
highest id in the file, and these commands never delete a version.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlops import history
from mlops.stackfile import atomic_write, project_lock
from mlops.yamledit import YamlDocument
from spec.catalogue import CatalogueComponent
from spec.errors import ConfigError, did_you_mean, one_of
from spec.files import parse_yaml, read_yaml
from spec.files import read_text as read_file_text
from spec.problems import plain_key, problems
from spec.project import catalogue_file, load_catalogue
from spec.schema import DIGEST, LABEL, SOURCE_VERSION

# How catalogue files are laid out: a version is a block mapping whose app config is one flow
# mapping (`app_config: {target: category, threshold: 0.6}`), at depth 3 from the document root.
VERSION_FLOW_DEPTH = 3


def _path(root: Path, component: str) -> tuple[Path, str]:
    catalogue = load_catalogue(root)
    display = catalogue_file(component)
    if component not in catalogue:
        raise ConfigError.one(
            display,
            "",
            f"no catalogue component '{component}'{did_you_mean(component, catalogue)}: use one of {one_of(catalogue)}",
        )
    return root / display, display


def get(root: Path, component: str) -> CatalogueComponent:
    _path(root, component)
    return load_catalogue(root)[component]


def _edit(root: Path, component: str, change: Callable[[YamlDocument, list[dict[str, Any]]], Any]) -> Any:
    """Load the file round-trip, apply `change` (given the document and its versions as plain
    data), validate the result as a whole catalogue file, write it atomically."""
    path, display = _path(root, component)
    with project_lock(root):
        doc = YamlDocument.load(read_file_text(path, display), display)
        versions = doc.get(("versions",))
        if not isinstance(versions, list) or not all(isinstance(v, dict) for v in versions):
            raise ConfigError.one(display, "versions", "must be a list of versions (id, digest, created): fix the file")
        result = change(doc, versions)
        text = doc.text()
        data = parse_yaml(text, display)
        try:
            CatalogueComponent.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(problems(exc, CatalogueComponent, display, plain_key, data)) from None
        atomic_write(path, text)
    return result


def _find(versions: list[dict[str, Any]], ref: str, display: str) -> int:
    """The index of version `ref` (an id or a label)."""
    for index, version in enumerate(versions):
        if str(version.get("id")) == str(ref) or version.get("label") == ref:
            return index
    choices = [str(v.get("id")) for v in versions] + [v["label"] for v in versions if v.get("label")]
    raise ConfigError.one(
        display, "versions", f"no version {ref!r}{did_you_mean(ref, choices)}; use one of {', '.join(choices)}"
    )


def _check_label(versions: list[dict[str, Any]], label: str, display: str, keep_id: int | None = None) -> None:
    if not LABEL.match(label):
        raise ConfigError.one(display, "label", f"'{label}' must start with a letter (for example v3)")
    for version in versions:
        if version.get("label") == label and version.get("id") != keep_id:
            raise ConfigError.one(
                display, "label", f"'{label}' already names version {version['id']}: labels are unique"
            )


def add(
    root: Path,
    component: str,
    digest: str,
    label: str | None,
    app_config: Path | None,
    make_default: bool,
    ran_with: dict[str, Any] | None = None,
) -> int:
    """Append a version; its app config is the `app_config` file's, else `ran_with` (the app config
    a stack ran the image with), else none."""
    _, display = _path(root, component)
    if not DIGEST.match(digest):
        raise ConfigError.one(
            "--digest", "", f"'{digest}' is not an image digest: use sha256: and 64 lowercase hex digits"
        )
    config: Any = None
    if app_config is not None:
        if not app_config.is_file():
            raise ConfigError.one(str(app_config), "", "file not found: give a YAML file with the version's app config")
        config = read_yaml(app_config, str(app_config))
        if not isinstance(config, dict):
            raise ConfigError.one(str(app_config), "", "must be a YAML mapping (key: value) of app config")
    elif ran_with:
        config = ran_with

    def change(doc: YamlDocument, versions: list[dict[str, Any]]) -> int:
        for version in versions:
            if version.get("digest") == digest:
                raise ConfigError.one(display, "versions", f"digest is version {version['id']} already: tag that one")
        if label is not None:
            _check_label(versions, label, display)
        new_id = max((int(v["id"]) for v in versions), default=0) + 1
        entry: dict[str, Any] = {"id": new_id}
        if label is not None:
            entry["label"] = label
        entry["digest"] = digest
        entry["created"] = history.now()
        if config is not None:
            entry["app_config"] = config
        doc.set(("versions", len(versions)), entry, flow=VERSION_FLOW_DEPTH)
        if make_default:
            doc.set(("default_version",), new_id)
        return new_id

    return _edit(root, component, change)


def built_version(root: Path, component: str, stack: str, outputs: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(digest, app config) of what `stack` runs for `component` when it runs a source build,
    from its outputs (`pins` and `components`). A catalogue version is refused: it is one already."""
    entry = get(root, component)
    display = f"outputs of stack {stack}"
    pins = outputs.get("pins")
    found = [p for p in pins if isinstance(p, dict) and p.get("name") == component] if isinstance(pins, list) else []
    if not found:
        raise ConfigError.one(display, "pins", f"'{component}' is not deployed in {stack}: deploy it first")
    pin = found[0]
    digest = pin.get("digest")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise ConfigError.one(
            display, "pins", f"no image digest for '{component}': redeploy {stack} with this program (it exports one)"
        )
    if pin.get("version") != SOURCE_VERSION:
        raise ConfigError.one(
            display,
            "pins",
            f"{stack} runs catalogue version {pin.get('version')} of '{component}', not a source build: nothing to add",
        )
    # The build ran with the app config of the version its objects name: source-<id>.
    deployed = (outputs.get("components") or {}).get(component) or {}
    ran = str(deployed.get("version", ""))
    base = entry.find_version(int(ran.rsplit("-", 1)[1])) if ran.startswith(f"{SOURCE_VERSION}-") else None
    return digest, (dict(base.app_config) if base is not None and base.app_config else None)


def tag(root: Path, component: str, version: str, label: str) -> int:
    _, display = _path(root, component)

    def change(doc: YamlDocument, versions: list[dict[str, Any]]) -> int:
        index = _find(versions, version, display)
        found = versions[index]
        _check_label(versions, label, display, keep_id=found.get("id"))
        # Right after the id, as the other versions have it.
        doc.set(("versions", index, "label"), label, position=None if "label" in found else 1)
        return int(found["id"])

    return _edit(root, component, change)


def set_default(root: Path, component: str, version: str) -> int:
    _, display = _path(root, component)

    def change(doc: YamlDocument, versions: list[dict[str, Any]]) -> int:
        found = versions[_find(versions, version, display)]
        doc.set(("default_version",), found["id"])
        return int(found["id"])

    return _edit(root, component, change)
