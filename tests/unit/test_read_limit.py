"""How many users a backfill reads next (``snapshots.text.read_limit``): a read batch is
sent whole, and packed a few messages carry all of it, so ``--stop-after`` is kept by
reading no more than is left."""

from __future__ import annotations

import pytest

from reactive_users.master.snapshots.text import read_limit


def test_without_stop_after_reads_whole_batches() -> None:
    assert read_limit(500, None, 0) == 500
    assert read_limit(500, None, 10_000) == 500


@pytest.mark.parametrize(
    ("batch", "stop_after", "sent", "expected"),
    [
        (500, 1, 0, 1),  # one user, though one packed message could hold the batch
        (500, 1200, 0, 500),
        (500, 1200, 1000, 200),  # the last read cut to what is left
        (15, 18, 15, 3),
        (500, 1200, 1200, 0),  # reached: read nothing more, stop
        (500, 1200, 1300, 0),  # never negative
    ],
)
def test_with_stop_after_reads_no_more_than_is_left(
    batch: int, stop_after: int, sent: int, expected: int
) -> None:
    assert read_limit(batch, stop_after, sent) == expected
