"""Recording user changes in the outbox: the users app's services (the relay publishes them).

Recording runs inside the transaction that changes the user, so the change and the record
that it must be published commit together (transactional outbox). After the commit the
relay is kicked (``relay/triggers.py``): the publisher thread or a Celery relay task
publishes the row; if that fails it is only logged, and the periodic sweep publishes the
row later. What to record is decided by the pure rules of ``changes.py``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Mapping

from django.db import connections, router, transaction
from django.db.models import Model, QuerySet

from reactive_users.core.contract import Action, FieldValue, encode, new_event
from reactive_users.master import changes, conf, fields, limits
from reactive_users.master.models import OutboxEvent, UserVersion
from reactive_users.master.relay import triggers

logger = logging.getLogger(__name__)

#: Instance attribute holding the user's ``changes.Snapshot`` as loaded or last saved.
SNAPSHOT_ATTR = "_reactive_snapshot"

#: Any instance of the project's user model (``AUTH_USER_MODEL``, ``fields.user_model``).
User = Model


def _snapshot(user: User) -> changes.Snapshot:
    """The user's published values and exclusion as the instance holds them now."""
    return changes.take_snapshot(user, fields.published_columns(), conf.exclude_rule())


def user_snapshot_take(*, user: User) -> None:
    """Remember the tracked values of a user as loaded, so a save needs no SELECT to diff."""
    setattr(user, SNAPSHOT_ATTR, _snapshot(user))


def user_limits_check(*, user: User, update_fields: Collection[str] | None) -> None:
    """Before a save: refuse (``limits.FieldLimitError``) a published field it would write
    beyond the model's limits, as PostgreSQL refuses it, so that no database stores and
    publishes what every client refuses (``limits.py``)."""
    columns = fields.published_columns()
    if update_fields is not None:
        columns = {name: col for name, col in columns.items() if name in update_fields}
    values = changes.tracked_values(user, columns)
    meta = type(user)._meta
    max_lengths = {name: getattr(meta.get_field(name), "max_length", None) for name in values}
    found = limits.breaches(values, max_lengths)
    if found:
        who = f"user {user.pk}" if user.pk else "a new user"
        raise limits.FieldLimitError(f"{who} not saved: {'; '.join(found)}")


def user_saved(
    *, user: User, created: bool, update_fields: Collection[str] | None
) -> OutboxEvent | None:
    """Record the event a save calls for, if any, and refresh the user's snapshot."""
    old: changes.Snapshot | None = getattr(user, SNAPSHOT_ATTR, None)
    current = _snapshot(user)
    new = changes.saved_snapshot(old, current, update_fields)
    setattr(user, SNAPSHOT_ATTR, new)  # a second save compares against what this one wrote
    decision = changes.decide_save(
        old=old, new=new, created=created, publish_staff=conf.publish_staff()
    )
    if decision is None:
        return None
    return _record(user, decision, new.values)


def user_deleted(*, user: User) -> OutboxEvent:
    """Record the delete of a user; an excluded user's carries no fields (``changes``)."""
    decision = changes.decide_delete(
        user=user, publish_staff=conf.publish_staff(), rule=conf.exclude_rule()
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
    columns = fields.published_columns() if with_fields else {}
    # No savepoint: a failure here fails the whole save, which must never commit without
    # its event (and two statements fewer per save).
    with transaction.atomic(savepoint=False):
        version = _next_version(user.pk)
        envelope = new_event(
            action=action,
            user_id=user.pk,
            version=version,
            changed=changed,
            user=_payload(user, values or {}, columns),
        )
        event = OutboxEvent.objects.create(
            event_id=envelope.event_id,
            user_id=user.pk,
            action=action.value,
            version=version,
            body=encode(envelope),
        )
        transaction.on_commit(functools.partial(triggers.kick, event.id), robust=True)
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
    REACTIVE_PUBLISH_STAFF, or as REACTIVE_EXCLUDE_USER says) gets a ``withdrawn`` event
    instead, so that a promotion written without signals still removes the user from every
    client. Users are locked and read afresh in chunks of ``chunk_size``, one transaction each,
    so an event carries what the row holds at its version even while the user is being saved
    elsewhere. Returns how many events were recorded.
    """
    publish_staff = conf.publish_staff()
    model = fields.user_model()
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    recorded = 0
    for start in range(0, len(ids), chunk_size):
        with transaction.atomic():
            chunk = ids[start : start + chunk_size]
            users = model._default_manager.select_for_update().filter(pk__in=chunk)
            for user in users.order_by("pk"):
                now = _snapshot(user)
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
    user: User, values: Mapping[str, FieldValue], columns: Mapping[str, str]
) -> dict[str, FieldValue]:
    """Exactly the allow-listed fields (``columns``: name -> attribute): from ``values``,
    else read from the instance (a foreign key's id, never the related row)."""
    return {
        name: values[name] if name in values else changes.field_value(getattr(user, col))
        for name, col in columns.items()
    }
