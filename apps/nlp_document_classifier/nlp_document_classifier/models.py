"""Calls to the models, by component name through the runtime helper (in the cluster their
Services, locally what `mlops run` started), with bounded timeouts. Whatever goes wrong (no
answer, an error status, an answer of the wrong shape) becomes one `ModelCallError` naming the
component, which the app answers with 502: never a traceback, never the model's internals."""

from __future__ import annotations

import http.client
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import mlops_runtime
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from nlp_document_classifier.config import AppConfig

# Per call, per socket operation: the page waits at most this long for each model.
MODEL_TIMEOUT_SECONDS = 5.0


class ModelCallError(Exception):
    def __init__(self, component: str, problem: str) -> None:
        super().__init__(f"{component} {problem}")
        self.component = component


class TaggerPrediction(BaseModel):
    """One document in document_tagging's answer (apps/document_tagging)."""

    tags: list[str]
    probabilities: dict[str, float]


class Sentiment(BaseModel):
    """One text in the sentiment model's answer: a classifier's label (and probabilities), or a
    regression's value. Only the fields the model sent are passed on."""

    model_config = ConfigDict(extra="ignore")
    label: str | None = None
    probabilities: dict[str, float] | None = None
    value: float | None = None

    @model_validator(mode="after")
    def label_or_value(self) -> Sentiment:
        if (self.label is None) == (self.value is None):
            raise ValueError("a prediction has a label (classification) or a value (regression)")
        return self


class TaggerAnswer(BaseModel):
    predictions: list[TaggerPrediction]


class SentimentAnswer(BaseModel):
    predictions: list[Sentiment]


Answer = TypeVar("Answer", TaggerAnswer, SentimentAnswer)


@dataclass(frozen=True)
class Classification:
    category: str | None
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Models:
    config: AppConfig
    environ: Mapping[str, str] | None = None
    timeout: float = MODEL_TIMEOUT_SECONDS

    def classify(self, texts: list[str]) -> list[Classification]:
        """The category of each text: the most likely of the tags the model returns, or None when no
        class reaches the model's threshold (its own app config decides that)."""
        name = self.config.model_name
        answer = self._call(name, {"instances": texts}, TaggerAnswer, len(texts))
        return [Classification(p.tags[0] if p.tags else None, p.probabilities) for p in answer.predictions]

    def sentiment(self, texts: list[str]) -> list[Sentiment]:
        name = self.config.sentiment_model_name or ""
        return self._call(name, {"text": texts}, SentimentAnswer, len(texts)).predictions

    def _call(self, name: str, body: Any, shape: type[Answer], count: int) -> Answer:
        try:
            answer = mlops_runtime.call_json(name, "/predict", body, timeout=self.timeout, environ=self.environ)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise ModelCallError(name, f"answered {exc.code} {exc.reason}") from None
        except TimeoutError:
            raise ModelCallError(name, f"did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ModelCallError(name, f"did not answer within {self.timeout:g} s") from None
            reason = exc.reason.strerror if isinstance(exc.reason, OSError) else exc.reason
            raise ModelCallError(name, f"did not answer ({reason})") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ModelCallError(name, f"did not answer ({type(exc).__name__})") from None
        except ValueError:
            raise ModelCallError(name, "answered something that is not JSON") from None
        try:
            parsed = shape.model_validate(answer)
        except ValidationError as exc:
            raise ModelCallError(name, f"answered in an unexpected shape ({exc.error_count()} problems)") from None
        if len(parsed.predictions) != count:
            raise ModelCallError(name, f"answered {len(parsed.predictions)} predictions for {count} texts")
        return parsed
