"""When the relay tries a failed outbox row again: the backoff rule, as pure functions.

A row SNS did not take (the call failed, or SNS refused the entry) waits before its next
attempt: ``BASE_SECONDS`` after the first failure, doubling with each failure after that,
never more than ``CAP_SECONDS``, less up to ``JITTER_FRACTION`` of it at random so that rows
failed together by many relays do not come back all at once. A new row has no backoff:
the relay its commit enqueues takes it at once, whatever older rows are waiting. No ORM,
no I/O; the caller passes the random draw.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: Seconds a row waits after its first failed attempt.
BASE_SECONDS = 1.0
#: Longest wait between two attempts, in seconds (a long outage is retried every 5 minutes).
CAP_SECONDS = 300.0
#: Share of a wait taken off at random: a wait lies in ``[(1 - JITTER_FRACTION) d, d]``.
JITTER_FRACTION = 0.25
#: Doublings past this are capped anyway; stops 2 ** attempts from growing without bound.
_MAX_DOUBLINGS = 32


def backoff_seconds(attempts: int, *, draw: float) -> float:
    """Seconds to wait after a row's ``attempts``-th failed attempt (``attempts`` >= 1).

    ``draw`` is a random number in ``[0, 1)``: 0 waits the full delay, just under 1 takes
    ``JITTER_FRACTION`` of it off. The least wait after attempt n+1 is more than the most
    after attempt n (below the cap), so attempts thin out whatever the draws.
    """
    if not 0.0 <= draw < 1.0:
        raise ValueError(f"draw must be in [0, 1), got {draw}")
    return _full_delay(attempts) * (1.0 - JITTER_FRACTION * draw)


def least_backoff_seconds(attempts: int) -> float:
    """A bound every ``backoff_seconds(attempts, ...)`` exceeds or equals, whatever the draw."""
    return _full_delay(attempts) * (1.0 - JITTER_FRACTION)


def _full_delay(attempts: int) -> float:
    """The wait before jitter: ``BASE_SECONDS`` doubled ``attempts - 1`` times, capped."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    return min(CAP_SECONDS, BASE_SECONDS * 2.0 ** min(attempts - 1, _MAX_DOUBLINGS))


def retry_at(now: datetime, attempts: int, *, draw: float) -> datetime:
    """When a row that failed for the ``attempts``-th time at ``now`` is due again."""
    return now + timedelta(seconds=backoff_seconds(attempts, draw=draw))
