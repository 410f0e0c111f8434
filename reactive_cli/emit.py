"""``reactive emit-test``: publish synthetic events through SNS, await and collect the acks.

The real path: SNS topic -> every subscribed client's queue -> its listener -> the user's
websocket group. Before publishing, the emitter joins each event's reply group
(``naming.emit_reply_group``) on every reported client's channel layer (one Redis, one key
prefix per client); listeners and sockets acknowledge there (``reactive_users.core.delivery``).
Synthetic events write no database anywhere (``reactive_users.client.decide``, Rule 0).
Django (for a username) and channels-redis are imported inside functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reactive_cli import projects
from reactive_cli.config import Config
from reactive_users.core import aws, naming, signing
from reactive_users.core.aws import topics
from reactive_users.core.contract import Action, Envelope, FieldValue, encode, new_event
from reactive_users.core.delivery import ClientDelivery, Collector
from reactive_users.core.errors import ChannelLayerError, ConfigError, UnknownUser
from reactive_users.core.settings import Settings, own_environment, signing_keys

#: Most events one run may publish (each is one SNS Publish call).
MAX_COUNT = 100
#: Longest wait for the master's ``user_version``, in seconds.
USER_LOOKUP_TIMEOUT_SECONDS = 60.0
#: Default seconds to wait for every listener's ack.
DEFAULT_TIMEOUT_SECONDS = 10.0
#: Seconds to keep collecting socket acks once every listener acknowledged. Sockets ack a
#: few milliseconds after their listener, so this is generous.
SOCKET_GRACE_SECONDS = 0.5
#: Seconds to wait for a TCP connection to Redis.
REDIS_CONNECT_TIMEOUT_SECONDS = 2

_BY_ID = re.compile(r"^id:(\d{1,18})$")


@dataclass(frozen=True, kw_only=True)
class Target:
    """The master user the synthetic events are about."""

    user_id: int
    #: The user's login as the master has it (the value of its user model's USERNAME_FIELD:
    #: a username, or an email); "" when given as ``id:N`` (no database was read).
    username: str = ""
    version: int = 1
    #: The master user model's USERNAME_FIELD, under which the events carry the login, as the
    #: master's own events do ("username" on Django's stock user, "email" on many others).
    login_field: str = "username"

    @property
    def label(self) -> str:
        """How reports name the user."""
        return f"{self.username} (id {self.user_id})" if self.username else f"id:{self.user_id}"


def parse_user_id(spec: str) -> int | None:
    """``id:N`` -> N; None for anything else (a username)."""
    match = _BY_ID.match(spec)
    if match is None:
        return None
    user_id = int(match.group(1))
    if user_id < 1:
        raise UnknownUser(f"{spec}: master user ids start at 1")
    return user_id


def resolve_user(spec: str, master_env: Mapping[str, str]) -> Target:
    """The target for ``USER``: ``id:N`` needs nothing; a username is read from the master
    (its ``user_version USERNAME``, run with ``master_env``)."""
    user_id = parse_user_id(spec)
    if user_id is not None:
        return Target(user_id=user_id)
    proc = projects.start(["user_version", spec], master_env)
    found = projects.json_answer(proc, timeout=USER_LOOKUP_TIMEOUT_SECONDS)
    if isinstance(found, str):
        raise ConfigError(
            f"cannot read the master's database to find user {spec!r} ({found}): check "
            "DATABASE_URL, or pass id:N"
        )
    if found.get("user_id") is None:
        raise UnknownUser(f"no master user {spec!r}: check the username, or pass id:N")
    version = found.get("version") or 1
    login_field = found.get("login_field") or "username"  # a master of an earlier release
    return Target(
        user_id=int(found["user_id"]),
        username=spec,
        version=max(1, int(version)),
        login_field=str(login_field),
    )


def synthetic_events(target: Target, count: int) -> list[Envelope]:
    """``count`` synthetic "updated" events for the target, changing nothing; they carry the
    login under the master's USERNAME_FIELD, as its own events do."""
    user: dict[str, FieldValue] = {target.login_field: target.username} if target.username else {}
    return [
        new_event(
            action=Action.UPDATED,
            user_id=target.user_id,
            version=target.version,
            user=user,
            changed=(),
            synthetic=True,
        )
        for _ in range(count)
    ]


def topic_arn(settings: Settings, cfg: Config) -> str:
    """The topic: configured or recorded by provisioning, else looked up by name."""
    return settings.topic_arn or topics.find_topic_arn(
        settings, naming.topic_name(cfg.prefix, fifo=cfg.fifo)
    )


