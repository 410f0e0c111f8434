"""What one batch's transaction reads once for all its events, rather than per event."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import models
from django.db.models import F

from reactive_users.client.models import Replica
from reactive_users.core.contract import Envelope


class BatchReads:
    """What one batch's transaction reads once for all its events rather than per event:
    every replica of the batch's users (locked), which usernames no user holds, and (on
    the first name freed) which names no parked user waits for.

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
        free: set[str],
        freeable: set[str],
        *,
        defer_deletes: bool = False,
    ) -> None:
        self._replicas = replicas
        self._free = free
        #: Names the batch's events may free: its users' names now and in its payloads.
        self._freeable = freeable
        self._unwaited: set[str] | None = None  # read on first use: most batches free none
        self.defer_deletes = defer_deletes
        #: Users to delete at the next ``flush``, in the order their events came.
        self._doomed: list[User] = []

    def take(self, master_id: int) -> tuple[bool, Replica | None]:
        """(True, the replica or None if there was none) once per user; then (False, None)."""
        if master_id not in self._replicas:
            return False, None
        return True, self._replicas.pop(master_id)

    def is_free(self, username: str) -> bool:
        """Whether ``username`` is known to be held by no user (False: ask the database)."""
        return username in self._free

    def claim(self, username: str) -> None:
        """An event gave ``username`` to a user."""
        self._free.discard(username)

    def nobody_waits_for(self, username: str) -> bool:
        """Whether no parked user is known to wait for ``username`` (False: ask)."""
        if self._unwaited is None:
            self._unwaited = _unwaited(self._freeable)
        return username in self._unwaited

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
    held = {r.user.username for r in found.values() if r.user is not None}
    named = {name for e in real if isinstance(name := e.user.get("username"), str) and name}
    wanted = named - held  # a user keeping its name needs no check
    # All or nothing: if any user holds one of these names, compare in the database, event
    # by event, rather than in Python (a collation may see equal names Python tells apart).
    taken = bool(wanted) and User.objects.filter(username__in=wanted).exists()
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


def users_delete(users: list[User]) -> None:
    """Delete ``users`` through Django's collector, as ``user.delete()`` deletes one: client
    apps' foreign keys (cascade, set null, protect) and pre/post_delete signals as usual.
    Several go in one pass (``QuerySet.delete``): a handful of statements for them all
    rather than a handful for each."""
    if len(users) == 1:
        users[0].delete()
    elif users:
        User.objects.filter(pk__in=[user.pk for user in users]).delete()


def _unwaited(names: set[str]) -> set[str]:
    """``names`` if no live replica whose user is parked waits for any of them, else none
    (all or nothing, as for free names)."""
    if not names:
        return set()
    waiting = (
        Replica.objects.filter(username__in=names, tombstone=False, user__isnull=False)
        .exclude(user__username=F("username"))
        .exists()
    )
    return set() if waiting else set(names)
