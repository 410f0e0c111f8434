"""Reads of replicated users: which fields are replicated, a user's current stream state,
every replica as ``reactive diff`` compares it with the master, and what ``reactive status``
counts (users holding values cut to this client's limits)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User

from client import conf
from client.replica import frames, limits
from client.replica.models import Replica
from reactive_cli.contract import FieldValue


def replicated_field_names() -> tuple[str, ...]:
    """The allow-listed user fields (REACTIVE_USER_FIELDS) that exist on this client's User."""
    model_fields = {f.name for f in User._meta.concrete_fields}
    return tuple(name for name in conf.shared().user_fields if name in model_fields)


def replicated_fields(user: User) -> dict[str, FieldValue]:
    """The user's replicated field values, as this client holds them."""
    return {name: _plain(getattr(user, name)) for name in replicated_field_names()}


@dataclass(frozen=True)
class ReplicaState:
    """What a live replicated user's socket starts from."""

    master_id: int
    version: int
    user: dict[str, FieldValue] = field(default_factory=dict)

    def frame(self) -> frames.Frame:
        """The ``state`` frame sent on (re)connect."""
        return frames.state_frame(version=self.version, user=self.user)


def replica_state_for_user(*, user: User) -> ReplicaState | None:
    """The stream state of ``user``; None unless it is a live (non-tombstoned) replica."""
    if not user.pk:
        return None
    # Read the user afresh: the one in a socket's scope may be older than the database.
    replica = (
        Replica.objects.select_related("user").filter(user_id=user.pk, tombstone=False).first()
    )
    if replica is None or replica.user is None:
        return None
    return ReplicaState(replica.master_id, replica.version, replicated_fields(replica.user))


def replica_records(*, chunk_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every replica in master id order, as ``replica_dump`` prints it for ``reactive diff``.

    ``{"master_id", "version", "tombstone", "fields"}``: ``fields`` are the replicated
    fields the local user holds; ``{}`` for a tombstone; None for a live replica whose local
    user is gone (deleted by hand on this client). A replica holding values cut to this
    client's limits also has ``"truncated": {field: limit}``.
    """
    replicas = Replica.objects.select_related("user").order_by("master_id")
    for replica in replicas.iterator(chunk_size=chunk_size):
        fields: dict[str, FieldValue] | None = {}
        if not replica.tombstone:
            fields = replicated_fields(replica.user) if replica.user is not None else None
        record: dict[str, Any] = {
            "master_id": replica.master_id,
            "version": replica.version,
            "tombstone": replica.tombstone,
            "fields": fields,
        }
        if replica.truncated:
            record["truncated"] = limits.split(replica.truncated)
        yield record


def replica_truncation() -> dict[str, Any]:
    """``{"replicas", "truncated_users", "truncated_fields": {field: users}}``: live
    replicas, and those holding values cut to this client's limits (``replica_stats``)."""
    live = Replica.objects.filter(tombstone=False)
    cut = list(live.exclude(truncated="").values_list("truncated", flat=True))
    fields: dict[str, int] = {}
    for stored in cut:
        for name in limits.split(stored):
            fields[name] = fields.get(name, 0) + 1
    return {"replicas": live.count(), "truncated_users": len(cut), "truncated_fields": fields}


def _plain(value: object) -> FieldValue:
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
