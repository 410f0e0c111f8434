"""What one batch's transaction reads once for all its events, rather than per event."""

from __future__ import annotations

import functools
import operator
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import F, Q

from reactive_users.client import fieldmap
from reactive_users.client.models import PLACEHOLDER, Replica
from reactive_users.core.contract import Envelope

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser as User

#: A value of one unique user field: (field, value), e.g. ("username", "ana").
Unique = tuple[str, str]


class BatchReads:
    """What one batch's transaction reads once for all its events rather than per event:
    every replica of the batch's users (locked), which unique values (usernames, unique
    emails: ``fieldmap.unique_fields``) no user holds, and (on the first value freed) which
    values no parked user waits for.

    A replica is used once, by the first event of its user in the batch; later events of
    that user read it again (an earlier one changed it). A name stays known free until an
    event gives it to a user. That holds as long as nothing but the batch's own events
    writes these rows, and each event writes only its own user's rows, except where it
    parks or unparks another user: that, and any failed event, drops everything known
    here, and reads go back to the database.

    With ``defer_deletes`` it also holds the local users the batch deletes whose names no
    parked user waits for (their replicas already tombstones), and deletes them all at once
    (``flush``): before any read the batch's own reads do not answer, and at its end.
    """

    def __init__(
        self,
        replicas: dict[int, Replica | None],
        free: set[Unique],
        freeable: set[Unique],
        *,
        defer_deletes: bool = False,
    ) -> None:
        self._replicas = replicas
        self._free = free
        #: Values the batch's events may free: its users' values now and in its payloads.
        self._freeable = freeable
        self._unwaited: set[Unique] | None = None  # read on first use: most batches free none
        self.defer_deletes = defer_deletes
        #: Users to delete at the next ``flush``, in the order their events came.
        self._doomed: list[User] = []

    def take(self, master_id: int) -> tuple[bool, Replica | None]:
        """(True, the replica or None if there was none) once per user; then (False, None)."""
        if master_id not in self._replicas:
            return False, None
        return True, self._replicas.pop(master_id)

    def is_free(self, field: str, value: str) -> bool:
        """Whether ``value`` is known to be held by no user (False: ask the database)."""
        return (field, value) in self._free

    def claim(self, field: str, value: str) -> None:
        """An event gave ``value`` of ``field`` to a user."""
        self._free.discard((field, value))

    def nobody_waits_for(self, field: str, value: str) -> bool:
        """Whether no parked user is known to wait for ``value`` of ``field`` (False: ask)."""
        if self._unwaited is None:
            self._unwaited = _unwaited(self._freeable)
        return (field, value) in self._unwaited

    def forget(self) -> None:
        """Another user's rows were written, or an event failed: read from the database.

        Users waiting in ``delete_later`` are still deleted at the next ``flush``."""
        self._replicas.clear()
        self._free.clear()
        self._unwaited = set()

    def delete_later(self, user: User) -> None:
        """Delete ``user`` at the next ``flush`` (its replica is already a tombstone)."""
        self._doomed.append(user)

    def flush(self) -> int:
        """Delete the users ``delete_later`` kept; how many. Call it before the transaction
        ends, and before reading what a deleted user could change (``read_database``)."""
        doomed, self._doomed = self._doomed, []
        users_delete(doomed)
        return len(doomed)


def batch_reads(*, events: Iterable[Envelope], defer_deletes: bool = False) -> BatchReads:
    """Read what ``events`` will need, in one or two queries; call it inside the batch's
    transaction, before the first ``event_apply(event=..., batch=...)``.

    ``defer_deletes``: the batch's deletes of local users wait for ``BatchReads.flush``,
    which the caller must call before the transaction commits (``apply_batch`` does).

    Replica rows are locked (PostgreSQL) in master id order, the order in which
    ``apply_batch`` applies a batch, so competing listeners still cannot deadlock on them.
    """
    real = [e for e in events if not e.synthetic]
    ids = sorted({e.user_id for e in real})
    replicas = replicas_for_update().filter(master_id__in=ids).order_by("master_id")
    found = {r.master_id: r for r in replicas}
    uniques = fieldmap.unique_fields()
    held: set[Unique] = {
        (field, value)
        for r in found.values()
        if r.user is not None
        for field in uniques
        if isinstance(value := getattr(r.user, field), str)
    }
    named: set[Unique] = {
        (field, value)
        for e in real
        for field in uniques
        if isinstance(value := e.user.get(fieldmap.master_name(field)), str) and value
    }
    wanted = named - held  # a user keeping its value needs no check
    # All or nothing: if any user holds one of these values, compare in the database, event
    # by event, rather than in Python (a collation may see equal values Python tells apart).
    taken = bool(wanted) and _users_holding(wanted).exists()
    free = set() if taken else wanted
    return BatchReads(
        {i: found.get(i) for i in ids}, free, freeable=held | named, defer_deletes=defer_deletes
    )


def replicas_for_update() -> models.QuerySet[Replica]:
    """Replicas with their users in the same query, the replica rows locked.

    Only the replica rows: a user row is locked when it is written, as before the join.
    """
    return Replica.objects.select_for_update(of=("self",)).select_related("user")


def read_database(batch: BatchReads | None) -> None:
    """About to read users or replicas from the database: deletes kept for later go first,
    so that the read sees what deleting them one by one would have left."""
    if batch is not None:
        batch.flush()


def waiting_for(field: str, values: Collection[str]) -> Q:
    """Replicas (with a live user) waiting, parked, for one of ``values`` of ``field``:
    the wanted username is a column of its own (indexed), any other unique value is in
    ``Replica.wanted`` and its holder keeps a placeholder meanwhile."""
    if field == "username":
        return Q(username__in=values) & ~Q(user__username=F("username"))
    parked = {f"wanted__{field}__in": list(values), f"user__{field}__startswith": PLACEHOLDER}
    return Q(**parked)


def users_delete(users: list[User]) -> None:
    """Delete ``users`` through Django's collector, as ``user.delete()`` deletes one: client
    apps' foreign keys (cascade, set null, protect) and pre/post_delete signals as usual.
    Several go in one pass (``QuerySet.delete``): a handful of statements for them all
    rather than a handful for each."""
    if len(users) == 1:
        users[0].delete()
    elif users:
        get_user_model()._default_manager.filter(pk__in=[user.pk for user in users]).delete()


def _by_field(values: set[Unique]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for field, value in sorted(values):
        grouped.setdefault(field, []).append(value)
    return grouped


def _users_holding(values: set[Unique]) -> models.QuerySet[User]:
    """The users holding any of ``values``: one query, whatever the number of fields."""
    held = [Q(**{f"{field}__in": names}) for field, names in _by_field(values).items()]
    return get_user_model()._default_manager.filter(functools.reduce(operator.or_, held))


def _unwaited(values: set[Unique]) -> set[Unique]:
    """``values`` if no live replica whose user is parked waits for any of them, else none
    (all or nothing, as for free values)."""
    if not values:
        return set()
    waits = [waiting_for(field, names) for field, names in _by_field(values).items()]
    waiting = (
        Replica.objects.filter(tombstone=False, user__isnull=False)
        .filter(functools.reduce(operator.or_, waits))
        .exists()
    )
    return set() if waiting else set(values)
