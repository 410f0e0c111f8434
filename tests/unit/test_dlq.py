"""Dead letters, pure: the reason from the body, the table and JSON, the redrive requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reactive_users.core.contract import MAX_MESSAGE_BYTES, encode
from reactive_users.core.dlq import (
    FALLBACK_GROUP_ID,
    MAX_BATCH_ENTRIES,
    MAX_MESSAGE_ATTRIBUTES,
    MAX_REASON_CHARS,
    REASON,
    TABLE_BODY_CHARS,
    TABLE_COLUMNS,
    DeadLetter,
    as_json,
    dead_letter,
    dead_letter_entry,
    entry_bytes,
    reason,
    redrive_entries,
    send_batches,
    table_rows,
    truncate,
)
from tests.client.support import user_event

GOLDEN = Path(__file__).parent / "data" / "dead_letter_attributes.json"

EVENT = user_event(user_id=7, version=3, username="carol")
GOOD = json.loads(encode(EVENT))


def body(**changes) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "not an event: invalid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("[1, 2]", "not an event: expected a JSON object, got list"),
        ('{"nonsense": true}', "not an event: no 'schema' key"),
        # schema 2 is a multi-event message (its own refusals): a later one is unknown
        ('{"schema": 3}', "unknown schema version 3 (this code reads 1)"),
        (
            '{"schema": 1, "event_id": "x"}',
            "missing keys: action, changed, occurred_at, synthetic, user, user_id, version",
        ),
        (body(extra=1), "unknown keys: extra"),
        (body(action="renamed"), "unknown action 'renamed'"),
        (body(event_id="nope"), "not an event: ValueError: badly formed hexadecimal UUID string"),
        (body(user_id=0), "user_id must be an integer >= 1"),
        (
            json.dumps({"Type": "Notification", "Message": 5}),
            "SNS notification whose Message is not a string",
        ),
        (json.dumps({"Type": "Notification", "Message": "{}"}), "not an event: no 'schema' key"),
        (
            "x" * (4 * MAX_MESSAGE_BYTES + 1),
            f"body is {4 * MAX_MESSAGE_BYTES + 1} characters, far more than a message",
        ),
    ],
    ids=[
        "json",
        "array",
        "no-schema",
        "schema-3",
        "missing",
        "unknown-key",
        "action",
        "uuid",
        "user-id",
        "sns-message",
        "sns-empty",
        "huge",
    ],
)
def test_a_body_that_does_not_decode_is_malformed_and_the_decoder_says_why(text, expected):
    assert reason(text) == f"malformed: {expected}"


def test_a_valid_event_was_refused_by_the_client_and_its_event_id_leads_to_the_log():
    expected = (
        "valid created event for master user 7 v3 refused by the client: see its listener "
        f"log for event {EVENT.event_id}"
    )
    assert reason(encode(EVENT)) == expected
    # As SNS wraps it when raw delivery is off
    assert reason(json.dumps({"Type": "Notification", "Message": encode(EVENT)})) == expected


def test_a_refused_synthetic_event_says_so():
    synthetic = user_event(user_id=2, version=9, synthetic=True)
    expected = "valid synthetic created event for master user 2 v9 refused by the client"
    assert reason(encode(synthetic)).startswith(expected)


def test_truncation_keeps_short_bodies_and_cuts_long_ones_on_one_line():
    assert truncate("short") == "short"
    assert truncate("a\n  b\tc") == "a b c"
    exact = "x" * TABLE_BODY_CHARS
    assert truncate(exact) == exact
    cut = truncate("y" * 500)
    assert (len(cut), cut[-1], cut[:-1]) == (TABLE_BODY_CHARS, "…", "y" * (TABLE_BODY_CHARS - 1))
    assert truncate("abcdef", 4) == "abc…"


SQS_MESSAGE = {
    "MessageId": "m-1",
    "ReceiptHandle": "handle-1",
    "Body": '{"schema": 1, "nonsense": true}',
    "Attributes": {
        "SentTimestamp": "1767268800000",  # 2026-01-01 12:00:00 UTC
        "ApproximateFirstReceiveTimestamp": "1767268801500",
        "ApproximateReceiveCount": "4",
    },
    "MessageAttributes": {"action": {"DataType": "String", "StringValue": "created"}},
}


def test_a_received_message_becomes_a_letter_without_counting_the_receive_that_read_it():
    letter = dead_letter(SQS_MESSAGE)
    assert letter == DeadLetter(
        message_id="m-1",
        body='{"schema": 1, "nonsense": true}',
        receipt_handle="handle-1",
        sent_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        first_received_at=datetime(2026, 1, 1, 12, 0, 1, 500000, tzinfo=UTC),
        receives=3,
        reason=(
            "malformed: missing keys: action, changed, event_id, occurred_at, synthetic, "
            "user, user_id, version"
        ),
        group_id=None,
        message_attributes={"action": {"DataType": "String", "StringValue": "created"}},
    )
    assert dead_letter(SQS_MESSAGE, own_receives=0).receives == 4


def test_a_message_without_system_attributes_shows_unknowns():
    letter = dead_letter({"MessageId": "m", "ReceiptHandle": "h", "Body": "x"})
    assert (letter.sent_at, letter.first_received_at, letter.receives) == (None, None, None)
    assert table_rows([letter])[0][1:4] == ("?", "?", "?")


def test_table_rows_follow_the_columns_with_utc_times_and_a_truncated_body():
    long_body = encode(user_event(user_id=7, version=3, username="carol", first_name="z" * 300))
    letter = dead_letter({**SQS_MESSAGE, "Body": long_body})
    assert TABLE_COLUMNS == ("message id", "sent", "first receive", "receives", "reason", "body")
    (row,) = table_rows([letter])
    assert row[:4] == ("m-1", "2026-01-01 12:00:00", "2026-01-01 12:00:01", "3")
    assert row[4].startswith("valid created event for master user 7 v3 refused by the client")
    assert row[5] == truncate(long_body) and len(row[5]) == TABLE_BODY_CHARS


def test_json_gives_the_whole_body_iso_times_and_readable_attributes():
    binary = {"DataType": "Binary", "BinaryValue": b"\x00\x01"}
    message = {
        **SQS_MESSAGE,
        "MessageAttributes": {**SQS_MESSAGE["MessageAttributes"], "raw": binary},
    }
    data = as_json(dead_letter(message))
    assert data == {
        "message_id": "m-1",
        "sent_at": "2026-01-01T12:00:00+00:00",
        "first_received_at": "2026-01-01T12:00:01.500000+00:00",
        "receives": 3,
        "reason": dead_letter(SQS_MESSAGE).reason,
        "reason_from": "body",
        "listener": None,
        "source_queue": None,
        "source_message_id": None,
        "group_id": None,
        "message_attributes": {"action": "created", "raw": "AAE="},
        "body": SQS_MESSAGE["Body"],
    }
    json.dumps(data)  # serialisable as it is


def test_redrive_entries_keep_body_and_attributes_on_a_standard_queue():
    received = {
        **SQS_MESSAGE["MessageAttributes"]["action"],
        "StringListValues": [],
        "BinaryListValues": [],
    }
    letters = [
        dead_letter({**SQS_MESSAGE, "MessageAttributes": {"action": received}}),
        dead_letter({"MessageId": "m-2", "ReceiptHandle": "h-2", "Body": "plain"}),
    ]
    assert redrive_entries(letters, fifo=False) == [
        {
            "Id": "0",
            "MessageBody": SQS_MESSAGE["Body"],
            "MessageAttributes": {"action": {"DataType": "String", "StringValue": "created"}},
        },
        {"Id": "1", "MessageBody": "plain"},
    ]


def test_fifo_redrive_entries_keep_the_group_and_get_a_fresh_deduplication_id():
    grouped = {**SQS_MESSAGE, "Attributes": {**SQS_MESSAGE["Attributes"], "MessageGroupId": "7"}}
    letters = [
        dead_letter(grouped),
        dead_letter({"MessageId": "m", "ReceiptHandle": "h", "Body": "x"}),
    ]
    ids = iter(["dedup-a", "dedup-b"])
    entries = redrive_entries(letters, fifo=True, dedup_id=lambda: next(ids))
    assert [(e["MessageGroupId"], e["MessageDeduplicationId"]) for e in entries] == [
        ("7", "dedup-a"),
        (FALLBACK_GROUP_ID, "dedup-b"),
    ]
    fresh = redrive_entries(letters, fifo=True)  # the default: a new random id each time
    assert len({e["MessageDeduplicationId"] for e in fresh}) == 2


def test_send_batches_respect_the_entry_count_and_the_request_size():
    small = [{"Id": str(i), "MessageBody": "x" * 10} for i in range(25)]
    assert [len(b) for b in send_batches(small)] == [MAX_BATCH_ENTRIES, MAX_BATCH_ENTRIES, 5]
    sized = [{"Id": str(i), "MessageBody": "y" * 400} for i in range(5)]
    assert [[e["Id"] for e in b] for b in send_batches(sized, max_bytes=1000)] == [
        ["0", "1"],
        ["2", "3"],
        ["4"],
    ]
    huge = [
        {"Id": "0", "MessageBody": "a"},
        {"Id": "1", "MessageBody": "b" * 2000},
        {"Id": "2", "MessageBody": "c"},
    ]
    assert [[e["Id"] for e in b] for b in send_batches(huge, max_bytes=1000)] == [
        ["0"],
        ["1"],
        ["2"],
    ]
    assert send_batches([]) == []


def test_an_entry_counts_its_body_and_attributes_toward_the_size_limit():
    entry = {
        "Id": "0",
        "MessageBody": "é",
        "MessageAttributes": {
            "action": {"DataType": "String", "StringValue": "created"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    }
    assert entry_bytes(entry) == 2 + (6 + 6 + 7) + (3 + 6 + 2)


SOURCE = "http://127.0.0.1:4566/123456789012/reactive-shop"
REFUSED = {
    **SQS_MESSAGE,
    "Attributes": {**SQS_MESSAGE["Attributes"], "ApproximateReceiveCount": "1"},
}


def refused_entry(message=REFUSED, *, fifo: bool = False, why: str = "ContractError: bad"):
    return dead_letter_entry(
        3, message, why=why, source_queue=SOURCE, listener="host:42", fifo=fifo
    )


def test_a_dead_letter_entry_carries_the_message_and_the_reason_attributes_as_the_golden_file():
    # The wire format between listener and `reactive dlq`: a change here is a change there
    assert refused_entry() == json.loads(GOLDEN.read_text())


def test_a_fifo_dead_letter_keeps_its_group_and_dedups_on_its_original_message_id():
    grouped = {**REFUSED, "Attributes": {**REFUSED["Attributes"], "MessageGroupId": "7"}}
    entry = refused_entry(grouped, fifo=True)
    assert (entry["MessageGroupId"], entry["MessageDeduplicationId"]) == ("7", "m-1")
    assert refused_entry(fifo=True)["MessageGroupId"] == FALLBACK_GROUP_ID
    assert "MessageGroupId" not in refused_entry()


def test_the_reason_is_one_bounded_line_of_characters_sqs_takes():
    why = "ApplyError: bad\n\x00value " + "z" * 2000
    sent = refused_entry(why=why)["MessageAttributes"][REASON]["StringValue"]
    assert len(sent) == MAX_REASON_CHARS and sent.endswith("…")
    assert sent.startswith("ApplyError: bad ?value zzz")


def test_the_original_attributes_always_travel_and_the_reasons_fill_what_room_is_left():
    crowded = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(8)}
    entry = refused_entry({**REFUSED, "MessageAttributes": crowded})
    names = list(entry["MessageAttributes"])
    assert len(names) == MAX_MESSAGE_ATTRIBUTES
    assert names[:8] == list(crowded)
    assert names[8:] == [REASON, "reactive.dlq.first_seen"]


def test_dead_lettering_again_replaces_the_earlier_reason():
    again = {**REFUSED, "MessageAttributes": refused_entry(why="old")["MessageAttributes"]}
    entry = refused_entry(again, why="new")
    assert entry["MessageAttributes"][REASON]["StringValue"] == "new"
    assert len(entry["MessageAttributes"]) == 7


def test_a_letter_the_listener_sent_shows_its_recorded_reason_receives_and_first_receive():
    # As `dlq list` receives it from the DLQ: its second receive there (one earlier look)
    tags = refused_entry(why="UsernameCollision: taken")["MessageAttributes"]
    received = {
        "MessageId": "copy-1",
        "ReceiptHandle": "h",
        "Body": REFUSED["Body"],
        "Attributes": {
            "SentTimestamp": "1767272400000",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1767272460000",
        },
        "MessageAttributes": tags,
    }
    letter = dead_letter(received)
    assert (letter.reason, letter.reason_recorded) == ("UsernameCollision: taken", True)
    assert letter.receives == 1 + 1  # the listener's one, and the earlier look
    assert letter.first_received_at == datetime(2026, 1, 1, 12, 0, 1, 500000, tzinfo=UTC)
    assert (letter.listener, letter.source_queue, letter.source_message_id) == (
        "host:42",
        SOURCE,
        "m-1",
    )
    data = as_json(letter)
    assert (data["reason_from"], data["source_message_id"]) == ("listener", "m-1")
    # ... and a redrive sends it back without them, with what the master had set
    (entry,) = redrive_entries([letter], fifo=False)
    assert entry["MessageAttributes"] == SQS_MESSAGE["MessageAttributes"]


def _multi_letter(*, recorded: str | None = None) -> DeadLetter:
    """A multi-event message SQS's redrive moved whole: a good event and a malformed one."""
    from reactive_users.core.contract import Action, Part, encode_multi

    parts = [Part(encode(EVENT), "v1:k:00"), Part('{"schema": 1}', "v1:k:00")]
    tags = dict(SQS_MESSAGE["MessageAttributes"])
    if recorded is not None:
        tags[REASON] = {"DataType": "String", "StringValue": recorded}
    return dead_letter(
        {**SQS_MESSAGE, "Body": encode_multi(Action.CREATED, parts), "MessageAttributes": tags}
    )


def test_a_multi_event_letter_is_listed_as_its_events():
    letter = _multi_letter()
    assert letter.reason == "message of 2 created events, moved whole: each is listed on its own"
    rows = table_rows([letter])
    assert [row[0] for row in rows] == ["m-1#0", "m-1#1"]
    assert all(row[1:4] == ("2026-01-01 12:00:00", "2026-01-01 12:00:01", "3") for row in rows)
    assert rows[0][4].startswith("valid created event for master user 7 v3 refused")
    assert rows[0][5] == truncate(encode(EVENT))
    assert rows[1][4].startswith("malformed: missing keys: action")
    shown = as_json(letter)
    assert [e["message_id"] for e in shown["events"]] == ["m-1#0", "m-1#1"]
    assert shown["events"][0]["body"] == encode(EVENT)


def test_a_multi_event_letter_with_a_recorded_reason_shows_it_on_each_event():
    rows = table_rows([_multi_letter(recorded="SignatureError: unsigned")])
    assert [row[4] for row in rows] == ["SignatureError: unsigned"] * 2


def test_a_single_event_letter_has_no_events_in_its_json():
    assert "events" not in as_json(dead_letter(SQS_MESSAGE))
