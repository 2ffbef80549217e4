"""The layered settings: one level of `replicas`, `worker_group`, `low_latency_mode`, `autoscale`,
`rate_limit` and `alerts`, as the project (`Pulumi.yaml`), an environment (`mlops:settings`) or a
pin (`settings:`) sets them. `spec.resolved` layers them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SETTING_KEYS = ("replicas", "worker_group", "low_latency_mode", "autoscale", "rate_limit", "alerts")


class Autoscale(Strict):
    """`autoscale`: a HorizontalPodAutoscaler keeps between `min` and `max` pods, adding pods while
    their average CPU use is above `cpu_target_percent` of what they request."""

    min: Annotated[int, Field(ge=1, le=500, strict=True)]
    max: Annotated[int, Field(ge=1, le=500, strict=True)]
    cpu_target_percent: Annotated[int, Field(ge=1, le=100, strict=True)]

    @model_validator(mode="after")
    def _range(self) -> Autoscale:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}: make min <= max")
        return self

    def __str__(self) -> str:
        # As it is written in a file (and given to `mlops settings set`).
        return f"{{min: {self.min}, max: {self.max}, cpu_target_percent: {self.cpu_target_percent}}}"


class RateLimit(Strict):
    """`rate_limit`: at most `requests_per_minute` requests a minute from one client IP address; the
    load balancer (Cloud Armor) answers the rest with 429."""

    requests_per_minute: Annotated[int, Field(ge=1, le=100000, strict=True)]

    def __str__(self) -> str:
        return f"{{requests_per_minute: {self.requests_per_minute}}}"


class Alerts(Strict):
    """`alerts`: thresholds of the environment's alert rules for a component (Managed Prometheus
    `Rules`). Each threshold layers on its own: a level that sets one keeps the others from the
    levels above. Defaults: the seed's more than 15 requests a minute from one caller (for 2
    minutes), 5% of requests failing, a canary failing 2 points more often than stable, 3 restarts
    in 15 minutes."""

    client_requests_per_minute: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] | None = None
    error_ratio: Annotated[float, Field(gt=0, le=1)] | None = None
    canary_error_margin: Annotated[float, Field(ge=0, le=1)] | None = None
    restarts: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None

    def merged(self, over: Alerts) -> Alerts:
        """These thresholds with the ones `over` sets replacing them."""
        return self.model_copy(update=over.model_dump(exclude_none=True))

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.model_dump(exclude_none=True).items()) + "}"


ALERT_DEFAULTS = Alerts(client_requests_per_minute=15, error_ratio=0.05, canary_error_margin=0.02, restarts=3)


class Settings(Strict):
    """One level of the settings hierarchy; a key left out inherits from the level above."""

    replicas: Annotated[int, Field(ge=1, le=500, strict=True)] | None = None
    worker_group: str | None = None
    low_latency_mode: Annotated[bool, Field(strict=True)] | None = None
    # A fixed replica count or an autoscaled range: one or the other at each level.
    autoscale: Autoscale | None = None
    rate_limit: RateLimit | None = None
    alerts: Alerts | None = None

    @model_validator(mode="after")
    def _one_scale(self) -> Settings:
        if self.replicas is not None and self.autoscale is not None:
            raise ValueError(
                "replicas and autoscale are both set here: a component runs a fixed count or an autoscaled "
                "range, remove one of the two"
            )
        return self

    def explicit(self) -> dict[str, Any]:
        """The keys this level sets (the others inherit), as plain data (what a file holds)."""
        found = {}
        for key in SETTING_KEYS:
            value = getattr(self, key)
            if value is not None:
                found[key] = value.model_dump() if isinstance(value, BaseModel) else value
        return found
