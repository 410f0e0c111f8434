"""The claim rules of reactive_users/master/relay/claims.py, on plain datetimes: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reactive_users.master.relay.claims import CLAIM_SECONDS, claim_until, may_start_call
from reactive_users.master.relay.sns import MAX_CALL_SECONDS

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_a_claim_expires_claim_seconds_after_it_was_taken() -> None:
    assert claim_until(NOW) == NOW + timedelta(seconds=CLAIM_SECONDS)


def test_a_call_may_start_only_if_its_worst_case_ends_before_the_claim_expires() -> None:
    until = NOW + timedelta(seconds=60)

    assert may_start_call(now=NOW, until=until, worst_call_seconds=59.9)
    assert not may_start_call(now=NOW, until=until, worst_call_seconds=60)
    assert not may_start_call(now=until, until=until, worst_call_seconds=0)


def test_a_fresh_claim_leaves_time_for_the_slowest_sns_call() -> None:
    assert may_start_call(now=NOW, until=claim_until(NOW), worst_call_seconds=MAX_CALL_SECONDS)
