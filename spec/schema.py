"""Typed configuration: the stack file (`mlops:*` keys), the project file and the catalogue.

Every model forbids unknown keys, so a misspelt key is an error naming the key, never a value
silently ignored. Rules that involve one file only live here (in validators); rules that need the
catalogue or the project as well live in `spec.environment`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from spec.errors import did_you_mean, one_of
from spec.settings import Settings, Strict
from spec.worker_types import WORKER_TYPES

# Kubernetes object names we derive from user names must be DNS labels.
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
COMPONENT_NAME = re.compile(r"^[a-z]([_a-z0-9-]*[a-z0-9])?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,62}$")
CIDR = re.compile(r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$")
HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$")
# A repository reference without tag or digest: registry/path/name.
IMAGE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)*$")

SERVICE_ACCOUNT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\.iam\.gserviceaccount\.com$")

ComponentType = Literal["app", "model"]


# --------------------------------------------------------------------------- stack file


class EnvironmentMeta(Strict):
    promotes_to: str | None = None
    # The stack that promotes into this one (UAT: integration). The program reads it through a
    # StackReference to check every promoted pin; `mlops validate` keeps it consistent with the
    # upstream's promotes_to.
    upstream: str | None = None


# A Pulumi stack's full name: <organization>/<project>/<stack>.
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# The pin version that the program builds from the component's source tree.
SOURCE_VERSION = "source"


class PromotionConfig(Strict):
    """`mlops:promotion`: the recorded hotfix escape from the stack-reference guard."""

    unverified: list[str] = Field(default_factory=list)


class ClusterConfig(Strict):
    """An existing GKE cluster (name + location) or any cluster by kubeconfig context."""

    name: str | None = None
    location: str | None = None
    project: str | None = Field(default=None, description="GCP project; defaults to gcp:project")
    kubeconfig_context: str | None = None
    # The service account the worker groups' nodes run as (never the Compute Engine default).
    node_service_account: str | None = None
    # The bucket components read model artifacts from (catalogue `artifacts`), each its own folder.
    artifact_bucket: str | None = None

    @field_validator("node_service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None and not SERVICE_ACCOUNT.match(value):
            raise ValueError(
                f"'{value}' is not a service account email: <6 to 30 lowercase letters, digits or '-'>@<project>"
                ".iam.gserviceaccount.com (ml-nodes@acme.iam.gserviceaccount.com)"
            )
        return value

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


class RoutingConfig(Strict):
    """How requests reach the components (`mlops:routing`): by default a Gateway on GKE's own
    Gateway controller, HTTPS with a Google-managed certificate and HTTP redirected; or, with
    `kind: ingress`, an Ingress for a cluster whose controller is another (nginx-compatible)."""

    kind: Literal["gateway", "ingress"] = "gateway"
    host: str
    # gateway: a regional internal load balancer (gke-l7-rilb) instead of the global external one.
    internal: bool = False
    # gateway: another GatewayClass (clusters that are not GKE); ingress: the IngressClass.
    class_name: str | None = None
    # Where the controller's proxies run, the only outside namespace let in (ingress; a gateway
    # that is not GKE's).
    controller_namespace: str | None = None
    # The certificate as a kubernetes.io/tls Secret (cert-manager keeps such a Secret renewed):
    # needed wherever Google's Certificate Manager is not used.
    tls_secret: str | None = None
    # internal gateway: the region's proxy-only subnet, where the load balancer connects from.
    proxy_source_ranges: list[str] = Field(default_factory=list)
    # gateway: attach to this shared Gateway ("namespace/name") instead of making the environment's own.
    gateway: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOSTNAME.match(value):
            raise ValueError(f"'{value}' is not a DNS host name (example: ml.acme.example)")
        return value

    @field_validator("controller_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not DNS_LABEL.match(value):
            raise ValueError(f"'{value}' is not a Kubernetes namespace name")
        return value

    @field_validator("proxy_source_ranges")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for cidr in value:
            if not CIDR.match(cidr):
                raise ValueError(f"'{cidr}' is not an IPv4 CIDR block (10.129.0.0/23)")
        return value

    @model_validator(mode="after")
    def _complete(self) -> RoutingConfig:
        if self.kind == "ingress":
            missing = [k for k in ("class_name", "controller_namespace", "tls_secret") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"an Ingress needs {', '.join(missing)}: the IngressClass, its controller's namespace and "
                    "a TLS Secret (every environment serves HTTPS); or use kind: gateway on GKE"
                )
            if self.class_name == "gce":
                raise ValueError(
                    "GKE's own Ingress cannot strip the URL prefix: use kind: gateway (GKE's Gateway controller)"
                )
        if self.gateway is not None and self.kind != "gateway":
            raise ValueError("gateway (a shared Gateway to attach to) needs kind: gateway")
        if self.internal and not self.proxy_source_ranges:
            raise ValueError("an internal gateway needs proxy_source_ranges: the region's proxy-only subnet")
        return self


class WorkerGroupConfig(Strict):
    """A GKE node pool this stack owns, or (existing: true) one it only references."""

    worker_type: str | None = None
    size: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None
    min_size: Annotated[int, Field(ge=0, le=1000, strict=True)] | None = None
    max_size: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None
    disk_size_gb: Annotated[int, Field(ge=20, le=65536, strict=True)] = 100
    # The zones of a regional cluster the pool's nodes run in (GKE's node_locations); by default
    # the cluster's: three zones of its region. Sizes are totals across them.
    zones: list[Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")]] | None = None
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
        if self.zones is not None and (not self.zones or len(set(self.zones)) != len(self.zones)):
            raise ValueError("zones must list distinct zones of the cluster's region (europe-west2-a, ...)")
        if self.size is None:
            if self.min_size is None or self.max_size is None:
                raise ValueError("give size (fixed) or both min_size and max_size (autoscaling)")
            if self.min_size > self.max_size:
                raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        return self

    @property
    def autoscaling(self) -> bool:
        return self.size is None and not self.existing


class CanaryConfig(Strict):
    """A second version of a pinned component taking `weight` percent of its traffic, beside the
    stable one, until `mlops canary promote` or `abort`. `sticky`: a client stays on the track it
    first got (a load balancer cookie)."""

    version: Annotated[int, Field(strict=True, ge=1)] | str
    weight: Annotated[int, Field(ge=1, le=99, strict=True)]
    sticky: bool = True


class Pin(Strict):
    """(component, version) deployed in this environment, with optional component-level settings."""

    name: str
    type: ComponentType
    version: Annotated[int, Field(strict=True, ge=1)] | str
    settings: Settings = Settings()
    canary: CanaryConfig | None = None


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
    # The platform stack (cluster, registry, bucket, node service account), or a cluster that is
    # managed elsewhere: one of the two.
    platform: str | None = None
    cluster: ClusterConfig | None = None
    routing: RoutingConfig
    pulumi_org: str | None = None
    promotion: PromotionConfig = PromotionConfig()
    worker_groups: dict[str, WorkerGroupConfig] = Field(default_factory=dict)
    settings: Settings = Settings()
    environment_config: dict[str, Any] = Field(default_factory=dict)
    components: list[Pin] = Field(default_factory=list)
    api_key: str | None = None
    promoted_from: PromotedFrom | None = None
    challenger: ChallengerMeta | None = None

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str | None) -> str | None:
        if value is not None and not STACK_NAME.match(value):
            raise ValueError(
                f"'{value}' is not a stack name: write <organization>/<project>/<stack> (acme/platform/shared)"
            )
        return value

    @model_validator(mode="after")
    def _where(self) -> StackConfig:
        if self.platform is None and self.cluster is None:
            raise ValueError(
                "name where to deploy: mlops:platform (<org>/<project>/<stack> of the platform stack) "
                "or mlops:cluster (a cluster managed elsewhere)"
            )
        if self.platform is not None and self.cluster is not None:
            raise ValueError("give mlops:platform or mlops:cluster, not both: the platform stack names its cluster")
        return self

    @property
    def is_gke(self) -> bool:
        """Node pools are managed (a GKE cluster: the platform's, or one named by name and location)."""
        return self.cluster is None or self.cluster.is_gke

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
