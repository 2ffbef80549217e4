"""The web app: `GET /` (the page; `/?text=...` shows that text's category), `POST /predict` (the
JSON API, behind the API key), `GET /healthz` and `/health`, `GET /metrics`, `/static/`.

`create_app` is a factory (`uvicorn --factory nlp_document_classifier.app:create_app`): it reads
everything from the environment when the server builds the app (the variables and files the
stack's Deployment provides, or `mlops run` locally), and bad config stops it with one line and a
non-zero exit before the port is opened.

The page needs no key, the API does: a person with a browser cannot send X-API-Key, and in
production the web app's route is rate-limited (the `rate_limit` setting: Cloud Armor), which
bounds what the page can make the models do. Scripts use `POST /predict` with the key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import mlops_runtime
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from mlops_runtime import RuntimeConfigError
from mlops_runtime.service import ServiceMetrics, add_health, key_checker
from pydantic import BaseModel, ConfigDict, Field

from nlp_document_classifier.config import APP_DIR, COMPONENT, ConfigError, parse_app_config, parse_look
from nlp_document_classifier.examples import load_examples
from nlp_document_classifier.models import MODEL_TIMEOUT_SECONDS, ModelCallError, Models, Sentiment
from nlp_document_classifier.page import MAX_PAGE_TEXT_CHARS, Page, Result

MAX_DOCUMENTS = 64
MAX_DOCUMENT_CHARS = 20_000
PAGE_HEADERS = {
    "Cache-Control": "no-store",  # the page holds the visitor's text
    "Referrer-Policy": "no-referrer",  # ... and so does its URL: never hand it to the logo's host
    "X-Content-Type-Options": "nosniff",
}


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)]] = Field(
        min_length=1, max_length=MAX_DOCUMENTS, description="The articles to classify."
    )


class Prediction(BaseModel):
    category: str | None = Field(description="The most likely category, or null when none is likely enough.")
    probabilities: dict[str, float] = Field(description="Every category's probability; they sum to 1.")
    sentiment: Sentiment | None = Field(
        default=None, description="With show_sentiment: the sentiment model's label (and probabilities) or value."
    )


class PredictResponse(BaseModel):
    predictions: list[Prediction]


def as_prediction(result: Result) -> Prediction:
    """`sentiment` only when the version shows it: left unset, the response leaves it out."""
    prediction = Prediction(category=result.classification.category, probabilities=result.classification.probabilities)
    if result.sentiment is not None:
        prediction.sentiment = result.sentiment
    return prediction


def create_app(environ: Mapping[str, str] | None = None, *, model_timeout: float = MODEL_TIMEOUT_SECONDS) -> FastAPI:
    """The web app for the environment `environ` (default: this process's)."""
    env = os.environ if environ is None else environ
    try:
        identity = mlops_runtime.identity(env, default_component=COMPONENT)
        config = parse_app_config(mlops_runtime.app_config(env), env.get(mlops_runtime.APP_CONFIG_PATH) or "app config")
        look = parse_look(
            mlops_runtime.environment_config(env),
            env.get(mlops_runtime.ENVIRONMENT_CONFIG_PATH) or "environment config",
        )
        page = Page(config, look, load_examples(config))
        key = mlops_runtime.api_key(env)
        callers = mlops_runtime.callers(env)
        for name in config.called:
            try:
                mlops_runtime.component_url(name, env)
            except RuntimeConfigError as exc:
                raise ConfigError(f"{config.source}: {name}: {exc}") from None
    except (ConfigError, RuntimeConfigError) as exc:
        raise SystemExit(f"{COMPONENT}: {exc}") from None

    models = Models(config, env, model_timeout)
    app = FastAPI(title=identity.component, version=identity.version)
    ServiceMetrics(identity, callers).install(app)
    add_health(app, identity)
    app.mount("/static", StaticFiles(directory=APP_DIR / "static"), name="static")

    def classify(texts: list[str]) -> list[Result]:
        classifications = models.classify(texts)
        sentiments = models.sentiment(texts) if config.show_sentiment else [None] * len(texts)
        return [Result(c, s) for c, s in zip(classifications, sentiments, strict=True)]

    @app.exception_handler(ModelCallError)
    async def model_failed(request: Request, exc: ModelCallError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "component": exc.component}, status_code=502)

    headers = {**PAGE_HEADERS, "Content-Security-Policy": page.security_policy}

    @app.get("/", response_class=HTMLResponse)
    def index(text: str = "") -> HTMLResponse:
        text = text.strip()
        if len(text) > MAX_PAGE_TEXT_CHARS:
            error = f"The text is over {MAX_PAGE_TEXT_CHARS} characters: shorten it, or use POST /predict."
            return HTMLResponse(page.render(text[:MAX_PAGE_TEXT_CHARS], error=error), 422, headers=headers)
        if not text:
            return HTMLResponse(page.render(), headers=headers)
        try:
            [result] = classify([text])
        except ModelCallError as exc:
            error = f"The text could not be classified: {exc}. Try again shortly."
            return HTMLResponse(page.render(text, error=error), 502, headers=headers)
        return HTMLResponse(page.render(text, result), headers=headers)

    @app.post(
        "/predict",
        dependencies=[Depends(key_checker(key))],
        response_model_exclude_unset=True,
        responses={401: {"description": "missing or wrong X-API-Key"}, 502: {"description": "a model failed"}},
    )
    def predict(body: PredictRequest) -> PredictResponse:
        return PredictResponse(predictions=[as_prediction(result) for result in classify(body.documents)])

    return app
