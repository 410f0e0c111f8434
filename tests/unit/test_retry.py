"""The outbox relay's backoff rule (reactive_users/master/relay/retry.py), on plain numbers: no
database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reactive_users.master.relay.retry import (
    BASE_SECONDS,
    CAP_SECONDS,
    JITTER_FRACTION,
    backoff_seconds,
    least_backoff_seconds,
    retry_at,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
#: Draws from the whole range a random number in [0, 1) can take.
DRAWS = (0.0, 0.25, 0.5, 0.999999)


def test_the_first_retry_waits_the_base_delay_and_each_failure_after_doubles_it() -> None:
    waits = [backoff_seconds(n, draw=0.0) for n in range(1, 7)]

    assert waits == [BASE_SECONDS * f for f in (1, 2, 4, 8, 16, 32)]


def test_the_wait_never_exceeds_the_cap_however_many_attempts_failed() -> None:
    assert backoff_seconds(9, draw=0.0) == 256 * BASE_SECONDS < CAP_SECONDS
    assert backoff_seconds(10, draw=0.0) == CAP_SECONDS
    assert backoff_seconds(1_000_000, draw=0.0) == CAP_SECONDS


def test_jitter_takes_at_most_its_share_off_the_wait() -> None:
    for attempts in (1, 5, 20):
        full = backoff_seconds(attempts, draw=0.0)
        for draw in DRAWS:
            wait = backoff_seconds(attempts, draw=draw)
            assert full * (1 - JITTER_FRACTION) <= wait <= full
            assert wait >= least_backoff_seconds(attempts)
    assert backoff_seconds(3, draw=0.5) == 4 * BASE_SECONDS * (1 - JITTER_FRACTION / 2)


def test_retries_thin_out_whatever_the_draws_until_the_cap() -> None:
    # The shortest wait after attempt n + 1 is longer than the longest after attempt n
    for attempts in range(1, 9):
        assert least_backoff_seconds(attempts + 1) > backoff_seconds(attempts, draw=0.0)


def test_a_row_is_due_again_its_backoff_after_the_failure() -> None:
    assert retry_at(NOW, 1, draw=0.0) == NOW + timedelta(seconds=BASE_SECONDS)
    assert retry_at(NOW, 4, draw=0.0) == NOW + timedelta(seconds=8 * BASE_SECONDS)


@pytest.mark.parametrize("attempts", [0, -1])
def test_a_row_that_never_failed_has_no_backoff_to_compute(attempts: int) -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        backoff_seconds(attempts, draw=0.0)


@pytest.mark.parametrize("draw", [-0.1, 1.0, float("nan")])
def test_a_draw_outside_zero_to_one_is_refused(draw: float) -> None:
    with pytest.raises(ValueError, match=r"draw must be in \[0, 1\)"):
        backoff_seconds(1, draw=draw)
