"""The event envelope: the one wire format master, clients and the CLI agree on.

The master builds and encodes envelopes, clients decode and apply them, the CLI builds
synthetic ones and decodes dead letters. Everything here is stdlib-only so that importing
it pulls in neither Django nor boto3 nor typer.

Wire format (JSON object, UTF-8), schema 1::

    {"schema": 1, "event_id": "<uuid4>",
     "action": "created|updated|deleted|snapshot|withdrawn",
     "occurred_at": "<ISO 8601, UTC>", "user_id": <master pk>, "version": <per-user, >= 1>,
     "changed": ["first_name", ...], "synthetic": false,
     "user": {"username": "...", "email": "...", ...allow-listed fields only}}

``created``/``updated``/``deleted`` are live events: the master records them in its outbox
when a user changes, each with the next version, and publishes them to the topic.
``snapshot`` is not a change but a user's full allow-listed state as the master holds it at
its *current* version (``changed`` lists every field of ``user``); ``reactive backfill`` and
``reactive diff --repair`` send snapshots to one client's queue only, beside live events.
A snapshot never takes a version of its own, so clients accept it at the version they
already hold (it repairs same-version drift) and never over a newer one (see
``reactive_users/client/decide.py``). ``snapshot`` was added within schema 1: a decoder older
than it refuses snapshots (``ContractError``), which then wait in the dead-letter queue.

``withdrawn`` says the user left the published set (became staff or superuser while those
are not published: ``reactive_users/master/changes.py``): a client removes its local user as on a
delete and keeps a marker that a re-entry (a later ``updated`` or ``snapshot`` with every
field) lifts. Its ``user`` and ``changed`` are always empty: nothing of an excluded user
leaves the master. The master records it as a live event at the user's next version;
backfill and repair send it at the master's current version. It too was added within
schema 1: a decoder older than it refuses it (``ContractError``), so on a client not yet
upgraded the withdrawal waits in the dead-letter queue (and the user stays live there)
until the client is upgraded and the message is sent back (``reactive dlq redrive``).

A **reset** is a ``snapshot``, ``deleted`` or ``withdrawn`` event that also carries
``"replaces": {"version": <int>, "event_id": "<uuid>" | null}``: the state the operator's
``reactive diff`` saw the client hold (its version and the id of the event that produced it)
and that the master's state must replace, whatever its version. ``reactive diff --repair``
sends one for a replica *ahead* of the master (its version above the master's: a forged or
stray event) and for a user tombstoned on the client but live in the master (a forged
delete). A client applies it only while it still holds exactly that state
(``reactive_users/client/decide.py``), so a copy sent again later (a replay) changes nothing. The
key is present only on a reset; it was added within schema 1: an older decoder refuses the
unknown key (``ContractError``), so on a client not yet upgraded a reset waits in the
dead-letter queue and changes nothing.

Every envelope travels signed by the master (``reactive_users.core.signing``): the signature is a
message attribute, not part of this format.

Decoding is strict: any defect raises ``ContractError`` and nothing else.

**Multi-event messages**, schema 2 (golden form: ``tests/unit/data/multi_event_v2.json``)::

    {"schema": 2, "action": "<the action of every event in it>",
     "events": [{"body": "<one schema-1 envelope, as text>", "signature": "v1:<key id>:<hex>"},
                ...]}

One message carries 1..``MAX_EVENTS_PER_MESSAGE`` events, all of one action (the message's
``action`` message attribute, which subscription filter policies route on, is theirs). Each
event keeps the exact text and the signature it would travel with alone, so a listener
verifies each on its own and can send one poison event to the dead-letter queue as the
single-event message the master would have sent (its body, its ``action`` and its
signature: ``reactive dlq redrive`` sends it back as it is). The message as a whole is
signed too (the attribute, as for one event), so nothing of an unsigned message is parsed,
and a decoder of schema 1 only refuses it with ``unknown schema version 2``.
``decode_message`` reads both schemas; ``decode_sqs_body`` still reads only schema 1.
Outer defects (unknown or missing keys, wrong types, an empty or too long list) refuse the
whole message; ``MultiEvent.event(i)`` decodes one event strictly, and refuses it alone
(a malformed envelope, another action than the message's: mixed kinds).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from reactive_users.core.errors import ContractError

__all__ = [
    "DEFAULT_USER_FIELDS",
    "MAX_BODY_BYTES",
    "SCHEMA_VERSION",
    "Action",
    "ContractError",
    "Envelope",
    "FieldValue",
    "MultiEvent",
    "Part",
    "Replaced",
    "decode",
    "decode_message",
    "decode_sqs_body",
    "encode",
    "encode_multi",
    "new_event",
]

#: Version of the wire format; a decoder refuses any other.
SCHEMA_VERSION = 1
#: Largest encoded envelope we accept, in bytes (SNS allows 256 KiB; users are small).
MAX_BODY_BYTES = 16 * 1024
#: Version of the multi-event message format (its events are schema-1 envelopes).
MULTI_SCHEMA_VERSION = 2
#: Largest multi-event message accepted, in bytes: SNS's and SQS's limit on one message.
MAX_MESSAGE_BYTES = 256 * 1024
#: Most events one multi-event message may carry.
MAX_EVENTS_PER_MESSAGE = 1000
#: Longest signature text an event of a multi-event message may carry.
MAX_SIGNATURE_CHARS = 200
#: Largest text value of one user field, in characters.
MAX_VALUE_CHARS = 1024
#: Most fields a payload may carry.
MAX_FIELDS = 32
#: Fields that leave the master unless configured otherwise (an allow-list).
DEFAULT_USER_FIELDS: tuple[str, ...] = ("username", "email", "first_name", "last_name", "is_active")

FieldValue = str | int | bool | None
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_WIRE_KEYS = frozenset(
    {
        "schema",
        "event_id",
        "action",
        "occurred_at",
        "user_id",
        "version",
        "changed",
        "synthetic",
        "user",
    }
)
#: Keys present only on some envelopes: ``replaces`` on a reset.
_OPTIONAL_KEYS = frozenset({"replaces"})
#: The actions a reset may carry: the master's state is a user, a tombstone or a withdrawal.
RESET_ACTIONS = frozenset({"snapshot", "deleted", "withdrawn"})


class Action(StrEnum):
    """What happened to the user in the master (or, for a snapshot, what it is now)."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    #: The full allow-listed state at the master's current version (backfill and repair).
    SNAPSHOT = "snapshot"
    #: The user left the published set: clients remove it; ``user`` and ``changed`` are empty.
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, kw_only=True)
class Replaced:
    """The client state a reset replaces: its version, and the event that produced it (None:
    the client recorded none)."""

    version: int
    event_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        _check(_is_int(self.version) and self.version >= 1, "replaces.version must be >= 1")
        _check(
            self.event_id is None or isinstance(self.event_id, uuid.UUID),
            "replaces.event_id must be a UUID or null",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "event_id": None if self.event_id is None else str(self.event_id),
        }


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """One user event, validated at construction."""

    event_id: uuid.UUID
    action: Action
    occurred_at: datetime
    user_id: int
    version: int
    changed: tuple[str, ...]
    user: Mapping[str, FieldValue]
    synthetic: bool = False
    schema: int = field(default=SCHEMA_VERSION)
    #: Set on a reset only: the client state it replaces.
    replaces: Replaced | None = None

    def __post_init__(self) -> None:
        # Messages are formatted only for a defect: an event is checked on every receive.
        if self.schema != SCHEMA_VERSION:
            raise ContractError(f"unknown schema version {self.schema!r}")
        _check(isinstance(self.event_id, uuid.UUID), "event_id must be a UUID")
        if not isinstance(self.action, Action):
            raise ContractError(f"unknown action {self.action!r}")
        _check(
            isinstance(self.occurred_at, datetime) and self.occurred_at.tzinfo is not None,
            "occurred_at must be a timezone-aware datetime",
        )
        _check(_is_int(self.user_id) and self.user_id >= 1, "user_id must be an integer >= 1")
        _check(_is_int(self.version) and self.version >= 1, "version must be an integer >= 1")
        _check(isinstance(self.synthetic, bool), "synthetic must be a boolean")
        _check(isinstance(self.changed, tuple), "changed must be a tuple of field names")
        for name in self.changed:
            _check_field_name(name)
        _check(isinstance(self.user, Mapping), "user must be an object")
        if len(self.user) > MAX_FIELDS:
            raise ContractError(f"user has more than {MAX_FIELDS} fields")
        for name, value in self.user.items():
            _check_field_name(name)
            _check_value(name, value)
        if self.action is Action.WITHDRAWN and (self.user or self.changed):
            raise ContractError("a withdrawn event carries no fields: user and changed are empty")
        if self.replaces is not None:
            _check(isinstance(self.replaces, Replaced), "replaces must be a Replaced")
            _check(
                self.action.value in RESET_ACTIONS and not self.synthetic,
                "only a snapshot, deleted or withdrawn event can be a reset",
            )
        # Freeze the payload so that an envelope can be shared safely.
        object.__setattr__(self, "user", MappingProxyType(dict(self.user)))

    @property
    def reset(self) -> bool:
        """Whether this is a reset: the master's state replaces the one named, whatever its
        version."""
        return self.replaces is not None

    @property
    def username(self) -> str:
        """The username in the payload, or "" when the payload does not carry one."""
        value = self.user.get("username")
        return value if isinstance(value, str) else ""

    def to_dict(self) -> dict[str, Any]:
        """The envelope as the JSON-ready dict that goes on the wire."""
        wire: dict[str, Any] = {
            "schema": self.schema,
            "event_id": str(self.event_id),
            "action": self.action.value,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "user_id": self.user_id,
            "version": self.version,
            "changed": list(self.changed),
            "synthetic": self.synthetic,
            "user": dict(self.user),
        }
        if self.replaces is not None:
            wire["replaces"] = self.replaces.to_dict()
        return wire


