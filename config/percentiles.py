"""Latency percentiles for the benchmarks and the device simulator: one definition, so their figures compare."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `fraction` of all values at or below it.

    Always one of the values (never interpolated); 0.0 when there are none.
    """
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = math.ceil(fraction * len(ordered))  # 1-based
    return ordered[min(len(ordered), max(1, rank)) - 1]
