"""The HTTP service: `POST /predict`, `GET /healthz` (and `/health`, the catalogue's
`health_path`), `GET /metrics`.

`create_app` is a factory (`uvicorn --factory document_tagging.app:create_app`): importing this
module reads nothing; the settings and the model are loaded when the server builds the app, and
bad input stops it with one line and a non-zero exit, before the port is opened."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from document_tagging.metrics import Metrics
from document_tagging.settings import Settings, SettingsError
from document_tagging.tagging import Tagger

HEALTH_PATHS = ("/healthz", "/health")
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


class Health(BaseModel):
    status: str
    component: str
    version: str


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service for `settings` (default: read from the environment the Deployment provides)."""
    try:
        settings = Settings.from_env() if settings is None else settings
        tagger = Tagger.load(settings.app_config)
    except SettingsError as exc:
        raise SystemExit(f"document_tagging: {exc}") from None

    app = FastAPI(title=settings.component, version=settings.version)
    app.state.tagger = tagger  # on the app, not in a closure: one place to swap it (tests break it on purpose)
    metrics = Metrics(settings)
    metrics.install(app)

    def health() -> Health:
        return Health(status="ok", component=settings.component, version=settings.version)

    for path in HEALTH_PATHS:
        app.add_api_route(path, health, methods=["GET"], response_model=Health)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return metrics.exposition()

    @app.post("/predict")
    def predict(
        body: PredictRequest, x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None
    ) -> PredictResponse:
        if settings.api_key is not None and not hmac.compare_digest(
            (x_api_key or "").encode(), settings.api_key.encode()
        ):
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")
        predictions = [app.state.tagger.tag(text) for text in body.instances]
        for prediction in predictions:
            metrics.count_prediction(prediction["tags"])
        return PredictResponse(predictions=[Prediction(**p) for p in predictions])

    return app
