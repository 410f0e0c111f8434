"""Services of the users app: record user changes in the outbox, and publish the outbox to SNS.

Recording runs inside the transaction that changes the user, so the change and the record
that it must be published commit together (transactional outbox). After commit a relay
task is enqueued; if Redis is down that is only logged, and the periodic sweep publishes
the row later. Publishing claims rows in a short transaction and calls SNS with no
transaction open, so a slow or unreachable SNS never holds a lock that a save waits for.
It never raises for an AWS failure: rows stay pending and a later relay or sweep retries
them, each failed row only once its backoff is over (``retry.py``). Delivery is
at-least-once (a relay that dies between SNS accepting a batch and recording it leaves the
rows claimed; they are published again when the claim expires); clients dedupe by event id
and version.
"""

from __future__ import annotations

import functools
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connections, router, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from reactive_users.core import aws, naming, signing
from reactive_users.core.aws import topics
from reactive_users.core.contract import Action, FieldValue, encode, new_event
from reactive_users.core.errors import AwsError
from reactive_users.core.settings import Settings, signing_keys
from reactive_users.master import changes, claims, limits, pacing, retry, selectors
from reactive_users.master.metrics import RELAY
from reactive_users.master.models import OutboxEvent, UserVersion

logger = logging.getLogger(__name__)

#: SNS PublishBatch takes at most 10 entries per call.
MAX_BATCH_ENTRIES = 10
#: Rows one relay run publishes at most; the next run takes the rest.
DEFAULT_LIMIT = 500
#: Characters of an error message kept on an outbox row.
MAX_ERROR_CHARS = 1000
#: Longest one SNS call may take, in seconds: botocore's attempts, each a connect and a read
#: timeout and up to a second of backoff. A relay starts a call only if it ends in its claim.
MAX_CALL_SECONDS = aws.BOTOCORE_MAX_ATTEMPTS * (
    aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS + 1
)
#: Instance attribute holding the user's ``changes.Snapshot`` as loaded or last saved.
SNAPSHOT_ATTR = "_reactive_snapshot"


@dataclass(frozen=True, kw_only=True)
class PublishReport:
    """What one relay run did: rows claimed, published and left pending, and one error."""

    #: Rows the run took.
    claimed: int = 0
    published: int = 0
    failed: int = 0
    error: str = ""
    #: The run took as many rows as it was allowed (its limit, or what pacing let it): more
    #: may be due. Not full: it left nothing behind that was due.
    full: bool = False


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

    def add(self, batch: list[OutboxEvent], failures: Mapping[int, str]) -> None:
        """Count one batch: its rows without an error were accepted."""
        self.sent.extend(row.id for row in batch if row.id not in failures)
        self.failures.update(failures)


def reactive_settings() -> Settings:
    """The shared settings the master publishes with: ``settings.REACTIVE``, read per call."""
    return django_settings.REACTIVE


# --- Recording --------------------------------------------------------------------------------


def user_snapshot_take(*, user: User) -> None:
    """Remember the tracked values of a user as loaded, so a save needs no SELECT to diff."""
    setattr(user, SNAPSHOT_ATTR, changes.take_snapshot(user, reactive_settings().user_fields))


def user_limits_check(*, user: User, update_fields: Collection[str] | None) -> None:
    """Before a save: refuse (``limits.FieldLimitError``) a published field it would write
    beyond the model's limits, as PostgreSQL refuses it, so that no database stores and
    publishes what every client refuses (``limits.py``)."""
    fields = reactive_settings().user_fields
    if update_fields is not None:
        fields = tuple(name for name in fields if name in update_fields)
    values = changes.tracked_values(user, fields)
    max_lengths = {name: getattr(User._meta.get_field(name), "max_length", None) for name in values}
    found = limits.breaches(values, max_lengths)
    if found:
        who = f"user {user.pk}" if user.pk else "a new user"
        raise limits.FieldLimitError(f"{who} not saved: {'; '.join(found)}")


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
    return _record(user, decision, new.values)


def user_deleted(*, user: User) -> OutboxEvent:
    """Record the delete of a user; an excluded user's carries no fields (``changes``)."""
    decision = changes.decide_delete(
        user=user, publish_staff=django_settings.REACTIVE_PUBLISH_STAFF
    )
    return _record(user, decision)


def _record(
    user: User, decision: changes.Decision, values: Mapping[str, FieldValue] | None = None
) -> OutboxEvent:
    """Record what ``decision`` says, with ``values`` as written (default: the instance's)."""
    return user_record_change(
        user=user,
        action=decision.action,
        changed=decision.changed,
        values=values,
        with_fields=decision.with_fields,
    )


