"""The listener's Notifier: a batch's users are sent to at the same time, each one's frames in
order, and a failure leaves no send of the batch running behind it (listener.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.core import RedisChannelLayer

from client.replica import frames
from client.replica.decide import Decision
from client.replica.listener import Notifier
from client.replica.services import ApplyResult
from reactive_cli import naming
from reactive_cli.contract import Action
from tests.client.support import user_event


def changed(user_id: int, version: int) -> ApplyResult:
    """An applied update of ``user_id`` to ``version`` and the one frame it sends."""
    event = user_event(user_id=user_id, version=version, action=Action.UPDATED)
    message = frames.group_message(frames.USER_CHANGED, {"version": version})
    return ApplyResult(event=event, decision=Decision.UPSERT, messages=(message,))


def test_each_users_frames_arrive_in_order_when_users_are_sent_to_at_once(
    redis_url: str, layer_prefix: str
):
    users = range(1, 6)
    # One batch's results, users interleaved as the listener may hold them
    results = [changed(user_id, version) for version in (1, 2, 3) for user_id in users]
    notifier = Notifier(layer=RedisChannelLayer(hosts=[redis_url], prefix=layer_prefix))
    layer = RedisChannelLayer(hosts=[redis_url], prefix=layer_prefix)

    async def send_and_receive() -> dict[int, list[int]]:
        channels = {}
        for user_id in users:
            channels[user_id] = await layer.new_channel()
            await layer.group_add(naming.user_group(user_id), channels[user_id])
        assert await asyncio.to_thread(notifier.send, results)
        return {
            user_id: [
                (await asyncio.wait_for(layer.receive(channel), 10))["frame"]["version"]
                for _ in range(3)
            ]
            for user_id, channel in channels.items()
        }

    try:
        received = asyncio.run(send_and_receive())
    finally:
        notifier.close()

    assert received == {user_id: [1, 2, 3] for user_id in users}


class OneGroupFails:
    """A channel layer whose sends to user 1 fail and to anyone else wait until cancelled."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if group == naming.user_group(1):
            raise ConnectionError("Redis refused the connection")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(group)
            raise


def test_a_failed_send_cancels_the_batchs_other_sends_and_is_logged_as_itself(caplog):
    layer = OneGroupFails()
    notifier = Notifier(layer=layer)
    # User 2's send starts first and is still waiting when user 1's fails
    batch = [changed(2, 1), changed(1, 1)]

    try:
        with caplog.at_level(logging.ERROR, logger="client.replica.listener"):
            assert notifier.send(batch) is False
    finally:
        notifier.close()

    assert layer.cancelled == [naming.user_group(2)]
    assert "ConnectionError: Redis refused the connection" in caplog.text
