"""The model the app config names, fetched and checked against it, and its predictions in the
shape the API returns: `{"label", "probabilities"}` for a classifier (probabilities over the
returned classes, summing to 1), `{"value"}` for a regressor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mlops_runtime as rt

from sentiment_analysis.model import CLASSIFICATION, Classifier, ModelError, Regressor, load_model, read_artifact
from sentiment_analysis.settings import APP_DIR, AppConfig, ConfigError

FIX_ARTIFACT = "retrain it with apps/sentiment_analysis/train.py"
# The prediction counter's label for a regression (one series, not one per value).
VALUE = "value"


@dataclass(frozen=True)
class Predictor:
    config: AppConfig
    model: Classifier | Regressor
    # Classification: the classes returned, sorted; regression: empty.
    labels: tuple[str, ...]

    @classmethod
    def load(cls, config: AppConfig, environ: Mapping[str, str] | None = None) -> Predictor:
        """Fetch (gs://) or find (a path) the artifact and check it is what the app config says."""
        try:
            path = rt.artifact_path(config.artifact, base=APP_DIR, environ=environ)
        except rt.RuntimeConfigError as exc:
            raise ConfigError(f"{config.source}: model.artifact: {exc}") from None
        where = f"model.artifact {config.artifact}"
        try:
            artifact = read_artifact(path)
            if artifact["task"] != config.task:
                raise config.error(where, f"is a {artifact['task']} model but model.task is {config.task!r}")
            if artifact.get("framework") != config.framework:
                raise config.error(
                    where,
                    f"declares framework {artifact.get('framework')!r} but model.framework is {config.framework!r}",
                )
            model = load_model(artifact)
        except ModelError as exc:
            raise config.error(where, str(exc), f"{FIX_ARTIFACT}, or point model.artifact at another") from None
        labels: tuple[str, ...] = ()
        if isinstance(model, Classifier):
            labels = tuple(sorted(config.labels or model.classes))
            unknown = [label for label in labels if label not in model.classes]
            if unknown:
                raise config.error(
                    "labels", f"names {unknown[0]!r}, not a class of the model ({', '.join(model.classes)})"
                )
        return cls(config=config, model=model, labels=labels)

    @property
    def known(self) -> frozenset[str]:
        """What a prediction is counted as: the returned classes, or `value`."""
        return frozenset(self.labels) if self.config.task == CLASSIFICATION else frozenset({VALUE})

    def predict(self, text: str) -> dict[str, Any]:
        if isinstance(self.model, Regressor):
            return {"value": self.model.value(text)}
        # Over the returned classes only: the same as renormalising, without dividing by a sum
        # that a long text could make underflow to zero.
        probabilities = self.model.probabilities(text, self.labels)
        # The most likely class; a tie goes to the first in name order (max keeps the first).
        return {"label": max(self.labels, key=probabilities.__getitem__), "probabilities": probabilities}

    def counted_as(self, prediction: Mapping[str, Any]) -> str:
        return str(prediction.get("label", VALUE))
