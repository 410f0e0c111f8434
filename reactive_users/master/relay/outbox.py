"""Claiming outbox rows for a relay run, and settling them with what SNS did.

A run claims rows in one short transaction (a token and an expiry on each row), publishes
them with no transaction open, and settles them in another short one: sent rows get
``sent_at``, failed ones their attempt, error and backoff (``retry.py``), the rest are
released. No database lock is held while AWS is called, so saves never wait for SNS.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reactive_users.master import selectors
from reactive_users.master.models import OutboxEvent
from reactive_users.master.relay import claims, retry

logger = logging.getLogger(__name__)

#: Characters of an error message kept on an outbox row.
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True, kw_only=True)
class Claim:
    """Rows one relay run took, under its own token, until the claim expires."""

    token: uuid.UUID
    until: datetime
    rows: tuple[OutboxEvent, ...]


@dataclass(kw_only=True)
class Outcome:
    """What SNS did with a claim's rows: ids it accepted, and the error of each it did not."""

    sent: list[int] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)
    #: SNS messages accepted (one per event, unless REACTIVE_PUBLISH_BATCH packed them).
    messages: int = 0
    #: Messages SNS answered for, accepted or refused (relay pacing counts them).
    tried: int = 0

    def add(
        self,
        batch: list[OutboxEvent],
        failures: Mapping[int, str],
        *,
        messages: int | None = None,
        tried: int | None = None,
    ) -> None:
        """Count one call: its rows without an error were accepted, in ``messages`` of the
        ``tried`` messages it carried (None: one each)."""
        accepted = [row.id for row in batch if row.id not in failures]
        self.sent.extend(accepted)
        self.failures.update(failures)
        self.messages += len(accepted) if messages is None else messages
        self.tried += len(batch) if tried is None else tried


def outbox_claim(
    *,
    limit: int,
    now: datetime,
    created_before: datetime | None = None,
    ignore_backoff: bool = False,
    ids: Collection[int] | None = None,
) -> Claim:
    """Claim up to ``limit`` pending rows that no live claim holds, in one short transaction.

    ``ids`` narrows the claim to those rows.
    Rows still waiting out a retry backoff are skipped unless ``ignore_backoff``.
    Durable: inside a caller's transaction, the claim's locks would last through the publish.
    """
    token = uuid.uuid4()
    until = claims.claim_until(now)
    with transaction.atomic(durable=True):
        rows = tuple(
            selectors.outbox_claimable(
                limit=limit,
                now=now,
                created_before=created_before,
                ignore_backoff=ignore_backoff,
                ids=ids,
            )
        )
        if rows:
            OutboxEvent.objects.filter(id__in=[row.id for row in rows]).update(
                claim=token, claimed_until=until
            )
    return Claim(token=token, until=until, rows=rows)


def outbox_settle(*, claim: Claim, outcome: Outcome) -> None:
    """Record the outcome on the rows this claim still holds, and release them all.

    Sent rows get ``sent_at``; failed ones the attempt, the error and when they are due
    again (``retry_at``, backing off with each failure); rows the claim ran out before are
    released untouched. A row another run took over after this claim expired is left to
    that run (it publishes it again: at-least-once).
    """
    mine = OutboxEvent.objects.filter(id__in=[row.id for row in claim.rows], claim=claim.token)
    release = {"claim": None, "claimed_until": None}
    now = timezone.now()
    with transaction.atomic(durable=True):
        marked = mine.filter(id__in=outcome.sent).update(
            sent_at=now, attempts=F("attempts") + 1, retry_at=None, **release
        )
        for (error, due), ids in _retries(claim, outcome.failures, now).items():
            failed = mine.filter(id__in=ids).update(
                attempts=F("attempts") + 1, last_error=error, retry_at=due, **release
            )
            logger.info("Outbox relay: %d failed event(s) due again at %s", failed, due)
        mine.update(**release)
    if marked < len(outcome.sent):
        logger.warning(
            "Outbox relay: claim %s expired before it was recorded; %d published event(s) "
            "will be published again",
            claim.token,
            len(outcome.sent) - marked,
        )


def _retries(
    claim: Claim, failures: Mapping[int, str], now: datetime
) -> dict[tuple[str, datetime], list[int]]:
    """Failed row ids grouped by their error (cut to what a row keeps) and when each is due.

    One random draw per attempt count: rows that failed together at the same attempt come
    back together, in one claim and one batch.
    """
    attempts = {row.id: row.attempts + 1 for row in claim.rows}
    draws: dict[int, float] = {}
    grouped: dict[tuple[str, datetime], list[int]] = defaultdict(list)
    for row_id, error in failures.items():
        attempt = attempts[row_id]
        if attempt not in draws:
            draws[attempt] = random.random()
        due = retry.retry_at(now, attempt, draw=draws[attempt])
        grouped[(error[:MAX_ERROR_CHARS], due)].append(row_id)
    return grouped
