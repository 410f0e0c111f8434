"""Publishing one claim's outbox rows to the SNS topic: PublishBatch, 10 rows per call,
each entry signed (``reactive_users.core.signing``). With REACTIVE_PUBLISH_BATCH on, the
claim's rows are first packed into multi-event messages (``packing``), 10 messages per
call within SNS's 256 KiB per call.

It never raises for an AWS failure: the rows SNS did not take come back in the ``Outcome``
with their error, and stay pending for a later run. A call starts only while the claim
would still hold at the call's slowest (``claims.may_start_call``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.utils import timezone

from reactive_users.core import aws, dlq, naming, signing
from reactive_users.core.aws import queues, topics
from reactive_users.core.contract import Action, Part, encode_multi
from reactive_users.core.errors import AwsError
from reactive_users.core.settings import Settings, signing_keys
from reactive_users.master import conf
from reactive_users.master.models import OutboxEvent
from reactive_users.master.relay import claims, packing
from reactive_users.master.relay.outbox import Claim, Outcome

logger = logging.getLogger(__name__)

#: SNS PublishBatch takes at most 10 entries per call.
MAX_BATCH_ENTRIES = queues.MAX_BATCH_ENTRIES
#: SNS PublishBatch takes at most 256 KiB of messages and attributes per call.
MAX_PUBLISH_BATCH_BYTES = 256 * 1024
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


def outbox_publish_claim(*, claim: Claim, max_messages: int | None = None) -> Outcome:
    """Publish the claimed rows, 10 per call, while the claim lasts; call with no transaction.

    ``max_messages``: publish no more messages than this (relay pacing counts messages, and
    packed, one carries many rows); the rows beyond are left out of the outcome."""
    settings = conf.reactive_settings()
    rows = list(claim.rows)
    if max_messages is not None and not conf.publish_batch():
        rows = rows[:max_messages]
    try:
        arn = topic_arn(settings)
    except AwsError as exc:
        _log_failure(exc, rows)
        return Outcome(failures={row.id: str(exc) for row in rows})
    sns = aws.client("sns", settings)
    if conf.publish_batch():
        return _publish_packed(claim, sns, arn, rows, max_messages)
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


def _publish_packed(
    claim: Claim, sns: Any, arn: str, rows: list[OutboxEvent], max_messages: int | None
) -> Outcome:
    """REACTIVE_PUBLISH_BATCH: the claimed rows packed into messages (``packing.pack``), as
    few PublishBatch calls as SNS's limits allow, while the claim lasts; the first
    ``max_messages`` of them if set. A message of one event is exactly the message it would
    be without packing."""
    fifo = queues.is_fifo(arn)
    keys = signing_keys(conf.reactive_settings())
    messages = _packed(rows, fifo=fifo, keys=keys)[:max_messages]
    outcome = Outcome()
    for start, call in _calls(messages):
        if not _may_call(claim):
            break  # the claim could expire mid-call: leave the rest to the next run
        try:
            failures = _publish_messages(sns, arn, call)
        except AwsError as exc:  # the call failed as a whole: keep this and later rows pending
            left = [row for _, batch in messages[start:] for row in batch]
            _log_failure(exc, left)
            outcome.failures.update({row.id: str(exc) for row in left})
            break
        accepted = sum(1 for _, batch in call if batch[0].id not in failures)
        carried = [row for _, batch in call for row in batch]
        outcome.add(carried, failures, messages=accepted, tried=len(call))
    return outcome


#: One message to publish: its PublishBatch entry and the rows it carries.
Packed = tuple[dict[str, Any], list[OutboxEvent]]


def _packed(rows: list[OutboxEvent], *, fifo: bool, keys: signing.KeyRing) -> list[Packed]:
    """The rows packed into messages (signed), in the order to publish them."""
    signatures = [signing.signature(row.body, keys) for row in rows]
    items = [
        packing.Item(
            user_id=row.user_id,
            key=(row.action, row.user_id if fifo else None),
            size=packing.part_size(row.body, sig),
        )
        for row, sig in zip(rows, signatures, strict=True)
    ]
    messages: list[Packed] = []
    for indices in packing.pack(items, budget=conf.publish_batch_bytes()):
        batch = [rows[i] for i in indices]
        if len(batch) == 1:
            messages.append((_entry(batch[0], fifo=fifo, keys=keys), batch))
            continue
        first = batch[0]
        body = encode_multi(
            Action(first.action), [Part(rows[i].body, signatures[i]) for i in indices]
        )
        entry = queues.batch_entry(
            str(first.id),
            body,
            signing.attributes(body, keys, action=first.action),
            body_key="Message",
            group_id=str(first.user_id) if fifo else None,
            dedup_id=packing.dedup_id(row.event_id for row in batch),
        )
        messages.append((entry, batch))
    return messages


def _calls(messages: list[Packed]) -> list[tuple[int, list[Packed]]]:
    """``messages`` split into PublishBatch calls within SNS's limits (10 entries, 256 KiB
    in all), each with the index of its first message."""
    sizes = [dlq.entry_bytes({**entry, "MessageBody": entry["Message"]}) for entry, _ in messages]
    spans = packing.calls(sizes, max_entries=MAX_BATCH_ENTRIES, max_bytes=MAX_PUBLISH_BATCH_BYTES)
    return [(start, messages[start:end]) for start, end in spans]


def _publish_messages(sns: Any, arn: str, call: list[Packed]) -> dict[int, str]:
    """One PublishBatch call of packed messages; the error of each row SNS did not accept
    (every row of a message it refused), by row id."""
    events = sum(len(batch) for _, batch in call)
    with aws.map_aws_errors(f"PublishBatch of {events} event(s) in {len(call)} message(s)"):
        response = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[e for e, _ in call])
    result = queues.batch_result(response)
    failures: dict[int, str] = {}
    for entry, batch in call:
        if entry["Id"] in result.accepted:
            logger.debug("Published %d event(s) in message %s", len(batch), entry["Id"])
            continue
        why = result.refused.get(entry["Id"], "SNS answered nothing for this entry")
        for row in batch:
            failures[row.id] = why
            logger.warning("SNS did not accept event %s: %s", row.event_id, why)
    return failures


def _log_failure(exc: AwsError, rows: list[OutboxEvent]) -> None:
    """Log a failed publish with the event ids it left pending (retryable: warning)."""
    level = logging.WARNING if exc.retryable else logging.ERROR
    events = ", ".join(str(row.event_id) for row in rows)
    logger.log(level, "Publishing left %d event(s) pending (%s): %s", len(rows), events, exc)
