"""The HTTP service: `POST /predict`, `POST /feedback`, `GET /healthz` (and `/health`, the
catalogue's `health_path`), `GET /metrics`.

`create_app` is a factory (`uvicorn --factory document_tagging.app:create_app`): importing this
module reads nothing; the settings and the model are loaded when the server builds the app, and
bad input stops it with one line and a non-zero exit, before the port is opened."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from mlops_runtime.service import ModelMetrics, ServiceMetrics, add_health, key_checker
from pydantic import BaseModel, ConfigDict, Field

from document_tagging.settings import COMPONENT, Settings, SettingsError
from document_tagging.tagging import Tagger

MAX_INSTANCES = 256
MAX_TEXT_CHARS = 100_000


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[Annotated[str, Field(max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=1, max_length=MAX_INSTANCES, description="The documents to tag."
    )


class Prediction(BaseModel):
    tags: list[str] = Field(description="Classes at or above the app config's threshold, most likely first.")
    probabilities: dict[str, float] = Field(description="Every class's probability; they sum to 1.")


class PredictResponse(BaseModel):
    predictions: list[Prediction]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service for `settings` (default: read from the environment the Deployment provides)."""
    try:
        settings = Settings.from_env() if settings is None else settings
        tagger = Tagger.load(settings.app_config)
    except SettingsError as exc:
        raise SystemExit(f"{COMPONENT}: {exc}") from None

    identity = settings.identity
    app = FastAPI(title=identity.component, version=identity.version)
    app.state.tagger = tagger  # on the app, not in a closure: one place to swap it (tests break it on purpose)
    metrics = ServiceMetrics(identity, settings.callers)
    metrics.install(app)
    predictions = ModelMetrics(metrics)
    # Feedback may only name a tag this version can return: the metric's label values stay bounded.
    predictions.install(app, tagger.classes)
    add_health(app, identity)

    @app.post("/predict", dependencies=[Depends(key_checker(settings.api_key))])
    def predict(body: PredictRequest) -> PredictResponse:
        results = [Prediction(**app.state.tagger.tag(text)) for text in body.instances]
        for result in results:
            for tag in result.tags:
                predictions.count(tag)
        return PredictResponse(predictions=results)

    return app
