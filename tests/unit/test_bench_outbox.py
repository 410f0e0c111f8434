"""bench/outbox.py's pure helpers: pairing the setups, the best of several runs, the table."""

from __future__ import annotations

from bench.outbox import Comparison, OpFigures, best, compare, table


def _op(operation: str, cpu: float, *, wall: float = 1.0, sql: float = 2.0) -> OpFigures:
    return OpFigures(
        operation=operation,
        saves=10,
        cpu_ms_per_save=cpu,
        cpu_ms_median=cpu,
        wall_ms_per_save=wall,
        sql_per_save=sql,
        savepoints_per_save=0.0,
    )


def test_compare_divides_cpu_with_the_app_by_cpu_without() -> None:
    plain = [_op("create", 0.5), _op("update", 1.0)]
    master = [_op("update", 1.5, sql=6.0), _op("create", 1.25)]
    rows = compare(plain, master)
    assert [(r.operation, r.ratio) for r in rows] == [("create", 2.5), ("update", 1.5)]
    assert rows[1].sql_plain == 2.0
    assert rows[1].sql_master == 6.0


def test_compare_without_any_plain_cpu_is_an_infinite_ratio() -> None:
    assert compare([_op("create", 0.0)], [_op("create", 1.0)])[0].ratio == float("inf")


def test_best_takes_each_time_at_its_least() -> None:
    runs = [[_op("create", 0.9, wall=1.0)], [_op("create", 0.7, wall=1.4)]]
    (merged,) = best(runs)
    assert merged.cpu_ms_per_save == 0.7
    assert merged.wall_ms_per_save == 1.0
    assert merged.sql_per_save == 2.0


def _row(operation: str, ratio: float) -> Comparison:
    return Comparison(
        operation=operation,
        cpu_ms_plain=0.4,
        cpu_ms_master=0.4 * ratio,
        ratio=ratio,
        wall_ms_plain=1.0,
        wall_ms_master=2.0,
        sql_plain=1.0,
        sql_master=5.0,
        savepoints_master=2.0,
    )


def test_table_has_a_line_per_operation_and_a_verdict_against_the_target() -> None:
    lines = table([_row("create", 2.0), _row("update", 2.01)], target=2.0).splitlines()
    assert len(lines) == 3
    assert lines[0].split()[0] == "operation"
    assert lines[1].startswith("create") and "ok (<=2x)" in lines[1]
    assert lines[2].startswith("update") and "MISS (<=2x)" in lines[2]
    # Every line as wide as the header: the columns line up.
    assert len({len(line) for line in lines}) == 1
