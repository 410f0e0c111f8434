"""Poison messages among valid events: sent to the dead-letter queue at once by the listener,
with their reason (fault 6, and issue 13's item 3: before, each was received
maxReceiveCount times, 30 s apart, before SQS moved it)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3

from devstack import master_ops
from devstack.convergence import wait_converged
from devstack.processes import until
from devstack.signing import attributes as signed
from devstack.stack import Stack
from reactive_users.core.contract import MAX_BODY_BYTES, Action, new_event
from tests.faults.conftest import AddClient
from tests.faults.support import depth, receive_all, sqs, tag, wait_drained
from tests.support.reliability import record

MAX_RECEIVES = 2
#: SQS's largest message body, in bytes.
SQS_MAX_BODY_BYTES = 256 * 1024


def envelope(**overrides: Any) -> dict[str, Any]:
    """A valid envelope as a JSON-ready dict, with some keys replaced (or removed: None)."""
    user = {
        "username": f"poison-{uuid.uuid4().hex[:6]}",
        "email": "",
        "first_name": "Poison",
        "last_name": "",
        "is_active": True,
    }
    event = new_event(action=Action.CREATED, user_id=9_000_001, version=1, user=user)
    body = event.to_dict()
    for key, value in overrides.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    return body


def poison_bodies() -> dict[str, str]:
    """One body per kind of poison the listener must refuse (all within SQS's limit)."""
    big = json.dumps(envelope(user={"username": "big", "first_name": "x" * 20_000}))
    huge = json.dumps(envelope(user={"username": "huge", "first_name": "x" * 200_000}))
    assert MAX_BODY_BYTES < len(big.encode()) < len(huge.encode()) < SQS_MAX_BODY_BYTES
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:reactive-users",
        "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2026-11-23T12:00:00.000Z",
    }
    return {
        "invalid JSON": '{"schema": 1, "event_id": "0b6c',
        "unknown schema version": json.dumps(envelope(schema=99)),
        "wrong types": json.dumps(envelope(version="2", user_id="seven")),
        "missing fields": json.dumps(envelope(version=None, user=None)),
        "unknown action": json.dumps(envelope(action="merged")),
        "body over the contract's limit": big,
        "body near SQS's limit": huge,
        "SNS subscription confirmation": json.dumps(confirmation),
        "plain text": "hello, is this the user queue?",
    }


def test_poison_messages_are_dead_lettered_at_once_with_their_reason_while_valid_ones_apply(
    stack: Stack, add_client: AddClient
):
    # Given a client with a local (not replicated) user "collide-..."
    app = add_client("poison", max_receive_count=MAX_RECEIVES, visibility_timeout=2)
    assert app.listener is not None
    prefix = uuid.uuid4().hex[:6]
    local = f"collide-{prefix}"
    code = "from django.contrib.auth.models import User; User.objects.create_user({!r})"
    app.manage("shell", "-c", code.format(local))
    users = [master_ops.create_user(f"{prefix}-{n}", password=None) for n in range(8)]

    # When poison arrives in the queue interleaved with valid events from the master,
    # one of which is a master user whose username a client-local user holds
    client, sent = sqs(stack), {}
    for n, (kind, body) in enumerate(poison_bodies().items()):
        master_ops.update_user(users[n % len(users)], first_name=f"before {kind}")
        # signed as the master signs, so that the decoder (not the signature) refuses them
        message_id = client.send_message(
            QueueUrl=app.queue_url, MessageBody=body, MessageAttributes=signed(body)
        )["MessageId"]
        sent[message_id] = (kind, body)
        master_ops.update_user(users[(n + 3) % len(users)], last_name=f"after {kind}")
    collider = master_ops.create_user(local, password=None, first_name="Master")
    master_ops.update_user(users[0], first_name="last")
    valid = len(users) + 2 * len(sent) + 2

    # Then the valid events are applied, and the listener sends every poison message to the
    # DLQ after its first receive, with the reason it refused it
    comparison = wait_converged(app, users, timeout=90)
    dlq = stack.provisioned.dlq_urls[app.name]
    dead = receive_all(stack, dlq, expected=len(sent) + 1)
    wait_drained(stack, app.queue_url)
    log = app.listener.log()
    (collision,) = master_ops.outbox_bodies(collider)
    dead_bodies = sorted(m["Body"] for m in dead)
    wanted_bodies = sorted([body for _, body in sent.values()] + [collision])
    by_original = {tag(m, "reactive.dlq.message_id"): m for m in dead}
    kinds = {mid: kind for mid, (kind, _) in sent.items()}
    kinds.update(
        {mid: "username collision" for mid, m in by_original.items() if m["Body"] == collision}
    )
    receives = {
        kinds.get(mid, mid): tag(m, "reactive.dlq.receives") for mid, m in by_original.items()
    }
    wrong_counts = {k: n for k, n in receives.items() if n != "1"}
    unexplained = [
        kinds.get(mid, mid) for mid, m in by_original.items() if not tag(m, "reactive.dlq.reason")
    ]
    missing_dead = len(set(wanted_bodies) - set(dead_bodies))
    local_rows = app.query("SELECT first_name FROM auth_user WHERE username = ?", (local,))
    record(
        fault="6. poison messages",
        test="test_poison_messages_are_dead_lettered_at_once_with_their_reason_while_valid_"
        "ones_apply",
        sent=valid + len(sent),
        checked=len(users) + len(wanted_bodies),
        lost=len(comparison.missing) + missing_dead,
        diverged=len(comparison.diverged) + len(wrong_counts) + len(unexplained),
        detail=(
            f"{len(wanted_bodies)} poison messages ({', '.join(receives)}) each received "
            f"once and sent to the dead-letter queue by the listener with its reason; "
            f"{valid - 1} valid events around them reached {len(users)} users: "
            f"{comparison.summary()}"
        ),
    )
    assert comparison.converged, comparison.summary()
    assert not wrong_counts, f"poison received more than once: {receives}\n{log[-4000:]}"
    assert not unexplained, f"dead letters without a reason: {unexplained}"
    assert dead_bodies == wanted_bodies
    assert len(dead) == len(wanted_bodies), "a poison message was dead-lettered twice"
    assert set(sent) <= set(by_original), "the dead letters name their original message ids"
    assert all(tag(m, "reactive.dlq.source_queue") == app.queue_url for m in dead)
    assert tag(by_original[next(iter(sent))], "reactive.dlq.reason").startswith(
        "ContractError: not an event: invalid JSON"
    )
    # ... the colliding master user merged into nothing: the local user is untouched
    assert app.replica(collider) is None
    assert [r["first_name"] for r in local_rows] == [""]
    assert app.listener.alive()
    assert depth(stack, app.queue_url) == (0, 0)


