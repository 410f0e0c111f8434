"""Services of the users app: record user changes in the outbox, and publish the outbox to SNS.

Recording runs inside the transaction that changes the user, so the change and the record
that it must be published commit together (transactional outbox). After commit a relay
task is enqueued; if Redis is down that is only logged, and the periodic sweep publishes
the row later. Publishing never raises for an AWS failure: rows stay pending and are
retried by the next relay or sweep. Delivery is at-least-once (a crash between SNS
accepting a batch and the commit marking it sent republishes it); clients dedupe by
event id and version.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone

from master.users import changes, selectors
from master.users.models import OutboxEvent, UserVersion
from reactive_cli import aws, naming
from reactive_cli.contract import Action, FieldValue, encode, new_event
from reactive_cli.errors import AwsError
from reactive_cli.settings import Settings

logger = logging.getLogger(__name__)

#: SNS PublishBatch takes at most 10 entries per call.
MAX_BATCH_ENTRIES = 10
#: Rows one relay run publishes at most; the next run takes the rest.
DEFAULT_LIMIT = 500
#: Characters of an error message kept on an outbox row.
MAX_ERROR_CHARS = 1000
#: Instance attribute holding the user's ``changes.Snapshot`` as loaded or last saved.
SNAPSHOT_ATTR = "_reactive_snapshot"


@dataclass(frozen=True, kw_only=True)
class PublishReport:
    """What one relay run did: rows published, rows left pending, and one of their errors."""

    published: int = 0
    failed: int = 0
    error: str = ""


def reactive_settings() -> Settings:
    """The shared settings the master publishes with: ``settings.REACTIVE``, read per call."""
    return django_settings.REACTIVE


# --- Recording --------------------------------------------------------------------------------


def user_snapshot_take(*, user: User) -> None:
    """Remember the tracked values of a user as loaded, so a save needs no SELECT to diff."""
    setattr(user, SNAPSHOT_ATTR, changes.take_snapshot(user, reactive_settings().user_fields))


def user_saved(
    *, user: User, created: bool, update_fields: Collection[str] | None
) -> OutboxEvent | None:
    """Record the event a save calls for, if any, and refresh the user's snapshot."""
    old: changes.Snapshot | None = getattr(user, SNAPSHOT_ATTR, None)
    current = changes.take_snapshot(user, reactive_settings().user_fields)
    new = changes.saved_snapshot(old, current, update_fields)
    setattr(user, SNAPSHOT_ATTR, new)  # a second save compares against what this one wrote
    decision = changes.decide_save(
        old=old, new=new, created=created, publish_staff=django_settings.REACTIVE_PUBLISH_STAFF
    )
    if decision is None:
        return None
    return user_record_change(
        user=user, action=decision.action, changed=decision.changed, values=new.values
    )


def user_deleted(*, user: User) -> OutboxEvent | None:
    """Record the delete of a user, unless the user is excluded from publishing."""
    decision = changes.decide_delete(
        user=user, publish_staff=django_settings.REACTIVE_PUBLISH_STAFF
    )
    if decision is None:
        return None
    return user_record_change(user=user, action=decision.action, changed=decision.changed)


def user_record_change(
    *,
    user: User,
    action: Action,
    changed: tuple[str, ...],
    values: Mapping[str, FieldValue] | None = None,
) -> OutboxEvent:
    """Write the user's next event to the outbox in the current transaction; publish on commit.

    ``values`` are the tracked values as written (default: the instance's own). The payload
    holds exactly the allow-listed fields, never a password, login time, group or id.
    """
    fields = reactive_settings().user_fields
    with transaction.atomic():
        version = _next_version(user.pk)
        envelope = new_event(
            action=action,
            user_id=user.pk,
            version=version,
            changed=changed,
            user=_payload(user, values or {}, fields),
        )
        event = OutboxEvent.objects.create(
            event_id=envelope.event_id,
            user_id=user.pk,
            action=action.value,
            version=version,
            body=encode(envelope),
        )
        transaction.on_commit(_kick, robust=True)
    logger.debug(
        "Recorded event %s: %s user %s v%d %s",
        event.event_id,
        action.value,
        user.pk,
        version,
        ",".join(changed),
    )
    return event


