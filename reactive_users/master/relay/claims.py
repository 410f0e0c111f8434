"""How long a relay run may hold outbox rows: the rules, as pure functions. No ORM, no I/O.

A run claims rows for ``CLAIM_SECONDS``; other runs leave claimed rows alone until then.
It starts an SNS call only while the call's worst case still ends inside the claim, so a
live run keeps its rows (barring clock skew between hosts); a run that died mid-way loses
them when the claim expires, and the next run publishes them again (at-least-once).
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: Seconds a claim keeps other relay runs off its rows; comfortably longer than one SNS
#: call's worst case, so every run can make at least one call.
CLAIM_SECONDS = 120


def claim_until(now: datetime) -> datetime:
    """When a claim taken at ``now`` expires."""
    return now + timedelta(seconds=CLAIM_SECONDS)


def may_start_call(*, now: datetime, until: datetime, worst_call_seconds: float) -> bool:
    """Whether a call started at ``now`` ends before a claim expiring at ``until``, at worst."""
    return now + timedelta(seconds=worst_call_seconds) < until
