"""The HTTP service: `POST /predict`, `GET /healthz` and `/health`, `GET /metrics`, `POST /feedback`.

`create_app` is a factory (`uvicorn --factory sentiment_analysis.app:create_app`): importing this
module reads nothing; the identity, app config and model are read when the server builds the app
(from what the stack's Deployment or `mlops run` provides), and bad input stops it with one line
and a non-zero exit, before the port is opened."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import mlops_runtime as rt
from fastapi import Depends, FastAPI
from mlops_runtime.service import ModelMetrics, ServiceMetrics, add_health, key_checker
from pydantic import BaseModel, ConfigDict, Field

from sentiment_analysis.predictor import Predictor
from sentiment_analysis.settings import COMPONENT, ConfigError, parse_app_config

MAX_TEXTS = 256
MAX_TEXT_CHARS = 100_000


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: list[Annotated[str, Field(max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=1, max_length=MAX_TEXTS, description="The texts to score."
    )


class Classification(BaseModel):
    label: str = Field(description="The most likely class.")
    probabilities: dict[str, float] = Field(description="Each returned class's probability; they sum to 1.")


class Regression(BaseModel):
    value: float = Field(description="The sentiment score, from -1 (negative) to 1 (positive).")


class PredictResponse(BaseModel):
    predictions: list[Classification] | list[Regression]


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The service for `environ` (default: the process environment)."""
    try:
        me = rt.identity(environ, default_component=COMPONENT)
        # Errors name the app config's file when there is one.
        source = (os.environ if environ is None else environ).get(rt.APP_CONFIG_PATH) or "app config"
        predictor = Predictor.load(parse_app_config(rt.app_config(environ), source), environ)
        key = rt.api_key(environ)
        callers = rt.callers(environ)
    except (rt.RuntimeConfigError, ConfigError) as exc:
        raise SystemExit(f"{COMPONENT}: {exc}") from None

    app = FastAPI(title=me.component, version=me.version)
    # On the app, not in a closure: one place to swap it (tests break it on purpose).
    app.state.predictor = predictor
    metrics = ServiceMetrics(me, callers)
    metrics.install(app)
    model_metrics = ModelMetrics(metrics)
    model_metrics.install(app, predictor.known)
    add_health(app, me)

    @app.post("/predict", dependencies=[Depends(key_checker(key))])
    def predict(body: PredictRequest) -> PredictResponse:
        current: Predictor = app.state.predictor
        predictions = [current.predict(text) for text in body.text]
        for prediction in predictions:
            model_metrics.count(current.counted_as(prediction))
        return PredictResponse.model_validate({"predictions": predictions})

    return app