def new_event(
    *,
    action: Action,
    user_id: int,
    version: int,
    user: Mapping[str, FieldValue],
    changed: tuple[str, ...] = (),
    synthetic: bool = False,
    occurred_at: datetime | None = None,
    replaces: Replaced | None = None,
) -> Envelope:
    """Build an envelope with a fresh event id, stamped now unless told otherwise."""
    return Envelope(
        event_id=uuid.uuid4(),
        action=action,
        occurred_at=occurred_at or datetime.now(UTC),
        user_id=user_id,
        version=version,
        changed=changed,
        user=user,
        synthetic=synthetic,
        replaces=replaces,
    )


def encode(envelope: Envelope) -> str:
    """Serialise an envelope to its compact JSON wire form."""
    text = json.dumps(envelope.to_dict(), separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_BODY_BYTES:
        raise ContractError(f"event {envelope.event_id} is larger than {MAX_BODY_BYTES} bytes")
    return text


@dataclass(frozen=True)
class Part:
    """One event of a multi-event message: its envelope's exact text and its signature."""

    body: str
    signature: str


@dataclass(frozen=True)
class MultiEvent:
    """A decoded multi-event message: its action and its events, each not yet decoded."""

    action: Action
    parts: tuple[Part, ...]

    def event(self, index: int) -> Envelope:
        """Event ``index``, decoded strictly; ``ContractError`` refuses it alone."""
        event = decode(self.parts[index].body)
        if event.action is not self.action:
            raise ContractError(
                f"mixed kinds: a {event.action.value} event in a message of "
                f"{self.action.value} events"
            )
        return event


def encode_multi(action: Action, parts: Sequence[Part]) -> str:
    """Serialise a multi-event message (the events already encoded and signed)."""
    message = MultiEvent(action=action, parts=tuple(parts))
    _check_multi(message)
    wire = {
        "schema": MULTI_SCHEMA_VERSION,
        "action": action.value,
        "events": [{"body": p.body, "signature": p.signature} for p in message.parts],
    }
    text = json.dumps(wire, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise ContractError(f"message of {len(parts)} events is larger than {MAX_MESSAGE_BYTES}")
    return text


def decode_message(body: str) -> Envelope | MultiEvent:
    """Decode an SQS message body, raw or wrapped by SNS: one event (schema 1) or a
    multi-event message (schema 2)."""
    if len(body) > 4 * MAX_MESSAGE_BYTES:
        raise ContractError(f"body is {len(body)} characters, far more than a message")
    obj = _parse(body)
    if isinstance(obj, dict) and obj.get("Type") == "Notification" and "Message" in obj:
        body = obj["Message"]
        if not isinstance(body, str):
            raise ContractError("SNS notification whose Message is not a string")
        obj = _parse(body)
    if isinstance(obj, dict) and obj.get("schema") == MULTI_SCHEMA_VERSION:
        if len(body.encode()) > MAX_MESSAGE_BYTES:
            raise ContractError(f"message is more than {MAX_MESSAGE_BYTES} bytes")
        return _multi_from_dict(obj)
    return _decode(body, obj)


def _parse(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # RecursionError: nested too deep
        raise ContractError(f"not an event: invalid JSON: {e}") from e


_MULTI_KEYS = frozenset({"schema", "action", "events"})
_PART_KEYS = frozenset({"body", "signature"})


def _multi_from_dict(obj: dict[str, Any]) -> MultiEvent:
    missing = sorted(_MULTI_KEYS - obj.keys())
    unknown = sorted(obj.keys() - _MULTI_KEYS)
    if missing:
        raise ContractError(f"multi-event message: missing keys: {', '.join(missing)}")
    if unknown:
        raise ContractError(f"multi-event message: unknown keys: {', '.join(unknown)}")
    _check(isinstance(obj["action"], str), "multi-event message: action must be a string")
    try:
        action = Action(obj["action"])
    except ValueError:
        raise ContractError(f"multi-event message: unknown action {obj['action']!r}") from None
    events = obj["events"]
    _check(isinstance(events, list), "multi-event message: events must be a list")
    parts: list[Part] = []
    for index, item in enumerate(events[: MAX_EVENTS_PER_MESSAGE + 1]):
        _check(
            isinstance(item, dict) and item.keys() == _PART_KEYS,
            f"multi-event message: event {index} must be {{body, signature}}",
        )
        _check(
            isinstance(item["body"], str) and isinstance(item["signature"], str),
            f"multi-event message: event {index}: body and signature must be strings",
        )
        parts.append(Part(body=item["body"], signature=item["signature"]))
    message = MultiEvent(action=action, parts=tuple(parts))
    _check_multi(message)
    return message


def _check_multi(message: MultiEvent) -> None:
    _check(isinstance(message.action, Action), "multi-event message: unknown action")
    _check(bool(message.parts), "multi-event message: no events")
    if len(message.parts) > MAX_EVENTS_PER_MESSAGE:
        raise ContractError(f"multi-event message: more than {MAX_EVENTS_PER_MESSAGE} events")
    for index, part in enumerate(message.parts):
        _check(
            len(part.signature) <= MAX_SIGNATURE_CHARS,
            f"multi-event message: event {index}: signature longer than "
            f"{MAX_SIGNATURE_CHARS} characters",
        )


#: What parsing and building an envelope from untrusted input may raise besides ContractError.
_DEFECTS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError)


def decode(data: str | bytes) -> Envelope:
    """Parse and validate one wire envelope; every defect becomes a ``ContractError``."""
    return _decode(data, None)


def decode_sqs_body(body: str) -> Envelope:
    """Decode an SQS message body holding an envelope, raw or wrapped by SNS."""
    if len(body) > 4 * MAX_BODY_BYTES:
        raise ContractError(f"body is {len(body)} characters, far more than an event")
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError) as e:  # RecursionError: nested too deep
        raise ContractError(f"not an event: invalid JSON: {e}") from e
    if isinstance(obj, dict) and obj.get("Type") == "Notification" and "Message" in obj:
        message = obj["Message"]
        if not isinstance(message, str):
            raise ContractError("SNS notification whose Message is not a string")
        return decode(message)
    return _decode(body, obj)  # raw delivery: the body is the envelope, parsed once


def _decode(data: str | bytes, parsed: object) -> Envelope:
    """``decode(data)``; ``parsed``: ``data`` already parsed as JSON (None: not yet)."""
    try:
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > MAX_BODY_BYTES:
            raise ContractError(f"body is {len(raw)} bytes, more than {MAX_BODY_BYTES}")
        return _from_dict(json.loads(raw) if parsed is None else parsed)
    except ContractError:
        raise
    except _DEFECTS as e:
        raise ContractError(f"not an event: {type(e).__name__}: {e}") from e


def _from_dict(obj: object) -> Envelope:
    if not isinstance(obj, dict):
        raise ContractError(f"not an event: expected a JSON object, got {type(obj).__name__}")
    if "schema" not in obj:
        raise ContractError("not an event: no 'schema' key")
    if obj["schema"] != SCHEMA_VERSION:
        raise ContractError(f"unknown schema version {obj['schema']!r} (this code reads 1)")
    missing = sorted(_WIRE_KEYS - obj.keys())
    unknown = sorted(obj.keys() - _WIRE_KEYS - _OPTIONAL_KEYS)
    if missing:
        raise ContractError(f"missing keys: {', '.join(missing)}")
    if unknown:
        raise ContractError(f"unknown keys: {', '.join(unknown)}")
    _check(isinstance(obj["event_id"], str), "event_id must be a string")
    _check(isinstance(obj["action"], str), "action must be a string")
    _check(isinstance(obj["occurred_at"], str), "occurred_at must be a string")
    _check(isinstance(obj["changed"], list), "changed must be a list")
    _check(all(isinstance(n, str) for n in obj["changed"]), "changed must hold strings")
    try:
        action = Action(obj["action"])
    except ValueError:
        raise ContractError(f"unknown action {obj['action']!r}") from None
    return Envelope(
        schema=obj["schema"],
        event_id=uuid.UUID(obj["event_id"]),
        action=action,
        occurred_at=datetime.fromisoformat(obj["occurred_at"]),
        user_id=obj["user_id"],
        version=obj["version"],
        changed=tuple(obj["changed"]),
        synthetic=obj["synthetic"],
        user=obj["user"],
        replaces=_replaced(obj["replaces"]) if "replaces" in obj else None,
    )


def _replaced(obj: object) -> Replaced:
    _check(
        isinstance(obj, dict) and set(obj) == {"version", "event_id"},
        "replaces must be {version, event_id}",
    )
    assert isinstance(obj, dict)
    event_id = obj["event_id"]
    _check(event_id is None or isinstance(event_id, str), "replaces.event_id must be a string")
    return Replaced(
        version=obj["version"], event_id=None if event_id is None else uuid.UUID(event_id)
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value < 2**63


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def _check_field_name(name: object) -> None:
    if not (isinstance(name, str) and _FIELD_NAME.match(name)):
        raise ContractError(f"bad field name {name!r}")


def _check_value(name: str, value: object) -> None:
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise ContractError(f"{name} is longer than {MAX_VALUE_CHARS} chars")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not _is_int(value):
            raise ContractError(f"{name} is out of range")
    elif not (value is None or isinstance(value, bool)):
        raise ContractError(f"{name} has an unsupported type")
