"""Kubernetes resource quantities ("500m", "2", "1.5Gi", "512M") parsed for comparisons."""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
}
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]+)?)(?P<suffix>m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


@functools.lru_cache(maxsize=1024)
def parse_quantity(text: str | int | float) -> Decimal:
    """The quantity in base units (cores for cpu, bytes for memory). Raises ValueError."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"'{text}' is not a Kubernetes quantity (examples: 500m, 2, 512Mi, 4Gi)")
    try:
        return Decimal(match["num"]) * _SUFFIXES[match["suffix"] or ""]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"'{text}' is not a Kubernetes quantity") from exc
