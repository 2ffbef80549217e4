"""Typed configuration: the stack file (`mlops:*` keys), the project file and the catalogue.

Every model forbids unknown keys, so a misspelt key is an error naming the key, never a value
silently ignored. Rules that involve one file only live here (in validators); rules that need the
catalogue or the project as well live in `spec.environment`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spec.errors import did_you_mean, one_of
from spec.quantities import parse_quantity
from spec.worker_types import WORKER_TYPES

# Kubernetes object names we derive from user names must be DNS labels.
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
COMPONENT_NAME = re.compile(r"^[a-z]([_a-z0-9-]*[a-z0-9])?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,62}$")
HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$")
# A repository reference without tag or digest: registry/path/name.
IMAGE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)*$")

ComponentType = Literal["app", "model"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- settings


SETTING_KEYS = ("replicas", "worker_group", "low_latency_mode")


class Settings(Strict):
    """One level of the settings hierarchy; a key left out inherits from the level above."""

    replicas: Annotated[int, Field(ge=1, le=500, strict=True)] | None = None
    worker_group: str | None = None
    low_latency_mode: Annotated[bool, Field(strict=True)] | None = None

    def explicit(self) -> dict[str, Any]:
        """The keys this level sets (the others inherit)."""
        return {k: v for k in SETTING_KEYS if (v := getattr(self, k)) is not None}


# --------------------------------------------------------------------------- stack file


class EnvironmentMeta(Strict):
    promotes_to: str | None = None


class ClusterConfig(Strict):
    """An existing GKE cluster (name + location) or any cluster by kubeconfig context."""

    name: str | None = None
    location: str | None = None
    project: str | None = Field(default=None, description="GCP project; defaults to gcp:project")
    kubeconfig_context: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ClusterConfig:
        gke = self.name is not None or self.location is not None
        if gke and self.kubeconfig_context is not None:
            raise ValueError(
                "give either name and location (a GKE cluster) or kubeconfig_context (any cluster), not both"
            )
        if not gke and self.kubeconfig_context is None:
            raise ValueError("name the cluster: name and location for GKE, or kubeconfig_context for kind/minikube")
        if gke and (self.name is None or self.location is None):
            missing = "location" if self.location is None else "name"
            raise ValueError(f"a GKE cluster needs both name and location: add {missing}")
        return self

    @property
    def is_gke(self) -> bool:
        return self.kubeconfig_context is None


class IngressConfig(Strict):
    host: str
    class_name: str = "nginx"
    # Namespace of the ingress controller: the only outside namespace allowed to reach components.
    controller_namespace: str = "ingress-nginx"
    tls_secret: str | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOSTNAME.match(value):
            raise ValueError(f"'{value}' is not a DNS host name (example: ml.acme.example)")
        return value

    @field_validator("controller_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError(f"'{value}' is not a Kubernetes namespace name")
        return value


class WorkerGroupConfig(Strict):
    """A GKE node pool this stack owns, or (existing: true) one it only references."""

    worker_type: str | None = None
    size: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None
    min_size: Annotated[int, Field(ge=0, le=1000, strict=True)] | None = None
    max_size: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None
    disk_size_gb: Annotated[int, Field(ge=20, le=65536, strict=True)] = 100
    existing: bool = False
    # GKE node pool name of an existing pool that does not carry the mlops.dev/worker-group label.
    node_pool: str | None = None

    @field_validator("worker_type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and value not in WORKER_TYPES:
            raise ValueError(
                f"unknown worker type '{value}'{did_you_mean(value, WORKER_TYPES)}; use one of: {one_of(WORKER_TYPES)}"
            )
        return value

    @model_validator(mode="after")
    def _shape(self) -> WorkerGroupConfig:
        sizing = [k for k in ("size", "min_size", "max_size") if getattr(self, k) is not None]
        if self.existing:
            if sizing:
                raise ValueError(
                    f"an existing worker group is never managed: remove {', '.join(sizing)} "
                    "or drop existing: true to own it"
                )
            return self
        if self.node_pool is not None:
            raise ValueError("node_pool only applies to existing: true worker groups")
        if self.worker_type is None:
            raise ValueError("an owned worker group needs worker_type (for example 4-CPU-26GB-RAM)")
        if self.size is not None and (self.min_size is not None or self.max_size is not None):
            raise ValueError("give either size (fixed) or min_size and max_size (autoscaling), not both")
        if self.size is None:
            if self.min_size is None or self.max_size is None:
                raise ValueError("give size (fixed) or both min_size and max_size (autoscaling)")
            if self.min_size > self.max_size:
                raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        return self

    @property
    def autoscaling(self) -> bool:
        return self.size is None and not self.existing


class Pin(Strict):
    """(component, version) deployed in this environment, with optional component-level settings."""

    name: str
    type: ComponentType
    version: Annotated[int, Field(strict=True, ge=1)] | str
    settings: Settings = Settings()


class PromotedFrom(Strict):
    """Provenance written by `mlops promote`."""

    stack: str
    source: Literal["config", "deployed"] = "config"
    update: int | None = None
    time: datetime
    user: str


class ChallengerMeta(Strict):
    """Written by `mlops challenger create`: whose replica this is, made from which stack, when."""

    parent: str
    created: datetime
    owner: str


class StackConfig(Strict):
    """The `mlops:` keys of a stack file (`Pulumi.<env>.yaml`), prefix removed."""

    environment: EnvironmentMeta = EnvironmentMeta()
    cluster: ClusterConfig
    ingress: IngressConfig
    worker_groups: dict[str, WorkerGroupConfig] = {}
    settings: Settings = Settings()
    environment_config: dict[str, Any] = {}
    components: list[Pin] = []
    api_key: str | None = None
    promoted_from: PromotedFrom | None = None
    challenger: ChallengerMeta | None = None

    @field_validator("worker_groups")
    @classmethod
    def _group_names(cls, groups: dict[str, WorkerGroupConfig]) -> dict[str, WorkerGroupConfig]:
        for name in groups:
            # GKE node pool names: lowercase DNS label, at most 40 characters; Pulumi appends an
            # 8-character suffix, so owned names keep to 32.
            if not DNS_LABEL.match(name) or len(name) > 32:
                raise ValueError(
                    f"worker group name '{name}' must be lowercase letters, digits and '-', "
                    "start with a letter and be at most 32 characters"
                )
        return groups


# --------------------------------------------------------------------------- project file


class ProjectFile(Strict):
    """What the program needs from Pulumi.yaml (other keys belong to Pulumi and are not checked)."""

    name: str
    settings: Settings = Settings()


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

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not LABEL.match(value):
            raise ValueError(f"label '{value}' must start with a letter (for example v3) so it never reads as an id")
        return value


class CatalogueComponent(Strict):
    name: str
    type: ComponentType
    description: str | None = None
    image: str
    port: Annotated[int, Field(ge=1, le=65535, strict=True)]
    health_path: str
    resources: Resources
    default_version: Annotated[int, Field(strict=True, ge=1)] | str
    smoke: SmokeRequest | None = None
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

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if "@" in value or ":" in last:
            raise ValueError(f"image '{value}' must be a repository without tag or digest (versions carry the digest)")
        if not IMAGE.match(value):
            raise ValueError(f"'{value}' is not an image repository (example: europe-docker.pkg.dev/acme/ml/tagger)")
        return value

    @field_validator("health_path")
    @classmethod
    def _health(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"health_path '{value}' must start with '/'")
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
