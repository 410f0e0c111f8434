"""Reads of replicated users: which fields are replicated, a user's current stream state,
every replica as ``reactive diff`` compares it with the master, what ``reactive status``
counts (users holding values cut to this client's limits), and what the database holds
about a socket's credentials."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.utils.crypto import constant_time_compare

from reactive_users.client import fieldmap, frames, limits, tokens
from reactive_users.client.credentials import (
    Credentials,
    Facts,
    SessionCredentials,
    TokenCredentials,
)
from reactive_users.client.models import Replica, TokenGeneration
from reactive_users.core.contract import FieldValue

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser as User


def replicated_field_names() -> tuple[str, ...]:
    """This client's user fields that master fields are mapped to (``fieldmap.py``)."""
    return fieldmap.mapped_fields()


def replicated_fields(user: User, *, by_master: bool = False) -> dict[str, FieldValue]:
    """The user's replicated field values, as this client holds them, named by this
    client's fields (the page, the sockets) or, ``by_master``, by the master's (``diff``)."""
    return {
        (master if by_master else local): _plain(getattr(user, local))
        for master, local in fieldmap.field_map().items()
    }


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

    ``{"master_id", "version", "tombstone", "withdrawn", "fields", "event_id"}`` (``event_id``:
    the last applied event, what a reset names; null if none recorded): ``fields`` are the
    replicated fields the local user holds; ``{}`` for a tombstone or a withdrawn marker;
    None for a live replica whose local user is gone (deleted by hand on this client). A
    replica holding values cut to this client's limits also has ``"truncated": {field: limit}``.
    """
    replicas = Replica.objects.select_related("user").order_by("master_id")
    for replica in replicas.iterator(chunk_size=chunk_size):
        fields: dict[str, FieldValue] | None = {}
        if not (replica.tombstone or replica.withdrawn):
            user = replica.user
            fields = replicated_fields(user, by_master=True) if user is not None else None
        record: dict[str, Any] = {
            "master_id": replica.master_id,
            "version": replica.version,
            "tombstone": replica.tombstone,
            "withdrawn": replica.withdrawn,
            "fields": fields,
            "event_id": str(replica.last_event_id) if replica.last_event_id else None,
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


def token_generation(*, user_id: int) -> int:
    """The user's token generation: a token issued at another one no longer holds."""
    value = TokenGeneration.objects.filter(user_id=user_id).values_list("value", flat=True)
    return value.first() or 0


def credential_facts(held: Sequence[Credentials]) -> list[Facts]:
    """What the database holds now about each socket's session or token, in three queries
    whatever their number (database sessions)."""
    keys = [c.session_key for c in held if isinstance(c, SessionCredentials)]
    sessions = Session.objects.in_bulk(keys)
    users = get_user_model()._default_manager.in_bulk({c.user_id for c in held})
    token_users = {c.user_id for c in held if not isinstance(c, SessionCredentials)}
    generations = dict(
        TokenGeneration.objects.filter(user_id__in=token_users).values_list("user_id", "value")
    )
    return [
        _session_facts(c, sessions.get(c.session_key), users.get(c.user_id))
        if isinstance(c, SessionCredentials)
        else _token_facts(c, generations.get(c.user_id, 0), users.get(c.user_id))
        for c in held
    ]


def _session_facts(held: SessionCredentials, row: Session | None, user: User | None) -> Facts:
    data: dict[str, Any] = row.get_decoded() if row is not None else {}
    return Facts(
        signed_in=row is not None and str(data.get(SESSION_KEY)) == str(held.user_id),
        expires_at=row.expire_date.timestamp() if row is not None else None,
        user_active=user is not None and user.is_active,
        password_unchanged=user is not None and _hash_holds(data.get(HASH_SESSION_KEY), user),
    )


def _token_facts(held: TokenCredentials, generation: int, user: User | None) -> Facts:
    return Facts(
        signed_in=generation == held.generation,
        expires_at=held.expires_at,
        user_active=user is not None and user.is_active,
        password_unchanged=user is not None
        and constant_time_compare(tokens.credential_stamp(user), held.stamp),
    )


def _hash_holds(session_hash: object, user: User) -> bool:
    """Django's check of a session's auth hash (``auth.get_user``), fallback secrets included."""
    if not isinstance(session_hash, str) or not session_hash:
        return False
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, known) for known in hashes)


def _plain(value: object) -> FieldValue:
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
