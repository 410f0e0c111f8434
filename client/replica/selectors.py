"""Reads of replicated users: which fields are replicated, a user's current stream state, and
every replica as ``reactive diff`` compares it with the master."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User

from client import conf
from client.replica import frames
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

    ``{"master_id", "version", "tombstone", "withdrawn", "fields"}``: ``fields`` are the
    replicated fields the local user holds; ``{}`` for a tombstone or a withdrawn marker;
    None for a live replica whose local user is gone (deleted by hand on this client).
    """
    replicas = Replica.objects.select_related("user").order_by("master_id")
    for replica in replicas.iterator(chunk_size=chunk_size):
        fields: dict[str, FieldValue] | None = {}
        if not (replica.tombstone or replica.withdrawn):
            fields = replicated_fields(replica.user) if replica.user is not None else None
        yield {
            "master_id": replica.master_id,
            "version": replica.version,
            "tombstone": replica.tombstone,
            "withdrawn": replica.withdrawn,
            "fields": fields,
        }


def _plain(value: object) -> FieldValue:
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
