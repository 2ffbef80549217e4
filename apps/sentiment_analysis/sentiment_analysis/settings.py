"""The version's app config (catalogue `app_config`), checked: each problem is one line naming the
key and the fix.

    {"model": {"task": "classification" | "regression", "framework": "bag-of-words",
               "artifact": "gs://bucket/object" | "<path relative to apps/sentiment_analysis/>"},
     "labels": ["negative", "positive"]}     # classification only: the classes to return

No `model`: the classifier the image ships (`model/classifier.json`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlops_runtime import RuntimeConfigError
from mlops_runtime.artifacts import parse_gcs_uri

from sentiment_analysis.model import CLASSIFICATION, FRAMEWORK, REGRESSION, TASKS

COMPONENT = "sentiment_analysis"
# The app's folder: /srv/app in the image, apps/sentiment_analysis/ in a checkout. Relative
# artifacts are taken from here, so one app config works in both.
APP_DIR = Path(__file__).resolve().parent.parent
SHIPPED_CLASSIFIER = "model/classifier.json"
FIX = f"fix the version's app_config in config/components/{COMPONENT}.yaml"
KEYS = ("labels", "model")
MODEL_KEYS = ("artifact", "framework", "task")


class ConfigError(ValueError):
    """An app config the service cannot start with; the message is the one line the user sees."""


@dataclass(frozen=True)
class AppConfig:
    task: str = CLASSIFICATION
    framework: str = FRAMEWORK
    artifact: str = SHIPPED_CLASSIFIER
    # The classes to return (their probabilities renormalised to sum to 1); None: all the model's.
    labels: tuple[str, ...] | None = None
    # Where this config came from (its file, or "app config"), for error messages.
    source: str = "app config"

    def error(self, key: str, problem: str, fix: str = FIX) -> ConfigError:
        return ConfigError(f"{self.source}: {key} {problem}: {fix}")


def parse_app_config(data: Mapping[str, Any], source: str = "app config") -> AppConfig:
    """The app config as the service uses it; a ConfigError for the first problem found."""
    config = AppConfig(source=source)
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise config.error(unknown[0], f"is not a setting of this model (known: {', '.join(KEYS)})")
    model = data.get("model")
    if model is not None:
        config = _model(config, model)
    if "labels" in data:
        config = replace(config, labels=_labels(config, data["labels"]))
    return config


def _model(config: AppConfig, model: Any) -> AppConfig:
    if not isinstance(model, dict):
        raise config.error("model", f"must be a mapping with {', '.join(MODEL_KEYS)}")
    unknown = sorted(set(model) - set(MODEL_KEYS))
    if unknown:
        raise config.error(f"model.{unknown[0]}", f"is not known (known: {', '.join(MODEL_KEYS)})")
    missing = [key for key in MODEL_KEYS if key not in model]
    if missing:
        raise config.error(f"model.{missing[0]}", "is missing: name the task, framework and artifact together")
    task, framework, artifact = model["task"], model["framework"], model["artifact"]
    if task not in TASKS:
        raise config.error("model.task", f"is {task!r}: use {' or '.join(TASKS)}")
    if framework != FRAMEWORK:
        raise config.error("model.framework", f"is {framework!r}, but this server serves {FRAMEWORK!r} artifacts")
    if not isinstance(artifact, str) or not artifact.strip():
        raise config.error("model.artifact", "must be gs://bucket/object or a path inside the app's folder")
    if "://" in artifact:
        try:
            parse_gcs_uri(artifact)
        except RuntimeConfigError as exc:
            raise config.error("model.artifact", f"is not usable ({exc})") from None
    elif Path(artifact).is_absolute() or ".." in Path(artifact).parts:
        raise config.error("model.artifact", f"is {artifact!r}: give a path inside apps/{COMPONENT}/ or a gs:// URI")
    return replace(config, task=task, framework=framework, artifact=artifact)


def _labels(config: AppConfig, labels: Any) -> tuple[str, ...]:
    if config.task == REGRESSION:
        raise config.error("labels", "applies to classification only: remove it for a regression model")
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(label, str) and label for label in labels)
        or len(set(labels)) != len(labels)
    ):
        raise config.error("labels", f"must be a non-empty list of distinct class names, not {labels!r}")
    return tuple(labels)
