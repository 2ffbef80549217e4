"""The model's probabilities shaped by the version's app config: classes renamed or merged,
some dropped, and the tags those above the threshold. Probabilities always sum to 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from document_tagging.model import Model, ModelError
from document_tagging.settings import CATALOGUE_HINT, AppConfig, SettingsError, artifact_file


@dataclass(frozen=True)
class Tagger:
    model: Model
    config: AppConfig

    @classmethod
    def load(cls, config: AppConfig) -> Tagger:
        """The model the app config names, checked against it; every failure is a SettingsError."""
        path = artifact_file(config)
        try:
            model = Model.load(path)
        except ModelError as exc:
            raise SettingsError(
                f"{config.source}: model.artifact {path} {exc}: fix {CATALOGUE_HINT}, or retrain"
            ) from None
        if model.target != config.target:
            raise SettingsError(
                f"{config.source}: target is {config.target!r} but the model at {config.artifact} predicts "
                f"{model.target!r}: fix {CATALOGUE_HINT}"
            )
        tagger = cls(model, config)
        if not tagger.classes:
            raise SettingsError(f"{config.source}: drop_classes leaves no class to predict: fix {CATALOGUE_HINT}")
        return tagger

    @property
    def classes(self) -> frozenset[str]:
        """The tags this tagger can return: the model's classes, renamed, less the dropped ones."""
        renamed = {self.config.merge_classes.get(name, name) for name in self.model.classes}
        return frozenset(renamed - self.config.drop_classes)

    def tag(self, text: str) -> dict[str, Any]:
        merged: dict[str, float] = {}
        for name, probability in self.model.probabilities(text).items():
            name = self.config.merge_classes.get(name, name)
            if name not in self.config.drop_classes:
                merged[name] = merged.get(name, 0.0) + probability
        total = sum(merged.values())
        probabilities = {name: merged[name] / total for name in sorted(merged)}
        tags = sorted(
            (name for name, p in probabilities.items() if p >= self.config.threshold),
            key=lambda name: (-probabilities[name], name),
        )
        return {"tags": tags, "probabilities": probabilities}
