"""The event envelope: the golden wire format, strict decoding, and one error type."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from reactive_users.core.contract import (
    MAX_BODY_BYTES,
    MAX_VALUE_CHARS,
    Action,
    ContractError,
    Envelope,
    Replaced,
    decode,
    decode_sqs_body,
    encode,
    new_event,
)

GOLDEN = Path(__file__).parent / "data" / "envelope_v1.json"
#: A snapshot (backfill, repair): the same schema, a fourth action, every field in "changed".
GOLDEN_SNAPSHOT = Path(__file__).parent / "data" / "envelope_v1_snapshot.json"
#: A withdrawal (the user left the published set): the same schema, a fifth action, no fields.
GOLDEN_WITHDRAWN = Path(__file__).parent / "data" / "envelope_v1_withdrawn.json"


def golden_envelope() -> Envelope:
    return Envelope(
        event_id=uuid.UUID("0b6f3a52-6a7e-4c1e-9a57-2f4d5c0e8a11"),
        action=Action.UPDATED,
        occurred_at=datetime(2026, 11, 23, 19, 30, 0, 123456, tzinfo=UTC),
        user_id=42,
        version=7,
        changed=("first_name", "username"),
        user={
            "username": "ana.maria+test@example.com",
            "email": "ana@example.com",
            "first_name": "Ana",
            "last_name": "Maria",
            "is_active": True,
        },
    )


def golden_dict() -> dict:
    return json.loads(GOLDEN.read_text())


def test_encode_produces_the_golden_wire_format():
    assert json.loads(encode(golden_envelope())) == golden_dict()


def test_decode_accepts_the_golden_wire_format():
    assert decode(GOLDEN.read_bytes()) == golden_envelope()


def golden_snapshot() -> Envelope:
    return Envelope(
        event_id=uuid.UUID("5d1c2f0e-93b4-4f7a-8c6e-1a2b3c4d5e6f"),
        action=Action.SNAPSHOT,
        occurred_at=datetime(2026, 11, 24, 8, 15, tzinfo=UTC),
        user_id=42,
        version=7,
        changed=("username", "email", "first_name", "last_name", "is_active"),
        user={
            "username": "ana.maria+test@example.com",
            "email": "ana@example.com",
            "first_name": "Ana",
            "last_name": "Maria",
            "is_active": True,
        },
    )


def test_a_snapshot_encodes_to_its_golden_wire_format():
    assert json.loads(encode(golden_snapshot())) == json.loads(GOLDEN_SNAPSHOT.read_text())


def test_a_snapshot_decodes_from_its_golden_wire_format():
    assert decode(GOLDEN_SNAPSHOT.read_bytes()) == golden_snapshot()


def golden_withdrawn() -> Envelope:
    return Envelope(
        event_id=uuid.UUID("9e2b7c41-0d3a-4f8e-b6a5-3c1d2e4f5a6b"),
        action=Action.WITHDRAWN,
        occurred_at=datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
        user_id=42,
        version=8,
        changed=(),
        user={},
    )


def test_a_withdrawal_encodes_to_its_golden_wire_format():
    assert json.loads(encode(golden_withdrawn())) == json.loads(GOLDEN_WITHDRAWN.read_text())


def test_a_withdrawal_decodes_from_its_golden_wire_format():
    assert decode(GOLDEN_WITHDRAWN.read_bytes()) == golden_withdrawn()
    assert decode(encode(golden_withdrawn())) == golden_withdrawn()


@pytest.mark.parametrize(
    ("user", "changed"),
    [({"username": "ana"}, ()), ({}, ("username",)), ({"is_active": False}, ("is_active",))],
)
def test_a_withdrawal_carrying_any_field_is_refused_built_or_decoded(user, changed):
    # Nothing of an excluded user leaves the master: the envelope itself refuses it.
    with pytest.raises(ContractError, match="a withdrawn event carries no fields"):
        new_event(action=Action.WITHDRAWN, user_id=1, version=2, user=user, changed=changed)
    body = json.loads(GOLDEN_WITHDRAWN.read_text()) | {"user": user, "changed": list(changed)}
    with pytest.raises(ContractError, match="a withdrawn event carries no fields"):
        decode(json.dumps(body))


def test_the_actions_on_the_wire_are_exactly_these():
    # Each one added within schema 1 is refused by older decoders (see the module docstring).
    assert [a.value for a in Action] == ["created", "updated", "deleted", "snapshot", "withdrawn"]


def test_encode_then_decode_round_trips():
    event = new_event(action=Action.CREATED, user_id=1, version=1, user={"username": "x"})
    assert decode(encode(event)) == event


def test_occurred_at_is_encoded_in_utc():
    event = new_event(
        action=Action.CREATED,
        user_id=1,
        version=1,
        user={"username": "x"},
        occurred_at=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert json.loads(encode(event))["occurred_at"] == "2026-01-01T10:00:00+00:00"


def test_payload_is_frozen():
    event = golden_envelope()
    with pytest.raises(TypeError):
        event.user["username"] = "mallory"  # type: ignore[index]


def _mutated(**changes) -> bytes:
    obj = golden_dict()
    for key, value in changes.items():
        if value is KeyError:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not an event"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"hello": "world"}', "no 'schema' key"),
        (_mutated(schema=2), "unknown schema version 2"),
        (_mutated(schema="1"), "unknown schema version '1'"),
        (_mutated(version=KeyError), "missing keys: version"),
        (_mutated(extra=1), "unknown keys: extra"),
        (_mutated(action="renamed"), "unknown action 'renamed'"),
        (_mutated(event_id="not-a-uuid"), "not an event"),
        (_mutated(event_id=5), "event_id must be a string"),
        (_mutated(occurred_at="yesterday"), "not an event"),
        (_mutated(occurred_at="2026-11-23T19:30:00"), "timezone-aware"),
        (_mutated(user_id="42"), "user_id must be an integer"),
        (_mutated(user_id=0), "user_id must be an integer >= 1"),
        (_mutated(user_id=True), "user_id must be an integer"),
        (_mutated(version=0), "version must be an integer >= 1"),
        (_mutated(version=2**70), "version must be an integer"),
        (_mutated(synthetic="no"), "synthetic must be a boolean"),
        (_mutated(changed="first_name"), "changed must be a list"),
        (_mutated(changed=[1]), "changed must hold strings"),
        (_mutated(changed=["Robert'); DROP"]), "bad field name"),
        (_mutated(user=[]), "user must be an object"),
        (_mutated(user={"username": {"nested": 1}}), "unsupported type"),
        (_mutated(user={"username": "x" * (MAX_VALUE_CHARS + 1)}), "longer than"),
        (_mutated(user={f"f{i}": 1 for i in range(40)}), "more than 32 fields"),
        (b"{" * 100_000, "bytes, more than"),
        (b'{"schema": 1' + b" " * MAX_BODY_BYTES + b"}", "bytes, more than"),
        (b"\xff\xfe", "not an event"),
    ],
)
def test_malformed_bodies_raise_one_contract_error(body, reason):
    with pytest.raises(ContractError, match=reason.replace("(", r"\(").replace("'", "'")):
        decode(body)


def test_deeply_nested_json_is_a_contract_error_not_a_crash():
    with pytest.raises(ContractError):
        decode(b"[" * 5000 + b"]" * 5000)


def test_construction_validates_like_decoding():
    with pytest.raises(ContractError, match="version must be an integer >= 1"):
        new_event(action=Action.CREATED, user_id=1, version=0, user={})


def test_an_envelope_too_large_to_send_is_refused_at_encode():
    user = {f"f{i}": "x" * MAX_VALUE_CHARS for i in range(20)}
    with pytest.raises(ContractError, match="is larger than"):
        encode(new_event(action=Action.CREATED, user_id=1, version=1, user=user))


def test_sqs_body_may_be_raw_or_wrapped_by_sns():
    raw = GOLDEN.read_text()
    wrapped = json.dumps({"Type": "Notification", "MessageId": "m", "Message": raw})
    assert decode_sqs_body(raw) == decode_sqs_body(wrapped) == golden_envelope()


def test_sns_notification_with_a_bad_message_is_a_contract_error():
    with pytest.raises(ContractError, match="Message is not a string"):
        decode_sqs_body(json.dumps({"Type": "Notification", "Message": {"a": 1}}))
    with pytest.raises(ContractError, match="invalid JSON"):
        decode_sqs_body("<xml/>")


def test_importing_the_contract_pulls_in_no_framework():
    code = (
        "import sys, reactive_users.core.contract; "
        "bad = {'typer', 'rich', 'boto3', 'botocore', 'django', 'celery'} & set(sys.modules); "
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


#: A reset (``reactive diff --repair`` of a replica ahead of the master): a snapshot that
#: names the client state it replaces, in an optional key.
GOLDEN_RESET = Path(__file__).parent / "data" / "envelope_v1_reset.json"


def golden_reset() -> Envelope:
    return Envelope(
        event_id=uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
        action=Action.SNAPSHOT,
        occurred_at=datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
        user_id=42,
        version=7,
        changed=("username", "email", "first_name", "last_name", "is_active"),
        user=golden_envelope().user,
        replaces=Replaced(
            version=2**63 - 1, event_id=uuid.UUID("d1b8e2a4-3c5f-4e6a-8b7c-9d0e1f2a3b4c")
        ),
    )


def test_a_reset_encodes_to_and_decodes_from_its_golden_wire_format():
    assert json.loads(encode(golden_reset())) == json.loads(GOLDEN_RESET.read_text())
    assert decode(GOLDEN_RESET.read_bytes()) == golden_reset()
    assert golden_reset().reset and not golden_envelope().reset
    assert "replaces" not in json.loads(encode(golden_envelope()))  # only on a reset


@pytest.mark.parametrize(
    ("replaces", "message"),
    [
        ({"version": 0, "event_id": None}, "replaces.version must be >= 1"),
        ({"version": 3}, "replaces must be"),
        ({"version": 3, "event_id": 5}, "replaces.event_id must be a string"),
        ({"version": 3, "event_id": "nope"}, "not an event"),
        ([3], "replaces must be"),
    ],
)
def test_a_malformed_replaces_is_a_contract_error(replaces, message):
    body = {**json.loads(GOLDEN_RESET.read_text()), "replaces": replaces}
    with pytest.raises(ContractError, match=message):
        decode(json.dumps(body))


@pytest.mark.parametrize("action", ["created", "updated"])
def test_only_a_snapshot_delete_or_withdrawal_can_be_a_reset(action):
    body = {**json.loads(GOLDEN_RESET.read_text()), "action": action}
    with pytest.raises(ContractError, match="can be a reset"):
        decode(json.dumps(body))