def test_invalid_json_published_to_the_topic_is_dead_lettered_at_once(
    stack: Stack, add_client: AddClient
):
    # Given a client provisioned with the defaults (maxReceiveCount 5, visibility 30 s)
    app = add_client("dead")
    dlq = stack.provisioned.dlq_urls[app.name]
    sns = boto3.client("sns", endpoint_url=stack.settings.aws_endpoint_url)
    body = '{"schema": 1, "event_id": "0b6c'

    # When invalid JSON is published to the topic, signed with the master's key (unsigned,
    # the signature refuses it first: tests/e2e/test_topic_signing.py), followed by a valid
    # change from the master
    started = time.monotonic()
    sns.publish(TopicArn=stack.provisioned.topic_arn, Message=body, MessageAttributes=signed(body))
    until(lambda: sum(depth(stack, dlq)) >= 1, timeout=60, interval=0.05, what="the dead letter")
    seconds = time.monotonic() - started
    uid = master_ops.create_user(f"after-{uuid.uuid4().hex[:6]}", password=None)

    # Then it is in the dead-letter queue after one receive, with its reason, and the
    # change after it is applied
    comparison = wait_converged(app, [uid], timeout=60)
    (dead,) = receive_all(stack, dlq, expected=1)
    reason = tag(dead, "reactive.dlq.reason") or ""
    record(
        fault="13.3 permanent failure dead-lettered at once",
        test="test_invalid_json_published_to_the_topic_is_dead_lettered_at_once",
        sent=2,
        checked=2,
        lost=len(comparison.missing) + (dead["Body"] != body),
        diverged=len(comparison.diverged) + (tag(dead, "reactive.dlq.receives") != "1"),
        detail=(
            f"invalid JSON published to the topic was in the dead-letter queue {seconds:.2f} s "
            f"later, after {tag(dead, 'reactive.dlq.receives')} receive, sent there by the "
            f"listener with its reason ({reason[:60]}…) (before: SQS's redrive moved it "
            f"after 5 receives 30 s apart, ~150 s); the valid change after it applied: "
            f"{comparison.summary()}"
        ),
    )
    assert comparison.converged, comparison.summary()
    assert dead["Body"] == body
    assert tag(dead, "reactive.dlq.receives") == "1"
    assert reason.startswith("ContractError: not an event: invalid JSON: ")
    assert tag(dead, "reactive.dlq.source_queue") == app.queue_url
    assert depth(stack, app.queue_url) == (0, 0)
