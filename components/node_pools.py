"""Pure builder of a worker group's GKE node pool (no Pulumi import): the arguments `WorkerGroup`
passes to `gcp.container.NodePool`, as the Pulumi Python SDK takes them (snake_case names,
nested dicts). `mlops plan` renders the same arguments without running the program."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.labels import WORKER_GROUP_LABEL
from spec.worker_types import WORKER_TYPES, pool_zones

NODE_POOL_TYPE = "gcp:container/nodePool:NodePool"


@dataclass(frozen=True)
class WorkerGroupArgs:
    # Plain strings for a cluster named in the stack file; the platform stack's outputs otherwise.
    cluster: Any
    location: Any
    gcp_project: Any
    worker_type: str
    size: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    disk_size_gb: int = 100
    labels: dict[str, str] | None = None
    service_account: Any = None  # the nodes' own service account (None: GKE's default)
    # Zones the nodes run in (node_locations); None: the cluster's own.
    zones: list[str] | None = None
    # The cluster is regional (nodes in every zone of it): a platform cluster always is; a named
    # cluster is when its location is a region.
    regional: bool = True


def zone_count(args: WorkerGroupArgs) -> int:
    return pool_zones(args.regional, args.zones)


def sizing(name: str, args: WorkerGroupArgs) -> tuple[dict[str, Any], list[str]]:
    """The pool's size arguments, so that size, min_size and max_size are nodes in the whole pool:
    GKE reads node_count and initial_node_count per zone, but total_min/total_max_node_count as
    totals. A fixed size must divide across the zones."""
    zones = zone_count(args)
    if args.size is not None:
        if args.size % zones:
            lower, upper = args.size - args.size % zones, args.size + zones - args.size % zones
            raise ValueError(
                f"worker group '{name}': size {args.size} does not divide across the pool's {zones} zones "
                f"(GKE runs the same number of nodes in each): use {lower or zones} or {upper}, list zones:, "
                "or give min_size and max_size"
            )
        return {"node_count": args.size // zones}, []
    assert args.min_size is not None and args.max_size is not None
    found: dict[str, Any] = {
        "initial_node_count": -(-args.min_size // zones),  # per zone, rounded up
        "autoscaling": {
            "total_min_node_count": args.min_size,
            "total_max_node_count": args.max_size,
            # Keep the zones even while scaling (what total counts are designed for).
            "location_policy": "BALANCED",
        },
    }
    # The autoscaler owns the current size; initial_node_count is create-only and would
    # otherwise force a replacement of the pool on every drift.
    return found, ["initialNodeCount", "nodeCount"]


def node_pool(name: str, args: WorkerGroupArgs) -> tuple[dict[str, Any], list[str]]:
    """(the NodePool's arguments, the properties Pulumi must ignore changes of)."""
    if args.worker_type not in WORKER_TYPES:
        raise ValueError(f"worker group '{name}': unknown worker type '{args.worker_type}'")
    if (args.size is None) == (args.min_size is None or args.max_size is None):
        raise ValueError(f"worker group '{name}': give size, or min_size and max_size")
    labels = {**(args.labels or {}), WORKER_GROUP_LABEL: name}
    size_args, ignore = sizing(name, args)
    # No explicit pool name: Pulumi appends a suffix, so a change that needs a new pool (a new
    # machine type) creates the new pool before the old one is drained and deleted.
    inputs = {
        "cluster": args.cluster,
        "location": args.location,
        "project": args.gcp_project,
        **size_args,
        **({"node_locations": list(args.zones)} if args.zones else {}),
        "management": {"auto_repair": True, "auto_upgrade": True},
        # Surge upgrades: one new node joins before any old node is drained, never fewer nodes
        # than the pool's size.
        "upgrade_settings": {"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
        "node_config": {
            "machine_type": WORKER_TYPES[args.worker_type].machine_type,
            "disk_size_gb": args.disk_size_gb,
            "disk_type": "pd-balanced",
            "image_type": "COS_CONTAINERD",
            "labels": labels,
            "taints": [{"key": WORKER_GROUP_LABEL, "value": name, "effect": "NO_SCHEDULE"}],
            # Pods reach Google APIs through Workload Identity, never the node's credentials.
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "metadata": {"disable-legacy-endpoints": "true"},
            # Access is what the service account's roles grant; the scope no longer narrows it.
            "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            **({"service_account": args.service_account} if args.service_account is not None else {}),
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        },
    }
    return inputs, ignore
