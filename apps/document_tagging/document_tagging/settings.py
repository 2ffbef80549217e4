"""What the service is told at start, read through the runtime helper (`mlops_runtime`): its
identity (metric labels), the version's app config, the API key when one is mounted, and the
components that call it. The helper reads exactly the variables and files the stack's Deployment
provides (components/pod_spec.py) and `mlops run` reproduces locally.

This module checks the app config: each problem is one line naming the key and the fix."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import mlops_runtime
from mlops_runtime import Identity, RuntimeConfigError
from mlops_runtime.artifacts import parse_gcs_uri

APP_DIR = Path(__file__).resolve().parent.parent
SHIPPED_ARTIFACT = "model/model.json"
COMPONENT = "document_tagging"
# The one kind of model this server loads (model.py; its artifacts say "naive-bayes/1").
FRAMEWORK = "naive-bayes"
CATALOGUE_HINT = "the version's app_config in config/components/document_tagging.yaml"
_KEYS = {"target", "threshold", "merge_classes", "drop_classes", "model"}
_MODEL_KEYS = {"task", "framework", "artifact"}


class SettingsError(ValueError):
    """Bad input the service cannot start with; the message is the one line the user sees."""


@dataclass(frozen=True)
class AppConfig:
    target: str = "category"
    # A tag is returned when its probability is at least this.
    threshold: float = 0.5
    # Rename classes (several may merge into one: their probabilities add) ...
    merge_classes: dict[str, str] = field(default_factory=dict)
    # ... and leave some out (the others are renormalised to sum to 1).
    drop_classes: frozenset[str] = frozenset()
    # A path relative to the app's folder (the same in the checkout and the image), or gs://;
    # resolved when the model is loaded (a gs:// artifact may need a download).
    artifact: str = SHIPPED_ARTIFACT
    # Where this config came from (the mounted file, or defaults), for error messages.
    source: str = "defaults"


def _default_identity() -> Identity:
    return mlops_runtime.identity({}, default_component=COMPONENT)


@dataclass(frozen=True)
class Settings:
    identity: Identity = field(default_factory=_default_identity)
    app_config: AppConfig = field(default_factory=AppConfig)
    api_key: str | None = None
    callers: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        try:
            return cls(
                identity=mlops_runtime.identity(env, default_component=COMPONENT),
                app_config=parse_app_config(
                    mlops_runtime.app_config(env), env.get(mlops_runtime.APP_CONFIG_PATH) or "defaults"
                ),
                api_key=mlops_runtime.api_key(env),
                callers=mlops_runtime.callers(env),
            )
        except RuntimeConfigError as exc:
            raise SettingsError(str(exc)) from None


def parse_app_config(data: Any, source: str = "app config") -> AppConfig:
    """The app config, checked: each problem is one line naming the key and the fix."""

    def bad(key: str, problem: str) -> SettingsError:
        return SettingsError(f"{source}: {key} {problem}: fix {CATALOGUE_HINT}")

    if not isinstance(data, dict):
        raise bad("(top level)", "must be a mapping")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise bad(unknown[0], f"is not a setting of this model (known: {', '.join(sorted(_KEYS))})")
    target = data.get("target", AppConfig.target)
    if not isinstance(target, str) or not target:
        raise bad("target", "must be a non-empty string")
    threshold = data.get("threshold", AppConfig.threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise bad("threshold", f"must be a number from 0 to 1, not {threshold!r}")
    merge = data.get("merge_classes", {})
    if not isinstance(merge, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in merge.items()):
        raise bad("merge_classes", "must map class names to class names")
    drop = data.get("drop_classes", [])
    if not isinstance(drop, list) or not all(isinstance(name, str) for name in drop):
        raise bad("drop_classes", "must be a list of class names")
    return AppConfig(
        target=target,
        threshold=float(threshold),
        merge_classes=dict(merge),
        drop_classes=frozenset(drop),
        artifact=_artifact(data.get("model", {}), bad),
        source=source,
    )


def _artifact(model: Any, bad: Callable[[str, str], SettingsError]) -> str:
    if not isinstance(model, dict):
        raise bad("model", "must be a mapping with task, framework and artifact")
    unknown = sorted(set(model) - _MODEL_KEYS)
    if unknown:
        raise bad(f"model.{unknown[0]}", f"is not known (known: {', '.join(sorted(_MODEL_KEYS))})")
    task = model.get("task", "classification")
    if task != "classification":
        raise bad("model.task", f"is {task!r}, but a tagger only classifies: use classification")
    framework = model.get("framework", FRAMEWORK)
    if framework != FRAMEWORK:
        raise bad("model.framework", f"is {framework!r}, but this server serves {FRAMEWORK} models: use {FRAMEWORK}")
    artifact = model.get("artifact", SHIPPED_ARTIFACT)
    if not isinstance(artifact, str) or not artifact.strip():
        raise bad("model.artifact", "must be a path inside apps/document_tagging/ or a gs://bucket/object URI")
    if "://" in artifact:
        try:
            parse_gcs_uri(artifact)
        except RuntimeConfigError as exc:
            raise bad("model.artifact", str(exc)) from None
    elif PurePosixPath(artifact).is_absolute() or ".." in PurePosixPath(artifact).parts:
        raise bad("model.artifact", f"is {artifact!r}: give a path relative to apps/document_tagging/, or gs://")
    return artifact


def artifact_file(config: AppConfig) -> Path:
    """The local file holding the app config's artifact (a gs:// one is fetched with the pod's
    identity, or read from the local mirror `mlops run` names): the runtime helper's one
    resolution, so the image and a laptop agree."""
    try:
        return mlops_runtime.artifact_path(config.artifact, base=APP_DIR)
    except RuntimeConfigError as exc:
        raise SettingsError(f"{config.source}: model.artifact: {exc}") from None
