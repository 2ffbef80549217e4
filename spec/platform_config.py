"""The platform stack's configuration (`platform/Pulumi.<stack>.yaml`): the `platform:` keys plus
`gcp:project` (and `gcp:region` as the region's fallback), validated once into a
`PlatformConfig`.

Defaults are what one shared cluster per GCP project needs; what cannot be defaulted safely (the
networks allowed to reach the control plane) must be stated. Every error is one line naming the
file, the key and the fix. No Pulumi import: the platform program hands over the values its
`pulumi.Config` reads, a test or a tool can hand over a stack file's.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from spec.errors import ConfigError, Problem
from spec.problems import problems
from spec.worker_types import REGION

NAMESPACE = "platform"
# Keys whose value is structured data (the CLI hands it over as JSON text).
STRUCTURED_KEYS = ("master_authorized_networks", "labels", "gateway")

PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
# GKE cluster names: at most 40 characters, lowercase letters, digits and '-'.
CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
REPOSITORY_ID = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
SERVICE_ACCOUNT_ID = re.compile(r"^[a-z]([-a-z0-9]{4,28}[a-z0-9])$")
BUCKET_NAME = re.compile(r"^[a-z0-9][-_.a-z0-9]{1,61}[a-z0-9]$")
LABEL_KEY = re.compile(r"^[a-z][-_a-z0-9]{0,62}$")
LABEL_VALUE = re.compile(r"^[-_a-z0-9]{0,63}$")
# A DNS domain the platform's shared Gateway serves: its environments' hosts are one level under it.
DOMAIN = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$")


def _pattern(regex: re.Pattern[str], what: str, example: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"'{value}' is not {what} (example: {example})")
        return value

    return AfterValidator(check)


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=True))
    except ValueError:
        raise ValueError(
            f"'{value}' is not an IPv4 range in CIDR form with its host bits zero (example: 10.10.0.0/20)"
        ) from None


Cidr = Annotated[str, AfterValidator(_cidr)]
# In the order they are declared (and checked against each other).
CIDR_KEYS = ("subnet_cidr", "pods_cidr", "services_cidr", "master_cidr")
Days = Annotated[int, Field(ge=1, le=3650)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthorizedNetwork(Strict):
    """A network allowed to reach the cluster's control plane (kubectl, CI runners, a bastion)."""

    cidr: Cidr
    name: Annotated[str, Field(min_length=1, max_length=60)]

    @model_validator(mode="after")
    def _not_everyone(self) -> AuthorizedNetwork:
        if ipaddress.IPv4Network(self.cidr).prefixlen == 0:
            raise ValueError(
                f"{self.cidr} opens the control plane to the whole internet: name the networks that need it"
            )
        return self


class GatewayConfig(Strict):
    """`platform:gateway`: one external Gateway (GKE's managed class) that every environment's routes
    can attach to, serving `<anything>.<domain>` with one Google-managed wildcard certificate."""

    domain: Annotated[str, _pattern(DOMAIN, "a DNS domain", "ml.acme.example")]


