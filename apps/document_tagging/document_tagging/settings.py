"""What the service is told at start: the environment variables and files the stack's Deployment
provides (components/manifests.py), and the version's app config.

Names read here, exactly as the Deployment sets them:
- `MLOPS_COMPONENT`, `MLOPS_VERSION`: metric labels. `MLOPS_TRACK` (`stable` unless set) too.
- `MLOPS_APP_CONFIG_PATH`: the mounted app config file (JSON text, which is also YAML); or, when
  no path is set (a quick local run), `MLOPS_APP_CONFIG` holding that text. Neither: defaults.
- `MLOPS_API_KEY_PATH`: when set, `/predict` requires that key in `X-API-Key`. The stack mounts
  a key for apps only, so a model behind the stack answers without one."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = APP_ROOT / "model" / "model.json"
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
    artifact: Path = SHIPPED_MODEL
    # Where this config came from (a file, MLOPS_APP_CONFIG or defaults), for error messages.
    source: str = "defaults"


@dataclass(frozen=True)
class Settings:
    component: str = "document_tagging"
    version: str = "dev"
    track: str = "stable"
    app_config: AppConfig = field(default_factory=AppConfig)
    api_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        source, data = _read_app_config(env)
        return cls(
            component=env.get("MLOPS_COMPONENT") or cls.component,
            version=env.get("MLOPS_VERSION") or cls.version,
            track=env.get("MLOPS_TRACK") or cls.track,
            app_config=parse_app_config(data, source),
            api_key=_read_api_key(env.get("MLOPS_API_KEY_PATH")),
        )


def _read_app_config(env: Mapping[str, str]) -> tuple[str, Any]:
    path = env.get("MLOPS_APP_CONFIG_PATH")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(
                f"{path}: cannot read the app config ({exc.strerror}): fix MLOPS_APP_CONFIG_PATH"
            ) from None
        source = path
    elif env.get("MLOPS_APP_CONFIG"):
        text, source = env["MLOPS_APP_CONFIG"], "MLOPS_APP_CONFIG"
    else:
        return "defaults", {}
    try:
        return source, json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{source}: the app config is not JSON ({exc.msg} at line {exc.lineno})") from None


def _read_api_key(path: str | None) -> str | None:
    if not path:
        return None
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the API key ({exc.strerror}): fix MLOPS_API_KEY_PATH") from None
    if not key:
        raise SettingsError(f"{path}: the API key file is empty: set mlops:api_key in the stack")
    return key


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


def _artifact(model: Any, bad: Callable[[str, str], SettingsError]) -> Path:
    if not isinstance(model, dict):
        raise bad("model", "must be a mapping with task, framework and artifact")
    unknown = sorted(set(model) - _MODEL_KEYS)
    if unknown:
        raise bad(f"model.{unknown[0]}", f"is not known (known: {', '.join(sorted(_MODEL_KEYS))})")
    if model.get("task", "classification") != "classification":
        raise bad("model.task", f"is {model['task']!r}, but this server only classifies: use classification")
    artifact = model.get("artifact")
    if artifact is None:
        return SHIPPED_MODEL
    if not isinstance(artifact, str) or not artifact:
        raise bad("model.artifact", "must be a path to a model.json")
    if "://" in artifact:
        raise bad(
            "model.artifact",
            f"is {artifact!r}, a URI this server cannot fetch yet (give a path inside the image, or none for "
            "the shipped model)",
        )
    # Relative to the app's directory, so the same value works from a checkout and in the image.
    return APP_ROOT / artifact
