"""Typed catalogue files (`config/components/<name>.yaml`): a component, its versions (immutable
image digests with their app config) and, optionally, the source tree its image is built from."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from spec.errors import ConfigError, did_you_mean
from spec.quantities import parse_quantity
from spec.schema import COMPONENT_NAME, DIGEST, IMAGE, LABEL, ComponentType, Strict

# --------------------------------------------------------------------------- catalogue


class ResourceAmounts(Strict):
    cpu: str | int | float | None = None
    memory: str | int | None = None

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | int | float | None) -> str | None:
        if value is None:
            return None
        parse_quantity(value)
        return str(value)


class Resources(Strict):
    requests: ResourceAmounts
    limits: ResourceAmounts = ResourceAmounts()

    @model_validator(mode="after")
    def _requests_and_limits(self) -> Resources:
        for key in ("cpu", "memory"):
            request = getattr(self.requests, key)
            if request is None:
                raise ValueError(f"requests.{key} is required (the scheduler sizes nodes by it)")
            limit = getattr(self.limits, key)
            if limit is not None and parse_quantity(limit) < parse_quantity(request):
                raise ValueError(f"limits.{key} {limit} is below requests.{key} {request}")
        return self


class SmokeRequest(Strict):
    path: str
    json_body: Any = Field(default=None, alias="json")


# gs://bucket/object: Cloud Storage bucket naming (3-63 of a-z 0-9 . _ -, alphanumeric at both ends)
# and an object name, not a folder.
GCS_URI = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/[^\s]*[^/\s]$")


class ModelConfig(Strict):
    """A model version's `app_config.model`: what the server does and the artifact it loads. The
    artifact is a Cloud Storage object (the server fetches it with its own Workload Identity) or a
    path inside the image, relative to the component's source folder."""

    task: Literal["classification", "regression"]
    framework: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    artifact: str

    @field_validator("artifact")
    @classmethod
    def _artifact(cls, value: str) -> str:
        if "://" in value:
            if not GCS_URI.match(value) or {".", ".."} & set(value[len("gs://") :].split("/")):
                raise ValueError(
                    f"'{value}' is not a Cloud Storage object: use gs://<bucket>/<path>/<file> (the server reads "
                    "gs:// objects with its Workload Identity)"
                )
            return value
        parts = value.split("/")
        if value.startswith("/") or ".." in parts or not value.strip():
            raise ValueError(f"'{value}' must be gs://<bucket>/<object>, or a path inside the component's folder")
        return value


class Version(Strict):
    id: Annotated[int, Field(strict=True, ge=1)]
    label: str | None = None
    digest: str
    created: datetime
    app_config: dict[str, Any] | None = None

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not DIGEST.match(value):
            raise ValueError(f"'{value}' is not an image digest: use sha256: followed by 64 lowercase hex digits")
        return value

    @field_validator("app_config")
    @classmethod
    def _model(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """`model:` in an app config is the model contract every server reads: checked here, once."""
        if value is not None and "model" in value:
            try:
                ModelConfig.model_validate(value["model"])
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in ("model", *error["loc"]))
                raise ValueError(f"{where}: {error['msg'].removeprefix('Value error, ')}") from None
        return value

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not LABEL.match(value):
            raise ValueError(f"label '{value}' must start with a letter (for example v3) so it never reads as an id")
        return value


class BuildConfig(Strict):
    """Where a component's image is built from: a directory of this repository with a Dockerfile."""

    context: str
    dockerfile: str | None = None
    args: dict[str, str] = Field(default_factory=dict)

    @field_validator("context", "dockerfile")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/") or not value.strip()):
            raise ValueError(f"'{value}' must be a path inside the repository, relative to its top (apps/my_model)")
        return value


class RunConfig(Strict):
    """How `mlops run` starts the component on a laptop: `command` (`{port}` stands for the port;
    a leading `python` is the repository's interpreter) in `directory` of the repository."""

    directory: str
    command: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)

    @field_validator("directory")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/") or not value.strip():
            raise ValueError(f"'{value}' must be a folder of the repository, relative to its top (apps/my_model)")
        return value

    @field_validator("command")
    @classmethod
    def _port(cls, value: list[str]) -> list[str]:
        if not any("{port}" in part for part in value):
            raise ValueError("the command must listen on {port} (for example --port {port}): mlops run picks the port")
        return value


