"""bench.reference: the prototype's figures read from its baseline's JSON (pure)."""

from __future__ import annotations

import pytest

from bench import reference


def _phase(n: int, wall: float, calls: int, listeners: dict[str, float], celery: float) -> dict:
    return {
        "n": n,
        "wall_s": wall,
        "aws": {"sns:Publish": calls // 2, "sqs:DeleteMessage": calls - calls // 2},
        "cpu": {"celery": celery, **listeners},
    }


SEED = {
    "runs": [
        {
            "clients": 1,
            "peak_rss_mib": [80.0],
            "phases": [_phase(100, 4.0, 200, {"listener1": 0.3}, 0.6) for _ in range(3)],
        },
        {
            "clients": 3,
            "peak_rss_mib": [81.0, 84.0, 82.0],
            "phases": [
                _phase(100, 10.0, 400, {"listener1": 0.2, "listener2": 0.4, "listener3": 0.6}, 1.0)
                for _ in range(3)
            ],
        },
    ],
    "latency": [[1, {"p50": 19.5, "p99": 28.0}], [3, {"p50": 34.0, "p99": 89.0}]],
}


def test_the_prototypes_figures_per_client_count() -> None:
    table = reference.prototype_from_seed(SEED)
    one, three = table[1], table[3]
    assert one["events_per_s"] == pytest.approx(300 / 12.0)
    assert one["aws_calls_per_delivery"] == pytest.approx(2.0)
    assert one["listener_cpu_s_per_1000"] == pytest.approx(3.0)
    assert one["relay_cpu_s_per_1000"] == pytest.approx(6.0)
    assert one["latency_p50_ms"] == 19.5
    assert three["events_per_s"] == pytest.approx(10.0)
    assert three["deliveries_per_s"] == pytest.approx(30.0)
    assert three["aws_calls_per_event"] == pytest.approx(4.0)
    assert three["aws_calls_per_delivery"] == pytest.approx(4.0 / 3)
    assert three["listener_cpu_s_per_1000"] == pytest.approx(4.0)  # mean of 0.6, 1.2, 1.8 s
    assert three["listener_rss_mib"] == 84.0
    assert three["latency_p99_ms"] == 89.0


def test_use_prototype_replaces_what_the_tables_compare_with() -> None:
    saved = {n: dict(row) for n, row in reference.PROTOTYPE.items()}
    try:
        reference.use_prototype(reference.prototype_from_seed(SEED))
        assert reference.nearest(reference.PROTOTYPE, 1)["latency_p50_ms"] == 19.5
        assert reference.nearest(reference.PROTOTYPE, 2)["events_per_s"] == pytest.approx(25.0)
    finally:
        reference.use_prototype(saved)


def test_results_without_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="no run"):
        reference.prototype_from_seed({"runs": []})
