"""Publishing one claim's outbox rows to the SNS topic: PublishBatch, 10 rows per call,
each entry signed (``reactive_users.core.signing``).

It never raises for an AWS failure: the rows SNS did not take come back in the ``Outcome``
with their error, and stay pending for a later run. A call starts only while the claim
would still hold at the call's slowest (``claims.may_start_call``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.utils import timezone

from reactive_users.core import aws, naming, signing
from reactive_users.core.aws import queues, topics
from reactive_users.core.errors import AwsError
from reactive_users.core.settings import Settings, signing_keys
from reactive_users.master import conf
from reactive_users.master.models import OutboxEvent
from reactive_users.master.relay import claims
from reactive_users.master.relay.outbox import Claim, Outcome

logger = logging.getLogger(__name__)

#: SNS PublishBatch takes at most 10 entries per call.
MAX_BATCH_ENTRIES = queues.MAX_BATCH_ENTRIES
#: Longest one SNS call may take, in seconds: botocore's attempts, each a connect and a read
#: timeout and up to a second of backoff. A relay starts a call only if it ends in its claim.
MAX_CALL_SECONDS = aws.BOTOCORE_MAX_ATTEMPTS * (
    aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS + 1
)


@functools.cache
def topic_arn(settings: Settings) -> str:
    """The topic ARN: configured, else looked up by name once per process and settings."""
    if settings.topic_arn:
        return settings.topic_arn
    return topics.find_topic_arn(settings, naming.topic_name(settings.prefix))


def outbox_publish_claim(*, claim: Claim) -> Outcome:
    """Publish the claimed rows, 10 per call, while the claim lasts; call with no transaction."""
    settings = conf.reactive_settings()
    rows = list(claim.rows)
    try:
        arn = topic_arn(settings)
    except AwsError as exc:
        _log_failure(exc, rows)
        return Outcome(failures={row.id: str(exc) for row in rows})
    sns = aws.client("sns", settings)
    outcome = Outcome()
    for start in range(0, len(rows), MAX_BATCH_ENTRIES):
        if not _may_call(claim):
            break  # the claim could expire mid-call: leave the rest to the next run
        batch = rows[start : start + MAX_BATCH_ENTRIES]
        try:
            outcome.add(batch, _publish_batch(sns, arn, batch))
        except AwsError as exc:  # the call failed as a whole: keep this and later rows pending
            _log_failure(exc, rows[start:])
            outcome.failures.update({row.id: str(exc) for row in rows[start:]})
            break
    return outcome


def _may_call(claim: Claim) -> bool:
    """Whether an SNS call started now ends, even at its slowest, while the claim lasts."""
    return claims.may_start_call(
        now=timezone.now(), until=claim.until, worst_call_seconds=MAX_CALL_SECONDS
    )


def _publish_batch(sns: Any, arn: str, batch: list[OutboxEvent]) -> dict[int, str]:
    """One PublishBatch call; the error of each entry that SNS did not accept, by row id."""
    fifo = queues.is_fifo(arn)
    keys = signing_keys(conf.reactive_settings())
    entries = [_entry(row, fifo=fifo, keys=keys) for row in batch]
    with aws.map_aws_errors(f"PublishBatch of {len(batch)} event(s) to {arn}"):
        response = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    result = queues.batch_result(response)
    failures: dict[int, str] = {}
    for row in batch:
        if str(row.id) in result.accepted:
            logger.debug("Published event %s (user %s v%d)", row.event_id, row.user_id, row.version)
            continue
        failures[row.id] = result.refused.get(str(row.id), "SNS answered nothing for this entry")
        logger.warning("SNS did not accept event %s: %s", row.event_id, failures[row.id])
    return failures


def _entry(row: OutboxEvent, *, fifo: bool, keys: signing.KeyRing) -> dict[str, Any]:
    """The PublishBatch entry of one row, signed: its id is the row id, FIFO groups by user."""
    return queues.batch_entry(
        str(row.id),
        row.body,
        signing.attributes(row.body, keys, action=row.action),
        body_key="Message",
        group_id=str(row.user_id) if fifo else None,
        dedup_id=str(row.event_id),
    )


def _log_failure(exc: AwsError, rows: list[OutboxEvent]) -> None:
    """Log a failed publish with the event ids it left pending (retryable: warning)."""
    level = logging.WARNING if exc.retryable else logging.ERROR
    events = ", ".join(str(row.event_id) for row in rows)
    logger.log(level, "Publishing left %d event(s) pending (%s): %s", len(rows), events, exc)
