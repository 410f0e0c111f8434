"""Publishing the outbox: one relay run claims rows, publishes them to SNS and settles them.

Two entry points: ``outbox_publish_pending`` (the Celery relay, the sweep, ``python -m
master publish_pending``: pending rows in id order, paced) and ``outbox_publish_rows`` (the
publisher thread: a commit's own rows, whatever their age). Each claims rows
(``outbox.outbox_claim``), publishes them with no transaction open
(``sns.outbox_publish_claim``) and records the outcome (``outbox.outbox_settle``), in the
parts pacing allows (``pacing.py``, depths read by ``depths.py``). Delivery is
at-least-once: a run that dies between SNS accepting a batch and recording it leaves the
rows claimed, and they are published again when the claim expires; clients dedupe by
event id and version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import timedelta

from django.utils import timezone

from reactive_users.core.errors import AwsError
from reactive_users.master import conf
from reactive_users.master.metrics import RELAY
from reactive_users.master.relay import depths, pacing
from reactive_users.master.relay.outbox import Claim, Outcome, outbox_claim, outbox_settle
from reactive_users.master.relay.sns import outbox_publish_claim, topic_arn

logger = logging.getLogger(__name__)

#: Rows one relay run publishes at most; the next run takes the rest.
DEFAULT_LIMIT = 500


@dataclass(frozen=True, kw_only=True)
class PublishReport:
    """What one relay run did: rows claimed, published and left pending, and one error."""

    #: Rows the run took.
    claimed: int = 0
    published: int = 0
    failed: int = 0
    #: SNS messages the published rows went out in (fewer than rows when packed).
    messages: int = 0
    error: str = ""
    #: The run took as many rows as it was allowed (its limit, or what pacing let it): more
    #: may be due. Not full: it left nothing behind that was due.
    full: bool = False


def outbox_publish_pending(
    *, limit: int = DEFAULT_LIMIT, min_age: timedelta | None = None, ignore_backoff: bool = False
) -> PublishReport:
    """Publish pending rows in id order to SNS, 10 per call; failed rows stay pending.

    Claim rows in one short transaction, publish them with no transaction open, record the
    outcome in another short one: no database lock is held while AWS is called, so saves
    never wait for SNS. Two runs never publish a row while its claim is live. A run that
    dies after publishing but before recording leaves its rows claimed until the claim
    expires (``claims.CLAIM_SECONDS``); the next run then publishes them again. Delivery is
    at-least-once; clients dedupe by event id and version. ``min_age`` leaves younger rows
    alone (the sweep leaves them to their own relay). A failed row waits out its backoff
    (``retry.py``) before a run takes it again, unless ``ignore_backoff`` (an operator's
    "retry now").
    """
    now = timezone.now()
    created_before = now - min_age if min_age is not None else None
    claim, allowed = _paced_claim(
        limit,
        lambda allowed: outbox_claim(
            limit=allowed, now=now, created_before=created_before, ignore_backoff=ignore_backoff
        ),
    )
    report = _publish_and_settle(claim, full=len(claim.rows) >= allowed)
    pacer = _pacer()
    if pacer is not None and report.messages < len(claim.rows):
        # pacing counts messages: packed rows the claim was allowed as one message each
        pacer.give_back(len(claim.rows) - report.messages)
    if report.claimed:
        logger.info(
            "Outbox relay: published %d event(s), %d failed, %d left for a later run",
            report.published,
            report.failed,
            report.claimed - report.published - report.failed,
        )
    return report


def outbox_publish_rows(*, ids: Collection[int]) -> PublishReport:
    """Publish the given rows now (the fast path, ``publisher.py``): claim them, publish,
    settle, exactly like a relay run but only these rows and whatever their age.

    Rows already sent, or held by another run's live claim, are skipped. The claim keeps
    the sweep off rows this run is still publishing (no duplicates under a burst, when a
    round outlasts the sweep's minimum age); rows SNS refuses back off like any failure.
    While pacing holds (``pacing.py``) the claimed rows go out in the parts it allows, each
    settled as soon as it is published, the rest still claimed; if SNS takes none of a
    part, or the claim runs short, the rest are released for a later run.
    """
    claim = outbox_claim(limit=len(ids), now=timezone.now(), ids=ids)
    pacer = _pacer()
    parts: list[PublishReport] = []
    rows = claim.rows
    while rows:
        allowed = pacer.take(len(rows)) if pacer is not None else len(rows)
        outcome = outbox_publish_claim(claim=replace(claim, rows=rows), max_messages=allowed)
        if pacer is not None:
            pacer.give_back(allowed - outcome.messages)  # what did not reach the queues
        tried = {*outcome.sent, *outcome.failures}
        part = replace(claim, rows=tuple(row for row in rows if row.id in tried))
        rows = tuple(row for row in rows if row.id not in tried)
        outbox_settle(claim=part, outcome=outcome)
        parts.append(_counted(outcome, claimed=len(part.rows), full=False))
        if rows and (outcome.messages == 0 or outcome.tried < allowed):
            # SNS is failing, or the claim ran short: release the rest for a later run
            outbox_settle(claim=replace(claim, rows=rows), outcome=Outcome())
            break
    report = _summed(parts, claimed=len(claim.rows))
    if report.claimed:
        logger.debug(
            "Outbox publisher: published %d event(s), %d failed", report.published, report.failed
        )
    return report


def _summed(parts: list[PublishReport], *, claimed: int) -> PublishReport:
    """One report for the parts of a run."""
    return PublishReport(
        claimed=claimed,
        published=sum(part.published for part in parts),
        failed=sum(part.failed for part in parts),
        messages=sum(part.messages for part in parts),
        error=next((part.error for part in parts if part.error), ""),
    )


def _paced_claim(wanted: int, claim: Callable[[int], Claim]) -> tuple[Claim, int]:
    """``claim(allowed)``: up to ``wanted`` rows, fewer (after a wait) while a client queue
    is full (REACTIVE_RELAY_MAX_QUEUE_DEPTH, ``pacing.py``); the claim and what it was
    allowed. Rows it was allowed and did not find are given back to the pacer."""
    pacer = _pacer()
    if pacer is None:
        return claim(wanted), wanted
    allowed = pacer.take(wanted)
    taken = claim(allowed)
    pacer.give_back(allowed - len(taken.rows))
    return taken, allowed


def _pacer() -> pacing.Pacer | None:
    """This process's pacer, or None when pacing is off (or the topic cannot be found: then
    publishing fails and says so)."""
    max_depth = conf.relay_max_queue_depth()
    if max_depth <= 0:
        return None
    settings = conf.reactive_settings()
    try:
        arn = topic_arn(settings)
    except AwsError:
        return None
    return depths.pacer_for(settings, arn, max_depth, on_hold=RELAY.paced.inc)


def _publish_and_settle(claim: Claim, *, full: bool = False) -> PublishReport:
    """Publish a claim's rows, record the outcome on them, and count it (nothing if empty)."""
    if not claim.rows:
        return PublishReport()
    outcome = outbox_publish_claim(claim=claim)
    outbox_settle(claim=claim, outcome=outcome)
    return _counted(outcome, claimed=len(claim.rows), full=full)


def _counted(outcome: Outcome, *, claimed: int, full: bool) -> PublishReport:
    """The report of one publishing run, added to the relay's metrics."""
    report = PublishReport(
        claimed=claimed,
        published=len(outcome.sent),
        failed=len(outcome.failures),
        messages=outcome.messages,
        error=next(iter(outcome.failures.values()), ""),
        full=full,
    )
    RELAY.published.inc(report.published)
    RELAY.messages_published.inc(outcome.messages)
    RELAY.failed.inc(report.failed)
    return report
