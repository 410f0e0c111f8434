"""The listener's failure rules (reactive_users/client/failures.py): permanent or for now, and when
a failure for now is tried again."""

from __future__ import annotations

from django.db import OperationalError

from reactive_users.client.failures import (
    BACKOFF_CAP_SECONDS,
    RETRY_BASE_SECONDS,
    RETRY_CAP_SECONDS,
    Failure,
    classify,
    compute_backoff,
    retry_delay_seconds,
)
from reactive_users.core.dlq import MAX_REASON_CHARS
from reactive_users.core.errors import ApplyError, ContractError, UsernameCollision


def test_bad_events_fail_for_good_and_everything_else_for_now():
    assert classify(ContractError("unknown action 'merged'")) == Failure(
        permanent=True, reason="ContractError: unknown action 'merged'"
    )
    assert classify(UsernameCollision("taken")).permanent
    assert classify(ApplyError("first_name must be text of at most 150 characters")).permanent
    assert not classify(OperationalError("database is locked")).permanent
    assert not classify(ConnectionError("Redis")).permanent
    assert not classify(KeyError("surprise")).permanent


def test_a_reason_is_one_line_of_bounded_length():
    reason = classify(ApplyError("line one\nline two " + "x" * 1000)).reason
    assert "\n" not in reason and reason.startswith("ApplyError: line one line two x")
    assert len(reason) == MAX_REASON_CHARS


def test_a_message_failing_for_now_waits_longer_after_each_receive():
    delays = [retry_delay_seconds(n) for n in range(1, 8)]
    assert delays == [5, 10, 20, 40, 80, 160, RETRY_CAP_SECONDS]
    assert retry_delay_seconds(0) == RETRY_BASE_SECONDS  # no receive count: as the first
    # With the default maxReceiveCount of 5 it stays in the queue longer than 5 x 30 s did
    assert sum(delays[:5]) > 5 * 30


def test_backoff_doubles_from_half_a_second_and_is_capped():
    assert [compute_backoff(n) for n in range(0, 5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert compute_backoff(10_000) == BACKOFF_CAP_SECONDS
    assert compute_backoff(10, cap=2.0) == 2.0
