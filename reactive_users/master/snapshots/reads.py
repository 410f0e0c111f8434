"""Reading master users for snapshots (ORM): what a backfill sends, a repair's users, the
dump ``reactive diff`` reads, and the users an operator picks for ``republish``.

Users are rows of the project's user model (``AUTH_USER_MODEL``, ``fields.user_model``),
read by master id and the published fields only. A user's fields, privileges and version
are read in ONE statement (the user rows
annotated with a subquery of ``UserVersion.version``), so under READ COMMITTED (and
SQLite's snapshot) they are consistent: the fields (and whether the user is excluded) are
at least those of the version's live event. Read the other way round (fields, then
version) a snapshot could carry the fields of v with the number v+1, and the live v+1
would then be ignored as a duplicate and lost. A user that never had an event has no
``UserVersion`` row: it is given version 1 (``INSERT ... ON CONFLICT DO NOTHING``, never
bumping a row a live change just wrote) before the read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, Model, OuterRef, Q, QuerySet, Subquery

from reactive_users.core import selection
from reactive_users.core.errors import UsageError
from reactive_users.master import changes, conf, fields
from reactive_users.master.models import OutboxEvent, UserVersion
from reactive_users.master.snapshots.text import UserState

#: Users (and tombstones) read per batch unless told otherwise.
DEFAULT_BATCH = 500

_VERSION = "reactive_version"

User = Model  # an instance of the project's user model


def _users() -> QuerySet[User]:
    return fields.user_model()._default_manager.all()


def _has_field(name: str) -> bool:
    return any(f.name == name for f in fields.user_model()._meta.concrete_fields)


def _changed_since(since: datetime) -> Exists:
    """Whether the row's user had an event recorded at or after ``since``."""
    recent = OutboxEvent.objects.filter(user_id=OuterRef("pk"), created_at__gte=since)
    return Exists(recent)


def users_in_scope(*, since: datetime | None = None) -> QuerySet[User]:
    """Users a backfill sends (excluded ones as withdrawals); with ``since``, those joined or
    changed since then.

    "Changed" means an event was recorded for the user at or after ``since``: a write that
    bypassed the signals (``QuerySet.update()``, raw SQL) left none; republish those users.
    "Joined" is ``date_joined``, on a model that has it.
    """
    users = _users()
    if since is not None:
        changed = Q(_changed_since(since))
        users = users.filter(
            Q(date_joined__gte=since) | changed if _has_field("date_joined") else changed
        )
    return users


def tombstones_in_scope(*, since: datetime | None = None) -> QuerySet[UserVersion]:
    """``UserVersion`` rows whose user is gone; with ``since``, with an event since then."""
    rows = UserVersion.objects.filter(~Exists(_users().filter(pk=OuterRef("user_id"))))
    if since is not None:
        recent = OutboxEvent.objects.filter(user_id=OuterRef("user_id"), created_at__gte=since)
        rows = rows.filter(Exists(recent))
    return rows


def user_versions_ensure(*, user_ids: Sequence[int]) -> None:
    """Give version 1 to those of ``user_ids`` that never had an event; bump nobody.

    One ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite: ``INSERT OR IGNORE``) in its own
    short transaction: a live change that already wrote a version keeps it, and one that
    comes after bumps from 1.
    """
    if not user_ids:
        return
    rows = [UserVersion(user_id=user_id, version=1) for user_id in user_ids]
    with transaction.atomic():
        UserVersion.objects.bulk_create(rows, ignore_conflicts=True)


def user_states_read(*, user_ids: Sequence[int]) -> list[UserState]:
    """The users among ``user_ids`` with each one's fields, privileges and version, in ONE
    statement; an excluded user's fields are not kept.

    Users deleted meanwhile are simply absent (their delete travels as a live event). With
    the project's own exclusion rule (REACTIVE_EXCLUDE_USER) whole instances are read, still
    in one statement, for the rule to look at.
    """
    published = fields.published_fields()
    version = UserVersion.objects.filter(user_id=OuterRef("pk")).values("version")[:1]
    users = (
        _users()
        .filter(pk__in=list(user_ids))
        .annotate(**{_VERSION: Subquery(version)})
        .order_by("pk")
    )
    rule = conf.exclude_rule()
    if rule is not None:
        columns = fields.published_columns()
        return [
            _state(
                user.pk,
                getattr(user, _VERSION),
                bool(rule(user)),
                changes.tracked_values(user, columns),
            )
            for user in users
        ]
    privileges = fields.privilege_fields(fields.user_model())
    publish_staff = conf.publish_staff()
    return [
        _state(
            row["pk"],
            row[_VERSION],
            changes.excluded_by_privileges(row, publish_staff),
            {n: changes.field_value(row[n]) for n in published},
        )
        for row in users.values("pk", _VERSION, *privileges, *published)
    ]


