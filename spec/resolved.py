"""The resolved model: an environment as the program deploys it - each pin with its catalogue
entry, its version and its layered settings. Built by `spec.environment.build_environment`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from spec.catalogue import CatalogueComponent, Version
from spec.schema import SOURCE_VERSION, Pin, StackConfig, WorkerGroupConfig
from spec.settings import ALERT_DEFAULTS, SETTING_KEYS, Alerts, Autoscale, RateLimit, Settings
from spec.worker_types import is_region

# Built-in settings: the lowest level of the hierarchy.
BUILT_IN = {
    "replicas": 2,
    "worker_group": None,
    "low_latency_mode": False,
    "autoscale": None,
    "rate_limit": None,
    "alerts": ALERT_DEFAULTS,
}
Level = Literal["built-in", "project", "environment", "component"]
LEVELS: tuple[Level, ...] = ("built-in", "project", "environment", "component")


# --------------------------------------------------------------------------- resolved model


@dataclass(frozen=True)
class ResolvedSetting:
    value: Any
    source: Level


def resolve_settings(project: Settings, environment: Settings, component: Settings) -> dict[str, ResolvedSetting]:
    """Layer the settings: built-in < project < environment < component; the most specific wins.
    `replicas` and `autoscale` are one choice: the one from the more specific level wins and the
    other resolves to None (from that level), so a component has a fixed count or a range.
    `alerts` layers threshold by threshold: its source is the most specific level that sets one."""
    return dict(_layered((_held(project), _held(environment), _held(component))))


_HELD: dict[int, tuple[Settings, tuple[tuple[str, Any], ...]]] = {}


def _held(level: Settings) -> tuple[tuple[str, Any], ...]:
    """The keys a level sets, with the values as it holds them (frozen models: hashable, for the cache).
    Once per level object: the project's and the environment's are shared by every component."""
    known = _HELD.get(id(level))
    if known is not None and known[0] is level:
        return known[1]
    if len(_HELD) > 4096:
        _HELD.clear()
    held = tuple((key, value) for key in SETTING_KEYS if (value := getattr(level, key)) is not None)
    _HELD[id(level)] = (level, held)
    return held


@functools.lru_cache(maxsize=256)
def _layered(levels: tuple[tuple[tuple[str, Any], ...], ...]) -> tuple[tuple[str, ResolvedSetting], ...]:
    # Components mostly share their levels: one resolution per distinct combination.
    resolved = {key: ResolvedSetting(value, "built-in") for key, value in BUILT_IN.items()}
    for source, level in zip(("project", "environment", "component"), levels, strict=True):
        for key, value in level:
            if key == "alerts":
                value = resolved[key].value.merged(value)
            resolved[key] = ResolvedSetting(value, source)  # type: ignore[arg-type]
    replicas, autoscale = resolved["replicas"], resolved["autoscale"]
    if autoscale.value is not None:
        # A level never sets both (the schema refuses it), so one of them is strictly more specific.
        if LEVELS.index(autoscale.source) > LEVELS.index(replicas.source):
            resolved["replicas"] = ResolvedSetting(None, autoscale.source)
        else:
            resolved["autoscale"] = ResolvedSetting(None, replicas.source)
    return tuple(resolved.items())


@dataclass(frozen=True)
class ResolvedComponent:
    pin: Pin
    catalogue: CatalogueComponent
    version: Version
    settings: dict[str, ResolvedSetting]
    # The canary track's version (pin `canary:`), beside the stable one; its weight and stickiness
    # are on the pin.
    canary: Version | None = None

    @property
    def name(self) -> str:
        return self.pin.name

    @property
    def type(self) -> str:
        return self.catalogue.type

    @property
    def k8s_name(self) -> str:
        """The component's Kubernetes name (and in-namespace DNS name): '_' becomes '-'."""
        return k8s_name(self.pin.name)

    @property
    def replicas(self) -> int | None:
        """The fixed replica count; None when the component autoscales."""
        return self.settings["replicas"].value

    @property
    def autoscale(self) -> Autoscale | None:
        return self.settings["autoscale"].value

    @property
    def min_pods(self) -> int:
        """The fewest pods the component runs: its replicas, or its autoscaling minimum."""
        return self.autoscale.min if self.autoscale is not None else self.settings["replicas"].value

    @property
    def rate_limit(self) -> RateLimit | None:
        return self.settings["rate_limit"].value

    @property
    def alerts(self) -> Alerts:
        """Every threshold, each from the most specific level that sets it."""
        return self.settings["alerts"].value

    @property
    def worker_group(self) -> str | None:
        return self.settings["worker_group"].value

    @property
    def low_latency_mode(self) -> bool:
        return self.settings["low_latency_mode"].value

    @property
    def image(self) -> str:
        """The image by digest. A source-built image's digest exists only after the build: offline
        renders show SOURCE_DIGEST in its place; the program deploys the build's own digest."""
        return f"{self.catalogue.image}@{SOURCE_DIGEST if self.built else self.version.digest}"

    @property
    def built(self) -> bool:
        """Deployed from an image built from the component's source tree (`version: source`)."""
        return self.pin.version == SOURCE_VERSION

    @property
    def version_key(self) -> str:
        """The version as objects name and label it: the id, or `source-<id>` for a source build
        (which carries the app config of version <id>, the component's default)."""
        return f"{SOURCE_VERSION}-{self.version.id}" if self.built else str(self.version.id)