def publish(settings: Settings, topic: str, events: Sequence[Envelope]) -> dict[str, float]:
    """Publish each event (one Publish call each); event id -> wall-clock start of its call."""
    sns = aws.client("sns", settings)
    fifo = topic.endswith(".fifo")
    keys = signing_keys(settings)  # signed as the master signs: listeners refuse the unsigned
    published: dict[str, float] = {}
    for event in events:
        body = encode(event)
        request: dict[str, Any] = {
            "TopicArn": topic,
            "Message": body,
            # As the master sends it, so filter policies on "action" treat it alike.
            "MessageAttributes": signing.attributes(body, keys, action=event.action.value),
        }
        if fifo:
            request["MessageGroupId"] = str(event.user_id)
            request["MessageDeduplicationId"] = str(event.event_id)
        started = time.time()
        with aws.map_aws_errors(f"Publish of event {event.event_id} to {topic}"):
            sns.publish(**request)
        published[str(event.event_id)] = started
    return published


def emit_and_collect(
    settings: Settings,
    topic: str,
    events: Sequence[Envelope],
    clients: Sequence[str],
    *,
    timeout: float,
) -> list[ClientDelivery]:
    """Join the reply groups, publish, collect acks until all listeners acked or ``timeout``."""
    import redis

    try:
        return asyncio.run(_emit_and_collect(settings, topic, events, clients, timeout))
    except (OSError, redis.RedisError) as e:
        raise ChannelLayerError(
            f"channel layer at {settings.redis_url} failed: {type(e).__name__}: {e}: is the "
            "stack's Redis running (REDIS_URL)?"
        ) from e


def client_redis_url(settings: Settings, client: str) -> str:
    """The Redis of ``client``'s channel layer: ``<CLIENT>_REDIS_URL`` (its own Redis user in
    a deployment, deploy/supervisord.conf), else REDIS_URL."""
    return own_environment(os.environ, client).get("REDIS_URL") or settings.redis_url


async def _emit_and_collect(
    settings: Settings,
    topic: str,
    events: Sequence[Envelope],
    clients: Sequence[str],
    timeout: float,
) -> list[ClientDelivery]:
    from channels_redis.core import RedisChannelLayer

    def host(client: str) -> dict[str, Any]:
        return {
            "address": client_redis_url(settings, client),
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
            # Longer than the layer's blocking receive (5 s), which otherwise times out idle.
            "socket_timeout": 3 * RedisChannelLayer.brpop_timeout,
        }

    layers = {
        c: RedisChannelLayer(hosts=[host(c)], prefix=naming.channel_layer_prefix(c))
        for c in clients
    }
    groups = [naming.emit_reply_group(e.event_id) for e in events]
    channels: dict[str, str] = {}
    try:
        for client, layer in layers.items():
            channels[client] = await layer.new_channel()
            for group in groups:
                await layer.group_add(group, channels[client])
        published = await asyncio.to_thread(publish, settings, topic, events)
        collector = Collector(published=published, clients=list(clients))
        await _collect(layers, channels, collector, timeout)
        return collector.report()
    finally:
        await _leave(layers, channels, groups)


async def _collect(
    layers: dict[str, Any], channels: dict[str, str], collector: Collector, timeout: float
) -> None:
    """Read acks from every client's layer until all listeners acked (plus a grace) or timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    done = asyncio.Event()

    async def read(client: str) -> None:
        while True:
            collector.add(client, await layers[client].receive(channels[client]))
            if collector.complete():
                done.set()

    readers: list[asyncio.Task[Any]] = [asyncio.create_task(read(c)) for c in channels]
    waiter: asyncio.Task[Any] = asyncio.create_task(done.wait())
    try:
        finished, _ = await asyncio.wait(
            [waiter, *readers], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in readers:
            if task in finished:
                task.result()  # a reader only ends by failing: raise its error
        if done.is_set():
            await asyncio.sleep(max(0.0, min(SOCKET_GRACE_SECONDS, deadline - loop.time())))
    finally:
        for task in [waiter, *readers]:
            task.cancel()
        await asyncio.gather(waiter, *readers, return_exceptions=True)


async def _leave(layers: dict[str, Any], channels: dict[str, str], groups: list[str]) -> None:
    """Leave every reply group and close the connections; never masks the real outcome."""
    for client, layer in layers.items():
        with contextlib.suppress(Exception):
            if client in channels:
                for group in groups:
                    await layer.group_discard(group, channels[client])
        with contextlib.suppress(Exception):
            await layer.close_pools()
