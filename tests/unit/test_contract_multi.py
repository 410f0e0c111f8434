"""Multi-event messages (schema 2): the golden form, strict decoding, per-event refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reactive_users.core import signing
from reactive_users.core.contract import (
    MAX_EVENTS_PER_MESSAGE,
    MAX_MESSAGE_BYTES,
    Action,
    ContractError,
    Envelope,
    MultiEvent,
    Part,
    decode,
    decode_message,
    decode_sqs_body,
    encode,
    encode_multi,
    new_event,
)

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "multi_event_v2.json"
#: The first event of the golden message is the golden signed single envelope.
SINGLE = DATA / "signed_envelope_v1.json"


def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def ring() -> signing.KeyRing:
    return signing.parse_keys(golden()["key"])


def parts_of(*events: Envelope) -> list[Part]:
    return [Part(encode(e), signing.signature(encode(e), ring())) for e in events]


def an_event(user_id: int = 1, version: int = 1, action: Action = Action.UPDATED) -> Envelope:
    user = {} if action is Action.WITHDRAWN else {"username": f"u{user_id}"}
    return new_event(action=action, user_id=user_id, version=version, user=user)


def test_the_golden_message_decodes_into_its_events_each_verifying_on_its_own():
    data = golden()
    message = decode_message(data["body"])
    assert isinstance(message, MultiEvent)
    assert message.action is Action.UPDATED
    assert [message.event(i).version for i in range(len(message.parts))] == [7, 8]
    assert message.parts[0].body == json.loads(SINGLE.read_text())["body"]
    for part in message.parts:
        assert signing.verify(part.body, part.signature, ring()) == "golden-k1"
    whole = data["message_attributes"][signing.ATTRIBUTE]["StringValue"]
    assert signing.verify(data["body"], whole, ring()) == "golden-k1"
    assert data["message_attributes"]["action"]["StringValue"] == "updated"


def test_encoding_the_golden_events_gives_the_golden_message_and_signature():
    data = golden()
    message = decode_message(data["body"])
    assert isinstance(message, MultiEvent)
    text = encode_multi(Action.UPDATED, message.parts)
    assert text == data["body"]
    assert signing.attributes(text, ring(), action="updated") == data["message_attributes"]


def test_a_schema_1_decoder_refuses_the_message_with_a_clear_reason():
    with pytest.raises(ContractError, match="unknown schema version 2"):
        decode_sqs_body(golden()["body"])
    with pytest.raises(ContractError, match="unknown schema version 2"):
        decode(golden()["body"])


def test_a_single_event_still_decodes_as_one():
    body = json.loads(SINGLE.read_text())["body"]
    assert decode_message(body) == decode(body)


def test_a_message_wrapped_by_sns_decodes_alike():
    body = golden()["body"]
    wrapped = json.dumps({"Type": "Notification", "Message": body})
    assert decode_message(wrapped) == decode_message(body)


def _with(**changes: object) -> str:
    obj = json.loads(golden()["body"])
    obj.update(changes)
    return json.dumps({k: v for k, v in obj.items() if v is not _DROP})


_DROP = object()
_PART = {"body": "{}", "signature": "v1:k:00"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (lambda: _with(extra=1), "unknown keys: extra"),
        (lambda: _with(action=_DROP), "missing keys: action"),
        (lambda: _with(events=_DROP), "missing keys: events"),
        (lambda: _with(action=3), "action must be a string"),
        (lambda: _with(action="renamed"), "unknown action 'renamed'"),
        (lambda: _with(events={"a": 1}), "events must be a list"),
        (lambda: _with(events=[]), "no events"),
        (lambda: _with(events=[_PART] * (MAX_EVENTS_PER_MESSAGE + 1)), "more than 1000 events"),
        (lambda: _with(events=["{}"]), r"event 0 must be \{body, signature\}"),
        (lambda: _with(events=[_PART, {**_PART, "x": 1}]), r"event 1 must be \{body, signature\}"),
        (lambda: _with(events=[{"body": {}, "signature": "s"}]), "must be strings"),
        (lambda: _with(events=[{"body": "{}", "signature": "s" * 201}]), "signature longer"),
        (lambda: "[1, 2]", "expected a JSON object"),
        (lambda: "{", "invalid JSON"),
    ],
)
def test_a_malformed_message_is_refused_as_a_whole(body, reason):
    with pytest.raises(ContractError, match=reason):
        decode_message(body())


def test_a_message_larger_than_sns_allows_is_refused():
    big = _with(events=[{"body": "x" * MAX_MESSAGE_BYTES, "signature": "s"}])
    with pytest.raises(ContractError, match="more than"):
        decode_message(big)


def test_a_malformed_or_mixed_event_is_refused_alone():
    good = an_event(1, 1)
    mixed = an_event(2, 1, Action.WITHDRAWN)
    nested = Part(golden()["body"], "v1:k:00")
    parts = [*parts_of(good), Part('{"schema": 1}', "v1:k:00"), *parts_of(mixed), nested]
    message = decode_message(encode_multi(Action.UPDATED, parts))
    assert isinstance(message, MultiEvent)
    assert message.event(0) == good
    with pytest.raises(ContractError, match="missing keys"):
        message.event(1)
    with pytest.raises(ContractError, match="mixed kinds: a withdrawn event in a message of"):
        message.event(2)
    with pytest.raises(ContractError, match="unknown schema version 2"):
        message.event(3)  # messages do not nest


def test_encode_refuses_what_decode_would():
    with pytest.raises(ContractError, match="no events"):
        encode_multi(Action.UPDATED, [])
    many = parts_of(an_event()) * (MAX_EVENTS_PER_MESSAGE + 1)
    with pytest.raises(ContractError, match="more than"):
        encode_multi(Action.UPDATED, many)


def test_round_trip_keeps_the_exact_text_and_order_of_each_event():
    events = [an_event(3, v) for v in (1, 2, 3)]
    message = decode_message(encode_multi(Action.UPDATED, parts_of(*events)))
    assert isinstance(message, MultiEvent)
    assert [message.event(i) for i in range(3)] == events
    assert [p.body for p in message.parts] == [encode(e) for e in events]
