"""Worker types users know (from the hosted platform) and the GCE machine types behind them.

GKE keeps part of every node for the kubelet, the OS and eviction headroom, so a component's
requests are checked against the node's *allocatable* capacity, computed with GKE's documented
reservation tiers, never against the figure in the worker type's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

GIB = 1024**3


@dataclass(frozen=True)
class WorkerType:
    name: str
    machine_type: str
    vcpus: int
    memory_gib: int

    @cached_property
    def allocatable_cpu_millis(self) -> int:
        return self.vcpus * 1000 - _reserved_cpu_millis(self.vcpus)

    @cached_property
    def allocatable_memory_bytes(self) -> int:
        total = self.memory_gib * GIB
        return total - _reserved_memory_bytes(total) - EVICTION_THRESHOLD_BYTES


# kubelet hard eviction threshold GKE applies on every node.
EVICTION_THRESHOLD_BYTES = 100 * 1024**2


def _reserved_cpu_millis(vcpus: int) -> int:
    # GKE: 6% of the first core, 1% of the next, 0.5% of the next two, 0.25% of any above four.
    tiers = [(1, 0.06), (1, 0.01), (2, 0.005)]
    reserved, left = 0.0, vcpus
    for cores, share in tiers:
        used = min(left, cores)
        reserved += used * 1000 * share
        left -= used
    reserved += max(left, 0) * 1000 * 0.0025
    return round(reserved)


def _reserved_memory_bytes(total: int) -> int:
    # GKE: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112,
    # 2% of anything above 128 GiB.
    tiers = [(4 * GIB, 0.25), (4 * GIB, 0.20), (8 * GIB, 0.10), (112 * GIB, 0.06)]
    reserved, left = 0.0, total
    for size, share in tiers:
        used = min(left, size)
        reserved += used * share
        left -= used
    reserved += max(left, 0) * 0.02
    return round(reserved)


WORKER_TYPES: dict[str, WorkerType] = {
    wt.name: wt
    for wt in (
        WorkerType("2-CPU-13GB-RAM", "n1-highmem-2", 2, 13),
        WorkerType("4-CPU-26GB-RAM", "n1-highmem-4", 4, 26),
        WorkerType("8-CPU-52GB-RAM", "n1-highmem-8", 8, 52),
        WorkerType("16-CPU-104GB-RAM", "n1-highmem-16", 16, 104),
        WorkerType("32-CPU-208GB-RAM", "n1-highmem-32", 32, 208),
        WorkerType("2-CPU-16GB-RAM-AMD", "n2d-highmem-2", 2, 16),
        WorkerType("4-CPU-32GB-RAM-AMD", "n2d-highmem-4", 4, 32),
        WorkerType("8-CPU-64GB-RAM-AMD", "n2d-highmem-8", 8, 64),
        WorkerType("16-CPU-128GB-RAM-AMD", "n2d-highmem-16", 16, 128),
        WorkerType("32-CPU-256GB-RAM-AMD", "n2d-highmem-32", 32, 256),
    )
}


# GKE places a regional cluster's nodes in three of its region's zones unless told otherwise.
DEFAULT_REGIONAL_ZONES = 3
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


def is_region(location: str) -> bool:
    """A GCP region (europe-west2), as opposed to a zone (europe-west2-a)."""
    return bool(REGION.match(location))


def pool_zones(regional: bool, zones: list[str] | None) -> int:
    """How many zones a node pool's nodes spread over: GKE's per-zone counts multiply by it."""
    if not regional:
        return 1
    return len(zones) if zones else DEFAULT_REGIONAL_ZONES