# One folder name of an artifact prefix: characters that need no quoting in an IAM condition.
PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


class ArtifactsConfig(Strict):
    """Model artifacts the component reads: a folder of the platform's artifact bucket. Its
    ServiceAccount may read objects under that folder, and nothing else."""

    prefix: str

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        """Kept with one trailing '/', so access to `models/a/` never extends to `models/ab/`."""
        segments = value.removesuffix("/").split("/")
        if not all(PREFIX_SEGMENT.match(s) and s not in (".", "..") for s in segments):
            raise ValueError(
                f"'{value}' must be a folder inside the artifact bucket, relative to its top "
                "(models/sentiment): letters, digits, '.', '_', '-' and '/', no leading '/', no '..'"
            )
        return "/".join(segments) + "/"


class CatalogueComponent(Strict):
    name: str
    type: ComponentType
    description: str | None = None
    image: str
    build: BuildConfig | None = None
    port: Annotated[int, Field(ge=1, le=65535, strict=True)]
    health_path: str
    # Where the pods serve Prometheus metrics (a PodMonitoring scrapes both tracks there).
    metrics_path: str = "/metrics"
    resources: Resources
    default_version: Annotated[int, Field(strict=True, ge=1)] | str
    smoke: SmokeRequest | None = None
    # The components this one sends requests to: the network policies let these calls through,
    # and no others (the names are checked against the catalogue when an environment is built).
    calls: list[str] = Field(default_factory=list)
    artifacts: ArtifactsConfig | None = None
    run: RunConfig | None = None
    versions: list[Version] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not COMPONENT_NAME.match(value) or len(value) > 50:
            raise ValueError(
                f"component name '{value}' must be lowercase letters, digits, '_' or '-', "
                "start with a letter and be at most 50 characters"
            )
        return value

    @field_validator("calls")
    @classmethod
    def _calls(cls, value: list[str]) -> list[str]:
        for name in value:
            if not COMPONENT_NAME.match(name):
                raise ValueError(f"'{name}' is not a component name: list the names of catalogue components")
            if value.count(name) > 1:
                raise ValueError(f"'{name}' is listed twice: list each component once")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if "@" in value or ":" in last:
            raise ValueError(f"image '{value}' must be a repository without tag or digest (versions carry the digest)")
        if not IMAGE.match(value):
            raise ValueError(f"'{value}' is not an image repository (example: europe-docker.pkg.dev/acme/ml/tagger)")
        return value

    @field_validator("health_path", "metrics_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"'{value}' must start with '/'")
        return value

    @model_validator(mode="after")
    def _versions(self) -> CatalogueComponent:
        ids = [v.id for v in self.versions]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"version ids must be unique: {dup} appear more than once")
        labels = [v.label for v in self.versions if v.label]
        if len(set(labels)) != len(labels):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            raise ValueError(f"version labels must be unique: {dup} appear more than once")
        if self.find_version(self.default_version) is None:
            raise ValueError(f"default_version {self.default_version!r} is not one of the versions")
        return self

    def find_version(self, ref: int | str) -> Version | None:
        """A version by id (int, or digits) or by label."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            wanted = int(ref)
            return next((v for v in self.versions if v.id == wanted), None)
        return next((v for v in self.versions if v.label == ref), None)

    def no_version(self, ref: int | str) -> str:
        """The one-line reason `ref` names no version, with the choices."""
        choices = [str(v.id) for v in self.versions] + [v.label for v in self.versions if v.label]
        return (
            f"no version {ref!r} of '{self.name}'{did_you_mean(str(ref), choices)}; "
            f"use an id or label: {', '.join(choices)}"
        )

    def require_version(self, ref: int | str) -> Version:
        """The version `ref` names, or one line naming the catalogue file and the choices."""
        found = self.find_version(ref)
        if found is None:
            raise ConfigError.one(f"config/components/{self.name}.yaml", "versions", self.no_version(ref))
        return found
