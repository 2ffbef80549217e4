"""Worker types: DESIGN.md's names, their GCE machine types, and allocatable capacity after GKE's
reservations (requests are sized against allocatable, never against the label)."""

from __future__ import annotations

import pytest

from spec.quantities import parse_quantity
from spec.worker_types import GIB, WORKER_TYPES


def test_ten_worker_types_from_the_design_table() -> None:
    assert len(WORKER_TYPES) == 10
    for name, worker in WORKER_TYPES.items():
        cpus, memory = name.split("-")[0], name.split("-")[2]
        assert worker.vcpus == int(cpus)
        assert f"{worker.memory_gib}GB" == memory
        family = "n2d-highmem" if name.endswith("-AMD") else "n1-highmem"
        assert worker.machine_type == f"{family}-{cpus}"


@pytest.mark.parametrize(
    ("worker_type", "cpu_millis", "memory_gib"),
    [
        # GKE's published reservations: cpu 6% / 1% / 0.5% x2 / 0.25%; memory 25% of 4 GiB,
        # 20% of 4, 10% of 8, 6% of 112, 2% above; plus 100 MiB eviction threshold.
        ("2-CPU-13GB-RAM", 2000 - 70, 13 - (1 + 0.8 + 0.5) - 100 / 1024),
        ("4-CPU-26GB-RAM", 4000 - 80, 26 - (1 + 0.8 + 0.8 + 0.6) - 100 / 1024),
        ("8-CPU-64GB-RAM-AMD", 8000 - 90, 64 - (1 + 0.8 + 0.8 + 0.06 * 48) - 100 / 1024),
        ("32-CPU-256GB-RAM-AMD", 32000 - 150, 256 - (1 + 0.8 + 0.8 + 0.06 * 112 + 0.02 * 128) - 100 / 1024),
    ],
)
def test_allocatable(worker_type: str, cpu_millis: int, memory_gib: float) -> None:
    worker = WORKER_TYPES[worker_type]
    assert worker.allocatable_cpu_millis == cpu_millis
    assert worker.allocatable_memory_bytes / GIB == pytest.approx(memory_gib, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", "0.5"),
        ("2", "2"),
        ("1.5", "1.5"),
        ("512Mi", str(512 * 2**20)),
        ("1Gi", str(2**30)),
        ("1G", "1000000000"),
    ],
)
def test_quantities(text: str, value: str) -> None:
    assert parse_quantity(text) == parse_quantity(value)


@pytest.mark.parametrize("text", ["lots", "1GB", "-1", "", "1.2.3"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)
