"""Checks of one stack's config that concern the cluster it deploys to: node pools (total sizes,
identity), routing outside GKE, and where artifact readers read from. Each appends one line per
problem (file, key, fix); `spec.environment.build_environment` runs them."""

from __future__ import annotations

from collections.abc import Iterable

from spec.catalogue import CatalogueComponent
from spec.errors import Problem
from spec.schema import StackConfig
from spec.worker_types import pool_zones


def check_node_pools(env_regional: bool, config: StackConfig, display: str, problems: list[Problem]) -> None:
    """Owned worker groups on GKE: sizes are totals (a fixed one must divide across the zones), and
    nodes never run as the Compute Engine default service account."""
    if not config.is_gke:
        return
    owned = {name: group for name, group in config.worker_groups.items() if not group.existing}
    for name, group in owned.items():
        zones = pool_zones(env_regional, group.zones)
        if group.size is not None and group.size % zones:
            lower, upper = group.size - group.size % zones, group.size + zones - group.size % zones
            sizes = " or ".join(str(n) for n in sorted({lower, upper} - {0}))
            problems.append(
                Problem(
                    display,
                    f"mlops:worker_groups.{name}.size",
                    f"{group.size} nodes do not divide across the pool's {zones} zones (GKE runs as many in each): "
                    f"use {sizes}, list the zones: to use, or give min_size and max_size",
                )
            )
    if owned and config.cluster is not None and config.cluster.node_service_account is None:
        problems.append(
            Problem(
                display,
                "mlops:cluster.node_service_account",
                "owned worker groups need a node service account (never the Compute Engine default): name one "
                "with roles/logging.logWriter, monitoring.metricWriter and artifactregistry.reader, or use "
                "mlops:platform, whose stack makes it",
            )
        )


def check_routing(config: StackConfig, display: str, problems: list[Problem]) -> None:
    """Off GKE, a Gateway is another controller's: its class, where its proxies run and a TLS Secret."""
    routing = config.routing
    if routing.kind != "gateway" or config.is_gke:
        return
    missing = [k for k in ("class_name", "controller_namespace", "tls_secret") if getattr(routing, k) is None]
    if missing:
        problems.append(
            Problem(
                display,
                f"mlops:routing.{missing[0]}",
                f"a Gateway outside GKE needs {', '.join(missing)}: the GatewayClass, the namespace of its proxies "
                "and a TLS Secret (every environment serves HTTPS)",
            )
        )


def check_artifacts(
    config: StackConfig, components: Iterable[CatalogueComponent], display: str, problems: list[Problem]
) -> None:
    """A component that reads artifacts needs the bucket: the platform's, or one named with the cluster."""
    if config.cluster is None:
        return
    readers = [c.name for c in components if c.artifacts is not None]
    if readers and (not config.cluster.is_gke or config.cluster.artifact_bucket is None):
        problems.append(
            Problem(
                display,
                "mlops:cluster.artifact_bucket",
                f"'{readers[0]}' reads model artifacts (catalogue artifacts.prefix): name the GKE cluster's "
                "artifact bucket here, or use mlops:platform, whose stack makes it",
            )
        )