class PlatformConfig(Strict):
    """What the platform stack creates, keyed as in its stack file (`platform:<key>`)."""

    project: Annotated[str, _pattern(PROJECT_ID, "a GCP project id", "acme-ml-platform")]
    region: Annotated[str, _pattern(REGION, "a GCP region", "europe-west2")]
    cluster_name: Annotated[str, _pattern(CLUSTER_NAME, "a GKE cluster name", "ml-platform")] = "ml-platform"
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    # The nodes' range, and the subnetwork's secondary ranges for pods and Services (VPC-native).
    subnet_cidr: Cidr = "10.10.0.0/20"
    pods_cidr: Cidr = "10.16.0.0/14"
    services_cidr: Cidr = "10.20.0.0/20"
    # The control plane's private range (a /28 GKE peers into the network).
    master_cidr: Cidr = "172.16.0.16/28"
    # Required, even if empty: an empty list means only clients inside the network reach the
    # control plane, which must be a decision, not an accident.
    master_authorized_networks: list[AuthorizedNetwork]
    registry_id: Annotated[str, _pattern(REPOSITORY_ID, "an Artifact Registry repository id", "ml-images")] = (
        "ml-images"
    )
    bucket_name: Annotated[str, _pattern(BUCKET_NAME, "a GCS bucket name", "acme-ml-artifacts")] | None = None
    node_service_account_id: (
        Annotated[str, _pattern(SERVICE_ACCOUNT_ID, "a service account id (6-30 characters)", "ml-platform-nodes")]
        | None
    ) = Field(default=None, validate_default=True)
    untagged_image_retention_days: Days = 14
    noncurrent_version_retention_days: Days = 30
    labels: dict[str, str] = Field(default_factory=dict)
    gateway: GatewayConfig | None = None

    @field_validator("pods_cidr", "services_cidr", "master_cidr")
    @classmethod
    def _disjoint(cls, value: str, info: ValidationInfo) -> str:
        # Fields validate in declaration order: each range is checked against those before it.
        network = ipaddress.IPv4Network(value)
        if info.field_name == "master_cidr" and network.prefixlen != 28:
            raise ValueError(f"{value} must be a /28: GKE gives its control plane exactly that")
        for other in CIDR_KEYS[: CIDR_KEYS.index(str(info.field_name))]:
            earlier = info.data.get(other)
            if earlier is not None and network.overlaps(ipaddress.IPv4Network(earlier)):
                raise ValueError(f"{value} overlaps {other} {earlier}: give each range its own addresses")
        return value

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("goog"):
            raise ValueError(f"'{value}': GCS refuses bucket names starting with 'goog'")
        return value

    @field_validator("node_service_account_id")
    @classmethod
    def _account_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        cluster = info.data.get("cluster_name")
        if value is None and cluster is not None and not SERVICE_ACCOUNT_ID.match(f"{cluster}-nodes"):
            raise ValueError(
                f"the default id '{cluster}-nodes' is over 30 characters: set a shorter one (ml-platform-nodes)"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not LABEL_KEY.match(key) or not LABEL_VALUE.match(value):
                raise ValueError(
                    f"{key}: {value!r} is not a GCP label: lowercase letters, digits, '-' and '_', "
                    "the key starting with a letter, at most 63 characters each"
                )
        return labels

    @property
    def artifact_bucket(self) -> str:
        return self.bucket_name or f"{self.project}-ml-artifacts"

    @property
    def node_account_id(self) -> str:
        return self.node_service_account_id or f"{self.cluster_name}-nodes"

    @property
    def workload_pool(self) -> str:
        """Workload Identity's pool: Kubernetes service accounts act as Google service accounts through it."""
        return f"{self.project}.svc.id.goog"

    @property
    def registry_host(self) -> str:
        return f"{self.region}-docker.pkg.dev"

    @property
    def resource_labels(self) -> dict[str, str]:
        """The labels on every labelled resource: the configured ones, and which platform owns it."""
        return {**self.labels, "managed-by": "pulumi", "mlops-platform": self.cluster_name}


# The platform: keys the program reads (project comes from gcp:project).
PLATFORM_KEYS = tuple(k for k in PlatformConfig.model_fields if k != "project")


def config_key(loc: tuple[Any, ...], data: Any) -> str:
    """A validation error's location as users write the key (`platform:master_authorized_networks[office].cidr`)."""
    if not loc:
        return "config"
    head = "gcp:project" if loc[0] == "project" else f"{NAMESPACE}:{loc[0]}"
    rest = list(loc[1:])
    if loc[0] == "master_authorized_networks" and rest and isinstance(rest[0], int):
        entries = data.get("master_authorized_networks") if isinstance(data, Mapping) else None
        index = rest.pop(0)
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        name = entry.get("name") if isinstance(entry, Mapping) else None
        head += f"[{name}]" if isinstance(name, str) and name else f"[{index}]"
    return head + "".join(f"[{item}]" if isinstance(item, int) else f".{item}" for item in rest)


def platform_config(values: Mapping[str, Any], file: str) -> PlatformConfig:
    """Validate the platform stack's config. `values` maps config keys (`platform:<key>`,
    `gcp:project`, `gcp:region`; other namespaces are ignored) to what the Pulumi CLI hands the
    program (text, structured values as JSON) or to a stack file's parsed values. Raises
    ConfigError, one line per problem."""
    data: dict[str, Any] = {}
    found: list[Problem] = []
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE or value is None:
            continue
        if name == "project":
            found.append(Problem(file, key, "unknown key: the project is gcp:project"))
            continue
        if name in STRUCTURED_KEYS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                found.append(Problem(file, key, "is not structured data: write it as a YAML list or mapping"))
                continue
        data[name] = value
    if values.get("gcp:project") is not None:
        data["project"] = values["gcp:project"]
    else:
        found.append(
            Problem(file, "gcp:project", "required key is missing: pulumi config set gcp:project <project id>")
        )
    if data.get("region") is None and values.get("gcp:region") is not None:
        data["region"] = values["gcp:region"]
    elif data.get("region") is None:
        found.append(Problem(file, f"{NAMESPACE}:region", "required key is missing: pulumi config set region <region>"))
    if values.get(f"{NAMESPACE}:master_authorized_networks") is None:
        found.append(
            Problem(
                file,
                f"{NAMESPACE}:master_authorized_networks",
                "required key is missing: list the networks that may reach the control plane as {cidr, name} "
                "(an empty list: none outside the VPC)",
            )
        )
    if found:
        raise ConfigError(found)
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems(exc, PlatformConfig, file, config_key, data)) from None