def _state(pk: Any, version: int | None, excluded: bool, values: dict[str, Any]) -> UserState:
    """A user's state; an excluded user's fields are not kept."""
    return UserState(
        master_id=int(pk), version=version, excluded=excluded, fields={} if excluded else values
    )


def _tombstone_states(rows: QuerySet[UserVersion]) -> list[UserState]:
    return [
        UserState(master_id=int(user_id), version=int(version), tombstone=True)
        for user_id, version in rows.values_list("user_id", "version")
    ]


def states_after(
    *, after: int, limit: int = DEFAULT_BATCH, since: datetime | None = None
) -> tuple[list[UserState], int | None]:
    """The next batch to send: up to ``limit`` users and tombstones after master id ``after``.

    Version-less users among them are given version 1 first. Returns the states in id order
    and the highest id the batch covers (None: nothing is left).
    """
    user_ids = list(
        users_in_scope(since=since)
        .filter(pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    tombstones = _tombstone_states(
        tombstones_in_scope(since=since).filter(user_id__gt=after).order_by("user_id")[:limit]
    )
    ids = sorted([*user_ids, *(t.master_id for t in tombstones)])[:limit]
    if not ids:
        return [], None
    upto = ids[-1]
    user_ids = [i for i in user_ids if i <= upto]
    user_versions_ensure(user_ids=user_ids)
    states = [*user_states_read(user_ids=user_ids), *(t for t in tombstones if t.master_id <= upto)]
    return sorted(states, key=lambda s: s.master_id), upto


def states_for_ids(*, ids: Iterable[int]) -> tuple[list[UserState], list[int]]:
    """The current state of each of ``ids`` (versions given where missing), for a repair.

    Returns the states in id order and the ids the master knows nothing of.
    """
    wanted = sorted(set(ids))
    user_ids = list(
        users_in_scope().filter(pk__in=wanted).order_by("pk").values_list("pk", flat=True)
    )
    user_versions_ensure(user_ids=user_ids)
    states = [
        *user_states_read(user_ids=user_ids),
        *_tombstone_states(tombstones_in_scope().filter(user_id__in=wanted).order_by("user_id")),
    ]
    found = {s.master_id for s in states}
    return sorted(states, key=lambda s: s.master_id), [i for i in wanted if i not in found]


def states_count(*, after: int = 0, since: datetime | None = None) -> int:
    """How many users and tombstones a backfill from ``after`` has to send."""
    users = users_in_scope(since=since).filter(pk__gt=after).count()
    return users + tombstones_in_scope(since=since).filter(user_id__gt=after).count()


def states_dump(*, chunk: int = 1000) -> Iterator[UserState]:
    """Every user (excluded ones flagged, without fields) and tombstone in id order, without
    giving versions.

    Read-only: what ``users_dump`` prints for ``reactive diff``. Each user's fields and
    version come from one statement; chunks are read after one another.
    """
    after = 0
    while True:
        user_ids = list(
            users_in_scope()
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        tombstones = _tombstone_states(
            tombstones_in_scope().filter(user_id__gt=after).order_by("user_id")[:chunk]
        )
        ids = sorted([*user_ids, *(t.master_id for t in tombstones)])[:chunk]
        if not ids:
            return
        upto = ids[-1]
        users = user_states_read(user_ids=[i for i in user_ids if i <= upto])
        batch = [*users, *(t for t in tombstones if t.master_id <= upto)]
        yield from sorted(batch, key=lambda s: s.master_id)
        after = upto


def users_selected(
    *,
    ids: Sequence[int] = (),
    all_users: bool = False,
    username_regex: str | None = None,
    where: Mapping[str, Any] | None = None,
    joined_since: datetime | None = None,
) -> QuerySet[User]:
    """The users an operator picked for ``republish``: every criterion given must hold.

    ``where`` holds Django lookups on the user model (``{"last_name__startswith": "Sm"}``);
    ``username_regex`` matches its login field (``USERNAME_FIELD``), ``joined_since`` its
    ``date_joined`` (a model without one refuses it). At least one criterion (or
    ``all_users``) is required, so nothing is republished by accident.
    """
    selection.check_chosen(
        all_users=all_users,
        ids=ids,
        username_regex=username_regex,
        where=where,
        joined_since=joined_since,
    )
    users = _users()
    if ids:
        users = users.filter(pk__in=list(ids))
    if username_regex:
        login = fields.login_field(fields.user_model())
        users = users.filter(**{f"{login}__regex": username_regex})
    if where:
        users = users.filter(**where)
    if joined_since is not None:
        if not _has_field("date_joined"):
            raise UsageError("--joined-since: the user model has no date_joined field")
        users = users.filter(date_joined__gte=joined_since)
    return users
