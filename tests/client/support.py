"""Helpers for the client suite: events, a provisioned moto queue, a listener in a thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from devstack import signing
from devstack.signing import KEYS

# The suite's tests take the signed SQS messages from here; bench/ uses them too.
from devstack.signing import sqs_messages as sqs_messages
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core import aws
from reactive_users.core.aws import queues
from reactive_users.core.contract import Action, Envelope, FieldValue, encode, new_event
from reactive_users.core.settings import Settings


def user_event(
    *,
    user_id: int = 7,
    version: int = 1,
    action: Action = Action.CREATED,
    username: str = "ana",
    synthetic: bool = False,
    **fields: FieldValue,
) -> Envelope:
    """An event for master user ``user_id`` with a full default payload."""
    user: dict[str, FieldValue] = {
        "username": username,
        "email": f"{username}@example.com",
        "first_name": "Ana",
        "last_name": "Silva",
        "is_active": True,
        **fields,
    }
    return new_event(
        action=action,
        user_id=user_id,
        version=version,
        user=user,
        changed=tuple(sorted(user)) if action is Action.CREATED else tuple(sorted(fields)),
        synthetic=synthetic,
    )


@dataclass
class Queue:
    """A client's provisioned queue in moto, with the calls tests make on it."""

    settings: Settings
    url: str
    dlq_url: str
    topic_arn: str
    sqs: Any = field(repr=False)
    sns: Any = field(repr=False)

    def send(self, body: str, *, signed: bool = True) -> str:
        """Send one raw body straight to the queue, signed as the master signs unless told
        otherwise; returns its MessageId."""
        tags = signing.attributes(body) if signed else {}
        sent = self.sqs.send_message(QueueUrl=self.url, MessageBody=body, MessageAttributes=tags)
        return str(sent["MessageId"])

    def send_event(self, event: Envelope) -> str:
        return self.send(encode(event))

    def counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages in the queue (or the queue at ``url``)."""
        found = queues.queue_depth(self.sqs, url or self.url)
        return found.visible, found.in_flight

    def empty(self) -> bool:
        return self.counts() == (0, 0)


def make_queue(*, prefix: str, endpoint: str, redis_url: str) -> Queue:
    """Provision the "shop" client (2 receives before the DLQ, 1 s visibility) in moto."""
    settings = Settings(prefix=prefix, aws_endpoint_url=endpoint, redis_url=redis_url, signing=KEYS)
    done = ensure(settings, [ClientSpec(name="shop", max_receive_count=2, visibility_timeout=1)])
    return Queue(
        settings=settings,
        url=done.queue_urls["shop"],
        dlq_url=done.dlq_urls["shop"],
        topic_arn=done.topic_arn,
        sqs=aws.client("sqs", settings),  # the very client the listener uses (one per process)
        sns=aws.client("sns", settings),
    )


@contextlib.contextmanager
def listening(
    queue: Queue, *, wait_seconds: int = 1
) -> Iterator[tuple[threading.Event, threading.Thread]]:
    """Run a listener loop in a thread; stop it and require it to return on exit."""
    from reactive_users.client.listener.loop import Listener

    stop = threading.Event()
    loop = Listener(
        settings=queue.settings,
        client="shop",
        queue_url=queue.url,
        stop=stop,
        wait_seconds=wait_seconds,
    )
    thread = threading.Thread(target=loop.run, name="listener", daemon=True)
    thread.start()
    try:
        yield stop, thread
    finally:
        stop.set()
        thread.join(wait_seconds + 10)
        assert not thread.is_alive(), "listener did not return after stop"


@contextlib.contextmanager
def polled_listener(queue: Queue, **options: Any) -> Iterator[Any]:
    """A listener on ``queue`` that the test drives itself (``poll_once``), with a notifier
    of its own; closed (its notifier and heartbeat) on exit."""
    from reactive_users.client.listener.loop import Listener
    from reactive_users.client.listener.notifier import Notifier

    loop = Listener(
        settings=queue.settings,
        client="shop",
        queue_url=queue.url,
        wait_seconds=1,
        notifier=Notifier(),
        **options,
    )
    try:
        yield loop
    finally:
        loop.close()  # its notifier and heartbeat


class BatchApplier:
    """Hands received batches to what the listener runs on them (``received.decode``, then
    ``apply_batch``): it never calls SQS or Redis. ``fallbacks`` counts the batches whose
    fast pass could not apply them (then applied again, one savepoint per event)."""

    def __init__(self) -> None:
        self.fallbacks = 0

    def apply(self, messages: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
        """Every message decoded and applied, or refused (decode failures first), and the
        messages handed back."""
        from reactive_users.client.apply import apply_batch
        from reactive_users.client.listener import received

        deliveries, refused = received.decode(messages, KEYS)
        batch = apply_batch(deliveries)
        self.fallbacks += batch.guarded
        return [*refused, *batch.handled], batch.rest


@contextlib.contextmanager
def batch_applier() -> Iterator[BatchApplier]:
    """A ``BatchApplier`` for the block."""
    yield BatchApplier()


@contextlib.contextmanager
def sqs_responses(client: Any, *operations: str) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Record the parsed response of every call to ``operations`` made on a boto3 SQS client."""
    calls: dict[str, list[dict[str, Any]]] = {op: [] for op in operations}
    hooks = [(f"after-call.sqs.{op}", f"record-{op}-{id(calls)}") for op in operations]
    for (event, unique_id), op in zip(hooks, operations, strict=True):

        def record(parsed: dict[str, Any], _op: str = op, **_: Any) -> None:
            calls[_op].append(parsed)

        client.meta.events.register(event, record, unique_id=unique_id)
    try:
        yield calls
    finally:
        for event, unique_id in hooks:
            client.meta.events.unregister(event, unique_id=unique_id)


def listen_env(queue: Queue, redis_url: str, tmp_path: Any) -> dict[str, str]:
    """The environment of a `python -m client listen` process on ``queue``."""
    return {
        "PATH": "/usr/bin:/bin",
        "REACTIVE_CLIENT": "shop",
        "REACTIVE_PREFIX": queue.settings.prefix,
        "REACTIVE_QUEUE_URL": queue.url,
        "REACTIVE_STATE_DIR": str(tmp_path),
        "AWS_ENDPOINT_URL": str(queue.settings.aws_endpoint_url),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "REDIS_URL": redis_url,
        "REACTIVE_SIGNING_KEYS": signing.KEYS_TEXT,
    }
