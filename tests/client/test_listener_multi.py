"""Multi-event messages (schema 2) through the listener, against moto's server over HTTP
and a real Redis: every event applied in the batch, a poison event dead-lettered alone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from devstack.processes import until
from devstack.signing import FOREIGN_KEY, KEYS
from devstack.signing import attributes as signed
from reactive_users.client.apply import Handled
from reactive_users.client.failures import Failure
from reactive_users.client.listener.loop import settle
from reactive_users.client.models import Replica
from reactive_users.core import signing
from reactive_users.core.aws import dlq as dlq_sqs
from reactive_users.core.contract import Action, Envelope, Part, encode, encode_multi
from tests.client.support import Queue, listening, polled_listener, user_event

db = pytest.mark.django_db(transaction=True)
MALFORMED = '{"schema": 1, "nonsense": true}'


def replica_versions() -> dict[int, int]:
    return dict(Replica.objects.values_list("master_id", "version"))


def part(body: str, keys: signing.KeyRing = KEYS) -> Part:
    return Part(body, signing.signature(body, keys))


def send_multi(queue: Queue, parts: list[Part], action: Action = Action.CREATED) -> str:
    """One multi-event message straight to the queue, signed as a whole as the master does."""
    body = encode_multi(action, parts)
    sent = queue.sqs.send_message(
        QueueUrl=queue.url, MessageBody=body, MessageAttributes=signed(body, action=action.value)
    )
    return str(sent["MessageId"])


def letters(queue: Queue) -> dict[str, dict]:
    """The dead letters by the id the listener recorded for them."""
    dead = queue.sqs.receive_message(
        QueueUrl=queue.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    queue.sqs.change_message_visibility_batch(
        QueueUrl=queue.dlq_url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(dead)
        ],
    )
    return {m["MessageAttributes"]["reactive.dlq.message_id"]["StringValue"]: m for m in dead}


def poisoned_batch() -> tuple[list[Envelope], list[Part]]:
    """Three good creates and three poison events: one signed with a key nobody accepts,
    one a client refuses (its username is a local user's), one malformed."""
    good = [user_event(user_id=i, username=f"u{i}") for i in (1, 2, 3)]
    forged = encode(user_event(user_id=4, username="mallory"))
    colliding = encode(user_event(user_id=5, username="carol"))
    parts = [
        part(encode(good[0])),
        part(forged, signing.parse_keys(FOREIGN_KEY)),
        part(encode(good[1])),
        part(colliding),
        part(MALFORMED),
        part(encode(good[2])),
    ]
    return good, parts


@db
def test_a_poison_event_goes_to_the_dlq_alone_and_its_siblings_apply(queue: Queue, layer_prefix):
    # Given a local user "carol", and one message of six events, three of them poison
    User.objects.create_user("carol", password="x")
    _, parts = poisoned_batch()
    message_id = send_multi(queue, parts)

    # When the listener receives it
    with listening(queue):
        until(lambda: replica_versions() == {1: 1, 2: 1, 3: 1}, what="good events applied")
        until(lambda: queue.counts(queue.dlq_url)[0] == 3, what="3 dead letters")
        until(queue.empty, what="the message deleted")

    # Then each poison event is a single-event letter: its own body, action and signature
    dead = letters(queue)
    assert set(dead) == {f"{message_id}#1", f"{message_id}#3", f"{message_id}#4"}
    for index, letter in dead.items():
        original = parts[int(index.rsplit("#", 1)[1])]
        tags = {n: v["StringValue"] for n, v in letter["MessageAttributes"].items()}
        assert letter["Body"] == original.body
        assert tags["reactive.signature"] == original.signature
        assert tags["action"] == "created"
        assert tags["reactive.dlq.source_queue"] == queue.url
    reason = {
        i: m["MessageAttributes"]["reactive.dlq.reason"]["StringValue"] for i, m in dead.items()
    }
    assert reason[f"{message_id}#1"].startswith("SignatureError: signature does not match")
    assert reason[f"{message_id}#3"].startswith("UsernameCollision: event ")
    assert reason[f"{message_id}#4"].startswith("ContractError: missing keys: action")
    assert not Replica.objects.filter(master_id__in=(4, 5)).exists()


@db
def test_a_refused_event_sent_back_from_the_dlq_verifies_and_applies(queue: Queue, layer_prefix):
    # Given the refused event of a multi-event message in the DLQ (a username collision)
    User.objects.create_user("carol", password="x")
    body = encode(user_event(user_id=5, username="carol"))
    good = encode(user_event(user_id=6, username="dan"))
    message_id = send_multi(queue, [part(good), part(body)])
    with listening(queue):
        until(lambda: queue.counts(queue.dlq_url)[0] == 1, what="one dead letter")
        until(queue.empty, what="the message deleted")

    # When the collision is resolved and the letter is sent back
    User.objects.filter(username="carol").delete()
    moved = dlq_sqs.redrive(
        queue.settings,
        dlq_url=queue.dlq_url,
        queue_url=queue.url,
        fifo=False,
        message_id=_letter_id(queue, f"{message_id}#1"),
    )
    assert moved.moved == 1

    # Then it verifies with its own signature and applies
    with listening(queue):
        until(lambda: replica_versions() == {5: 1, 6: 1}, what="the letter applied")
        until(queue.empty, what="queue drained")
    assert queue.counts(queue.dlq_url) == (0, 0)


def _letter_id(queue: Queue, source: str) -> str:
    return str(letters(queue)[source]["MessageId"])


@db
def test_when_the_dlq_refuses_a_poison_event_the_message_is_handed_back_not_lost(
    queue: Queue, layer_prefix, caplog
):
    # Given a multi-event message with a malformed event, and no dead-letter queue to take it
    send_multi(queue, [part(encode(user_event(user_id=1, username="u1"))), part(MALFORMED)])
    queue.sqs.delete_queue(QueueUrl=queue.dlq_url)

    # When the listener handles it
    with polled_listener(queue) as loop:
        stats = loop.poll_once()
        messages = loop.metrics.messages_received._value.get()
        events = loop.metrics.received._value.get()

    # Then the good event applied, and the message is still in the queue (not deleted)
    assert replica_versions() == {1: 1}
    assert (stats.messages, stats.received, stats.applied) == (1, 2, 1)
    assert (stats.failed, stats.dead_lettered, stats.retried) == (1, 0, 0)
    assert (messages, events) == (1, 2)
    assert sum(queue.counts()) == 1
    assert "not sent to the dead-letter queue" in caplog.text


@db
def test_metrics_count_events_and_messages_apart(queue: Queue, layer_prefix):
    events = [user_event(user_id=i, username=f"u{i}") for i in range(1, 5)]
    send_multi(queue, [part(encode(e)) for e in events[:3]])
    queue.send_event(events[3])
    with polled_listener(queue) as loop:
        until(
            lambda: (loop.poll_once(), loop.metrics.received._value.get())[1] >= 4,
            what="four events received",
        )
        assert loop.metrics.received._value.get() == 4
        assert loop.metrics.messages_received._value.get() == 2
        assert loop.metrics.applied._value.get() == 4
    assert queue.empty()


def _handled(message: dict, failure: Failure | None) -> Handled:
    return Handled(message, None, failure=failure)


def test_a_message_is_settled_only_when_every_event_in_it_is():
    permanent, transient = Failure(True, "bad"), Failure(False, "database away")
    clean, poisoned, waiting, stopped = ({"MessageId": str(i)} for i in range(4))
    handled = [
        Handled(clean, None),  # no failure: applied or ignored
        Handled(poisoned, None),
        _handled(poisoned, permanent),
        _handled(waiting, permanent),
        _handled(waiting, transient),
        Handled(stopped, None),
    ]
    settled = settle([clean, poisoned, waiting, stopped], handled, [stopped])
    assert settled.done == [clean]
    assert [m for m, _ in settled.poisoned] == [poisoned]
    assert [m for m, _ in settled.back] == [waiting, stopped]
    assert settled.back[1][1] == 0 and settled.back[0][1] > 0
