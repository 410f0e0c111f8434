"""Small statistics helpers: nearest-rank percentiles and the usual summary of a sample."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from reactive_users.core.delivery import percentile  # the one nearest-rank percentile


def summary(values: Iterable[float]) -> dict[str, Any]:
    """n, p50, p90, p99, max and mean of a sample (None for an empty one)."""
    data = list(values)
    if not data:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(data),
        "p50": percentile(data, 0.50),
        "p90": percentile(data, 0.90),
        "p99": percentile(data, 0.99),
        "max": max(data),
        "mean": statistics.fmean(data),
    }


def slope_per_s(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (time, value) points, in value units per second."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def median_of(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None (None if there are none)."""
    data = [v for v in values if v is not None]
    return statistics.median(data) if data else None