# What offline renders show for the digest of an image the program builds at deploy time.
SOURCE_DIGEST = "sha256:built-from-source"


def k8s_name(component: str) -> str:
    return component.replace("_", "-")


@dataclass(frozen=True)
class Environment:
    """A validated environment: everything the program needs, nothing left to check."""

    project: str
    name: str
    config: StackConfig
    project_settings: Settings
    components: list[ResolvedComponent]
    gcp_project: str | None = None
    # The stack's environment config holds a `secure:` value: all of it is deployed as a Secret.
    environment_config_secret: bool = False

    @property
    def namespace(self) -> str:
        return f"{self.project}-{self.name}"

    @property
    def promotes_to(self) -> str | None:
        return self.config.environment.promotes_to

    @property
    def ends_chain(self) -> bool:
        """The stack at the end of the promotion chain (production): no promotes_to."""
        return self.promotes_to is None

    @property
    def regional(self) -> bool:
        """The cluster spreads nodes over a region's zones (a platform cluster always does)."""
        cluster = self.config.cluster
        return cluster is None or (cluster.is_gke and is_region(cluster.location or ""))

    @property
    def worker_groups(self) -> dict[str, WorkerGroupConfig]:
        return self.config.worker_groups

    @property
    def notification_channel(self) -> str | None:
        """The channel alerts go to (`notification_channel` in the environment config), if named."""
        channel = self.config.environment_config.get("notification_channel")
        return channel if isinstance(channel, str) and channel.strip() else None

    @cached_property
    def by_name(self) -> dict[str, ResolvedComponent]:
        return {c.name: c for c in self.components}

    def url(self, component: ResolvedComponent) -> str:
        return f"https://{self.config.routing.host}{route_prefix(self.project, self.name, component)}/"


def route_prefix(project: str, environment: str, component: ResolvedComponent) -> str:
    """The DESIGN.md URL path of a component, without the trailing slash."""
    kind = "apps" if component.type == "app" else "models"
    return f"/api/v1/projects/{project}/environments/{environment}/{kind}/{component.name}"


def effective_resources(component: ResolvedComponent) -> dict[str, dict[str, str]]:
    """Requests and limits as deployed. Memory is always limited (a leak must not starve its
    neighbours); under low-latency mode requests equal limits, so the pod gets Guaranteed QoS."""
    res = component.catalogue.resources
    requests = {"cpu": str(res.requests.cpu), "memory": str(res.requests.memory)}
    limits = {"memory": str(res.limits.memory or res.requests.memory)}
    if res.limits.cpu is not None:
        limits["cpu"] = str(res.limits.cpu)
    if component.low_latency_mode:
        limits.setdefault("cpu", requests["cpu"])
        requests = dict(limits)
    return {"requests": requests, "limits": limits}