def _next_version(user_id: int) -> int:
    """Bump and return the user's version (1 for a new user) in one statement.

    The upsert takes the row lock on PostgreSQL, so concurrent changes of one user get
    versions in commit order; SQLite serialises writers anyway.
    """
    connection = connections[router.db_for_write(UserVersion)]
    quote = connection.ops.quote_name
    table = quote(UserVersion._meta.db_table)
    user_col = quote(str(UserVersion._meta.get_field("user_id").column))
    version_col = quote(str(UserVersion._meta.get_field("version").column))
    sql = (
        f"INSERT INTO {table} ({user_col}, {version_col}) VALUES (%s, 1) "
        f"ON CONFLICT ({user_col}) DO UPDATE SET {version_col} = {table}.{version_col} + 1 "
        f"RETURNING {version_col}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    assert row is not None, "INSERT ... RETURNING returned no row"
    return int(row[0])


def _payload(
    user: User, values: Mapping[str, FieldValue], fields: tuple[str, ...]
) -> dict[str, FieldValue]:
    """Exactly the allow-listed ``fields``: from ``values``, else read from the instance."""
    return {
        name: values[name] if name in values else changes.field_value(getattr(user, name))
        for name in fields
    }


def _kick() -> None:
    """After commit: ask a worker to publish now (never raises; the sweep catches up)."""
    from master.users.tasks import enqueue_relay

    enqueue_relay()


# --- Publishing -------------------------------------------------------------------------------


def outbox_publish_pending(
    *, limit: int = DEFAULT_LIMIT, min_age: timedelta | None = None
) -> PublishReport:
    """Publish pending rows in id order to SNS, 10 per call; failed rows stay pending.

    ``min_age`` leaves younger rows alone (the sweep leaves them to their own relay).
    Rows are locked while they are published, so concurrent relays never send one twice.
    """
    created_before = timezone.now() - min_age if min_age is not None else None
    with transaction.atomic():
        rows = list(selectors.outbox_pending(limit=limit, created_before=created_before, lock=True))
        if not rows:
            return PublishReport()
        failures = _publish(reactive_settings(), rows)
        _record_outcome(rows, failures)
    report = PublishReport(
        published=len(rows) - len(failures),
        failed=len(failures),
        error=next(iter(failures.values()), ""),
    )
    logger.info(
        "Outbox relay: published %d event(s), %d left pending", report.published, report.failed
    )
    return report


def _publish(settings: Settings, rows: list[OutboxEvent]) -> dict[int, str]:
    """Publish ``rows``; the error of each row that SNS did not accept, by row id."""
    try:
        topic_arn = _topic_arn(settings)
    except AwsError as exc:
        _log_failure(exc, rows)
        return {row.id: str(exc) for row in rows}
    sns = aws.client("sns", settings)
    failures: dict[int, str] = {}
    for start in range(0, len(rows), MAX_BATCH_ENTRIES):
        try:
            failures.update(_publish_batch(sns, topic_arn, rows[start : start + MAX_BATCH_ENTRIES]))
        except AwsError as exc:  # the call failed as a whole: keep this and later rows pending
            _log_failure(exc, rows[start:])
            failures.update({row.id: str(exc) for row in rows[start:]})
            break
    return failures


def _publish_batch(sns: Any, topic_arn: str, batch: list[OutboxEvent]) -> dict[int, str]:
    """One PublishBatch call; the error of each entry that SNS did not accept, by row id."""
    fifo = topic_arn.endswith(".fifo")
    entries = [_entry(row, fifo=fifo) for row in batch]
    with aws.map_aws_errors(f"PublishBatch of {len(batch)} event(s) to {topic_arn}"):
        response = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
    accepted = {str(item["Id"]) for item in response.get("Successful", [])}
    refused = {
        str(item["Id"]): f"{item.get('Code', '')}: {item.get('Message', '')}"
        for item in response.get("Failed", [])
    }
    failures: dict[int, str] = {}
    for row in batch:
        if str(row.id) in accepted:
            logger.debug("Published event %s (user %s v%d)", row.event_id, row.user_id, row.version)
            continue
        failures[row.id] = refused.get(str(row.id), "SNS answered nothing for this entry")
        logger.warning("SNS did not accept event %s: %s", row.event_id, failures[row.id])
    return failures


def _entry(row: OutboxEvent, *, fifo: bool) -> dict[str, Any]:
    """The PublishBatch entry of one row: its id is the row id, FIFO groups by user."""
    entry: dict[str, Any] = {
        "Id": str(row.id),
        "Message": row.body,
        "MessageAttributes": {"action": {"DataType": "String", "StringValue": row.action}},
    }
    if fifo:
        entry["MessageGroupId"] = str(row.user_id)
        entry["MessageDeduplicationId"] = str(row.event_id)
    return entry


def _record_outcome(rows: list[OutboxEvent], failures: Mapping[int, str]) -> None:
    """Mark published rows sent; count the attempt and keep the error on the others."""
    sent = [row.id for row in rows if row.id not in failures]
    if sent:
        OutboxEvent.objects.filter(id__in=sent).update(
            sent_at=timezone.now(), attempts=F("attempts") + 1
        )
    by_error: dict[str, list[int]] = defaultdict(list)
    for row_id, error in failures.items():
        by_error[error[:MAX_ERROR_CHARS]].append(row_id)
    for error, ids in by_error.items():
        OutboxEvent.objects.filter(id__in=ids).update(attempts=F("attempts") + 1, last_error=error)


def _log_failure(exc: AwsError, rows: list[OutboxEvent]) -> None:
    """Log a failed publish with the event ids it left pending (retryable: warning)."""
    level = logging.WARNING if exc.retryable else logging.ERROR
    events = ", ".join(str(row.event_id) for row in rows)
    logger.log(level, "Publishing left %d event(s) pending (%s): %s", len(rows), events, exc)


@functools.cache
def _topic_arn(settings: Settings) -> str:
    """The topic ARN: configured, else looked up by name once per process and settings."""
    if settings.topic_arn:
        return settings.topic_arn
    return aws.find_topic_arn(settings, naming.topic_name(settings.prefix))
