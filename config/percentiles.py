"""Latency percentiles and answer tallies for the benchmarks and the device simulator: one definition, so their
figures compare."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `fraction` of all values at or below it.

    Always one of the values (never interpolated); 0.0 when there are none.
    """
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = math.ceil(fraction * len(ordered))  # 1-based
    return ordered[min(len(ordered), max(1, rank)) - 1]


def percentiles(values: Iterable[float], fractions: Iterable[float], *, digits: int) -> tuple[float, ...]:
    """Several percentiles of the same values, rounded alike: the figures a report prints side by side."""
    ordered = sorted(values)
    return tuple(round(percentile(ordered, fraction), digits) for fraction in fractions)


def not_2xx(statuses: Mapping[str, int]) -> dict[str, int]:
    """The part of a tally of answers (by HTTP status, or a transport error's name) that was not a success."""
    return {status: count for status, count in statuses.items() if not status.startswith("2")}