def user_record_change(
    *,
    user: User,
    action: Action,
    changed: tuple[str, ...],
    values: Mapping[str, FieldValue] | None = None,
    with_fields: bool = True,
) -> OutboxEvent:
    """Write the user's next event to the outbox in the current transaction; publish on commit.

    ``values`` are the tracked values as written (default: the instance's own). The payload
    holds exactly the allow-listed fields, never a password, login time, group or id; none
    at all without ``with_fields`` (an excluded user's withdrawal or delete).
    """
    fields = reactive_settings().user_fields if with_fields else ()
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
        transaction.on_commit(functools.partial(_kick, event.id), robust=True)
    logger.debug(
        "Recorded event %s: %s user %s v%d %s",
        event.event_id,
        action.value,
        user.pk,
        version,
        ",".join(changed),
    )
    return event


def users_republish(*, queryset: QuerySet[User], chunk_size: int = 500) -> int:
    """Record an ``updated`` event with every tracked field for each user of ``queryset``.

    For users changed by writes that send no signals (``QuerySet.update()``,
    ``bulk_create``/``bulk_update``, raw SQL, ``loaddata``): each gets its next version and an
    outbox row, published like any change. An excluded user (staff/superuser unless
    REACTIVE_PUBLISH_STAFF) gets a ``withdrawn`` event instead, so that a promotion written
    without signals still removes the user from every client. Users are locked and read
    afresh in chunks of ``chunk_size``, one transaction each, so an event carries what the
    row holds at its version even while the user is being saved elsewhere. Returns how many
    events were recorded.
    """
    fields = reactive_settings().user_fields
    publish_staff = django_settings.REACTIVE_PUBLISH_STAFF
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    recorded = 0
    for start in range(0, len(ids), chunk_size):
        with transaction.atomic():
            users = User.objects.select_for_update().filter(pk__in=ids[start : start + chunk_size])
            for user in users.order_by("pk"):
                now = changes.take_snapshot(user, fields)
                decision = changes.decide_republish(user=now, publish_staff=publish_staff)
                _record(user, decision, now.values)
                recorded += 1
    return recorded


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


def _kick(row_id: int) -> None:
    """After commit: publish now, from this process's publisher thread
    (``REACTIVE_RELAY=thread``) or through a Celery relay task (``celery``). Never raises:
    whatever is not published is the sweep's."""
    if django_settings.REACTIVE_RELAY == "thread":
        from reactive_users.master.publisher import PUBLISHER

        PUBLISHER.submit(row_id)
        return
    from reactive_users.master.tasks import enqueue_relay

    enqueue_relay()


# --- Publishing -------------------------------------------------------------------------------


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
        part = replace(claim, rows=rows[:allowed])
        rows = rows[allowed:]
        done = _publish_and_settle(part)
        parts.append(done)
        if rows and (done.published == 0 or done.published + done.failed < allowed):
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
    max_depth = django_settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH
    if max_depth <= 0:
        return None
    settings = reactive_settings()
    try:
        topic_arn = _topic_arn(settings)
    except AwsError:
        return None
    return pacing.pacer_for(settings, topic_arn, max_depth, on_hold=RELAY.paced.inc)


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
        error=next(iter(outcome.failures.values()), ""),
        full=full,
    )
    RELAY.published.inc(report.published)
    RELAY.failed.inc(report.failed)
    return report


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


def outbox_publish_claim(*, claim: Claim) -> Outcome:
    """Publish the claimed rows, 10 per call, while the claim lasts; call with no transaction."""
    settings = reactive_settings()
    rows = list(claim.rows)
    try:
        topic_arn = _topic_arn(settings)
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
            outcome.add(batch, _publish_batch(sns, topic_arn, batch))
        except AwsError as exc:  # the call failed as a whole: keep this and later rows pending
            _log_failure(exc, rows[start:])
            outcome.failures.update({row.id: str(exc) for row in rows[start:]})
            break
    return outcome


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


def _may_call(claim: Claim) -> bool:
    """Whether an SNS call started now ends, even at its slowest, while the claim lasts."""
    return claims.may_start_call(
        now=timezone.now(), until=claim.until, worst_call_seconds=MAX_CALL_SECONDS
    )


def _publish_batch(sns: Any, topic_arn: str, batch: list[OutboxEvent]) -> dict[int, str]:
    """One PublishBatch call; the error of each entry that SNS did not accept, by row id."""
    fifo = topic_arn.endswith(".fifo")
    keys = signing_keys(reactive_settings())
    entries = [_entry(row, fifo=fifo, keys=keys) for row in batch]
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


def _entry(row: OutboxEvent, *, fifo: bool, keys: signing.KeyRing) -> dict[str, Any]:
    """The PublishBatch entry of one row, signed: its id is the row id, FIFO groups by user."""
    entry: dict[str, Any] = {
        "Id": str(row.id),
        "Message": row.body,
        "MessageAttributes": signing.attributes(row.body, keys, action=row.action),
    }
    if fifo:
        entry["MessageGroupId"] = str(row.user_id)
        entry["MessageDeduplicationId"] = str(row.event_id)
    return entry


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
    return topics.find_topic_arn(settings, naming.topic_name(settings.prefix))
