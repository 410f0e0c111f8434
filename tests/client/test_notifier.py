"""The listener's Notifier (notifier.py): frames leave from a thread of its own, so that
applying never waits on Redis; a batch's users are sent to at the same time, each one's
frames in order; a failure leaves no send of the batch running behind it; a frozen Redis
(SIGSTOP) holds frames back, bounded, until it answers again."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.core import RedisChannelLayer

from devstack.processes import until
from devstack.services import RestartableRedis
from reactive_users.client import frames
from reactive_users.client.apply import ApplyResult
from reactive_users.client.decide import Decision
from reactive_users.client.listener.notifier import Notifier
from reactive_users.core import naming
from reactive_users.core.contract import Action
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
        with caplog.at_level(logging.ERROR, logger="reactive_users.client.listener.notifier"):
            assert notifier.send(batch) is False
    finally:
        notifier.close(drain_seconds=0)

    assert layer.cancelled == [naming.user_group(2)]
    assert "ConnectionError: Redis refused the connection" in caplog.text


def test_with_redis_frozen_submit_returns_and_the_frames_arrive_in_order_once_it_answers(
    tmp_path,
):
    with RestartableRedis(tmp_path / "redis") as redis:
        layer = RedisChannelLayer(hosts=[redis.url], prefix="frozen")
        notifier = Notifier(layer=RedisChannelLayer(hosts=[redis.url], prefix="frozen"))
        users = (1, 2)

        async def join() -> dict[int, str]:
            channels = {}
            for user_id in users:
                channels[user_id] = await layer.new_channel()
                await layer.group_add(naming.user_group(user_id), channels[user_id])
            return channels

        loop = asyncio.new_event_loop()
        try:
            channels = loop.run_until_complete(join())
            assert notifier.send([changed(u, 1) for u in users])  # the pool is warm
            # When Redis is frozen, the listener hands over three more batches
            redis.freeze()
            for version in (2, 3, 4):
                notifier.submit([changed(u, version) for u in users])
            # (they wait: submitting returned with Redis silent)
            assert notifier.backlog >= 2 * 2
            redis.thaw()

            async def receive(channel: str) -> list[int]:
                frames = [await asyncio.wait_for(layer.receive(channel), 30) for _ in range(4)]
                return [f["frame"]["version"] for f in frames]

            # Then once it answers again, every user gets every frame, in version order
            received = {u: loop.run_until_complete(receive(c)) for u, c in channels.items()}
        finally:
            notifier.close()
            loop.close()
    assert received == {u: [1, 2, 3, 4] for u in users}


def test_past_its_backlog_the_oldest_waiting_frames_are_dropped_and_counted(tmp_path, caplog):
    with RestartableRedis(tmp_path / "redis") as redis:
        layer = RedisChannelLayer(hosts=[redis.url], prefix="bounded")
        notifier = Notifier(
            layer=RedisChannelLayer(hosts=[redis.url], prefix="bounded"), max_backlog=3
        )
        dropped: list[int] = []
        notifier.on_drop = dropped.append
        loop = asyncio.new_event_loop()
        try:
            channel = loop.run_until_complete(layer.new_channel())
            loop.run_until_complete(layer.group_add(naming.user_group(1), channel))
            assert notifier.send([changed(1, 1)])
            redis.freeze()
            # Given a batch in hand (being tried against the frozen Redis)
            notifier.submit([changed(1, 2)])
            until(lambda: notifier.backlog == 0, what="the batch taken by the notifier")
            # When five more wait behind it, two more than the backlog holds
            with caplog.at_level(logging.WARNING, logger="reactive_users.client.listener.notifier"):
                for version in range(3, 8):
                    notifier.submit([changed(1, version)])
            assert (notifier.backlog, dropped) == (3, [1, 1])
            assert "dropped: the backlog is full" in caplog.text
            redis.thaw()

            async def receive() -> list[int]:
                frames = [await asyncio.wait_for(layer.receive(channel), 30) for _ in range(5)]
                return [f["frame"]["version"] for f in frames]

            # Then the one in hand and the newest three arrive, in order, after the first
            received = loop.run_until_complete(receive())
        finally:
            notifier.close()
            loop.close()
    assert received == [1, 2, 5, 6, 7]


def test_closing_gives_up_on_a_frozen_redis_after_its_drain_time_and_counts_the_rest(tmp_path):
    with RestartableRedis(tmp_path / "redis") as redis:
        notifier = Notifier(layer=RedisChannelLayer(hosts=[redis.url], prefix="drain"))
        dropped: list[int] = []
        notifier.on_drop = dropped.append
        assert notifier.send([changed(1, 1)])
        redis.freeze()
        for version in (2, 3, 4):
            notifier.submit([changed(1, version), changed(2, version)])
        notifier.close(drain_seconds=0.5)  # returns: it does not wait for Redis
        assert sum(dropped) + notifier.superseded == 3 * 2


def test_while_redis_fails_a_users_frames_not_sent_yet_give_way_to_newer_ones(tmp_path, caplog):
    with RestartableRedis(tmp_path / "redis") as redis:
        layer = RedisChannelLayer(hosts=[redis.url], prefix="newer")
        notifier = Notifier(layer=RedisChannelLayer(hosts=[redis.url], prefix="newer"))
        loop = asyncio.new_event_loop()
        try:

            async def join() -> dict[int, str]:
                channels = {u: await layer.new_channel() for u in (1, 2)}
                for user_id, channel in channels.items():
                    await layer.group_add(naming.user_group(user_id), channel)
                return channels

            channels = loop.run_until_complete(join())
            assert notifier.send([changed(1, 1), changed(2, 1)])
            # Given a frozen Redis the notifier has seen fail (its attempt timed out)
            redis.freeze()
            with caplog.at_level(logging.WARNING, logger="reactive_users.client.listener.notifier"):
                notifier.submit([changed(1, 2)])
                until(
                    lambda: "channel layer failed" in caplog.text,
                    timeout=30,
                    what="the first attempt to time out",
                )
                # When newer changes of user 1 come, and one of user 2
                notifier.submit([changed(1, 3)])
                notifier.submit([changed(1, 4), changed(2, 2)])
                redis.thaw()

                async def receive(channel: str, count: int) -> list[int]:
                    got = [await asyncio.wait_for(layer.receive(channel), 30) for _ in range(count)]
                    return [f["frame"]["version"] for f in got]

                # Then each user gets only its newest frame after the outage
                one = loop.run_until_complete(receive(channels[1], 2))
                two = loop.run_until_complete(receive(channels[2], 2))
                until(lambda: "answers again" in caplog.text, what="the recovery logged")
        finally:
            notifier.close()
            loop.close()
    assert (one, two) == ([1, 4], [1, 2])
    assert "2 frame(s) were superseded by newer ones of the same user" in caplog.text
