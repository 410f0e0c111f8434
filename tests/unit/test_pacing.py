"""Relay pacing (reactive_users/master/relay/pacing.py): the rules on plain numbers, and one
process's pacer driven by a fake clock and fake queue depths. Against moto:
tests/master/test_pacing.py."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import pytest

from reactive_users.core.errors import EndpointUnreachable
from reactive_users.master.relay.pacing import (
    DEFAULT_DRAIN_RATE,
    MAX_HOLD_SECONDS,
    MAX_LOOK_SECONDS,
    MIN_HOLD_SECONDS,
    RATE_PROBE,
    STALL_SECONDS,
    UNREAD_PAUSE_SECONDS,
    Pacer,
    QueueView,
    hold,
    observe,
    resume_depth,
    room,
)

LIMIT = 100


def view(depth: int, *, at: float = 0.0, stalled: bool = False, rate: float | None = None):
    return QueueView(depth=depth, at=at, progress_at=at, stalled=stalled, drain_rate=rate)


# --- observe --------------------------------------------------------------------------------


def test_a_first_look_knows_the_depth_and_nothing_of_the_rate() -> None:
    first = observe(None, 250, 10.0, published=0, max_depth=LIMIT)
    assert first == QueueView(depth=250, at=10.0, progress_at=10.0)


def test_the_drain_rate_counts_what_was_published_between_looks() -> None:
    # 40 waiting, 60 published since, 30 left one second later: 70 drained in 1 s.
    after = observe(view(40), 30, 1.0, published=60, max_depth=LIMIT)
    assert after.drain_rate == pytest.approx(70.0)
    # The next measurement is blended with the history, not taken alone.
    later = observe(after, 40, 2.0, published=30, max_depth=LIMIT)
    assert later.drain_rate == pytest.approx(0.5 * 20.0 + 0.5 * 70.0)


def test_a_queue_found_drained_is_thought_to_drain_faster_than_measured() -> None:
    # 90 drained in 1 s, but the look found it empty: it may have run dry early, so 90/s
    # is a lower bound and the estimate probes upward.
    before = view(50, at=0.0, rate=100.0)
    after = observe(before, 0, 1.0, published=40, max_depth=LIMIT)
    assert after.drain_rate == pytest.approx(100.0 * RATE_PROBE)
    # Found not empty, the measurement is not a bound: taken as it is.
    above = observe(before, 10, 1.0, published=40, max_depth=LIMIT)
    assert above.drain_rate == pytest.approx(0.5 * 80.0 + 0.5 * 100.0)


def test_a_queue_under_the_limit_that_drains_is_still_waited_for() -> None:
    before = view(LIMIT - 1, at=0.0)
    after = observe(before, LIMIT - 2, STALL_SECONDS + 1, published=0, max_depth=LIMIT)
    assert not after.stalled
    assert after.progress_at == STALL_SECONDS + 1


def test_a_queue_kept_at_the_limit_or_over_is_stalled_after_the_stall_time_though_it_drains():
    # A backfill tops the queue up as fast as its listener drains it: 300 drained since,
    # yet it is still over the limit. That is no progress the relay could publish into.
    before = view(300, at=0.0)
    soon = observe(before, 290, STALL_SECONDS - 1, published=0, max_depth=LIMIT)
    assert not soon.stalled and soon.drain_rate is not None
    late = observe(soon, LIMIT, STALL_SECONDS, published=0, max_depth=LIMIT)
    assert late.stalled and late.progress_at == 0.0


def test_a_queue_over_the_limit_that_does_not_drain_is_stalled_after_the_stall_time() -> None:
    before = view(300, at=0.0)
    soon = observe(before, 300, STALL_SECONDS - 1, published=0, max_depth=LIMIT)
    assert not soon.stalled
    late = observe(soon, 300, STALL_SECONDS, published=0, max_depth=LIMIT)
    assert late.stalled and late.progress_at == 0.0


def test_a_queue_at_the_limit_that_does_not_drain_is_stalled_too() -> None:
    before = view(LIMIT, at=0.0)
    late = observe(before, LIMIT, STALL_SECONDS, published=0, max_depth=LIMIT)
    assert late.stalled


def test_a_stalled_queue_stays_stalled_while_it_drains_until_the_resume_depth() -> None:
    stalled = view(5000, stalled=True)
    draining = observe(stalled, 4000, 1.0, published=0, max_depth=LIMIT)
    assert draining.stalled  # a client catching up on a backlog does not hold everyone
    nearly = observe(draining, resume_depth(LIMIT) + 1, 30.0, published=0, max_depth=LIMIT)
    assert nearly.stalled
    back = observe(nearly, resume_depth(LIMIT), 31.0, published=0, max_depth=LIMIT)
    assert not back.stalled


# --- room and hold --------------------------------------------------------------------------


def test_with_room_for_what_is_wanted_it_publishes() -> None:
    assert room({"a": view(95)}, max_depth=LIMIT, wanted=5) == 5


def test_the_deepest_queue_waited_for_sets_the_room() -> None:
    views = {"a": view(10), "b": view(20), "c": view(900, stalled=True)}
    assert room(views, max_depth=LIMIT, wanted=10) == 80


def test_a_big_ask_waits_for_the_queue_to_be_down_to_the_resume_depth() -> None:
    assert resume_depth(LIMIT) == 25
    assert room({"a": view(25)}, max_depth=LIMIT, wanted=500) == 75
    assert room({"a": view(26)}, max_depth=LIMIT, wanted=500) == 0
    assert room({"a": view(95)}, max_depth=LIMIT, wanted=10) == 0


def test_with_every_queue_stalled_or_none_subscribed_nothing_holds() -> None:
    assert room({}, max_depth=LIMIT, wanted=10) == LIMIT
    assert room({"a": view(900, stalled=True)}, max_depth=LIMIT, wanted=10) == LIMIT


def test_the_hold_lasts_until_the_queue_should_be_at_the_resume_depth() -> None:
    views = {"a": view(40, at=0.0, rate=200.0)}
    # 40 at the last look, 60 published since, 0.1 s ago: 80 expected, 55 over 25 at 200/s.
    wait = hold(views, published=60, now=0.1, max_depth=LIMIT)
    assert wait == pytest.approx(55 / 200.0)
    # Long enough ago that it should have drained: look now.
    assert hold(views, published=60, now=10.0, max_depth=LIMIT) == 0.0


def test_the_hold_assumes_a_default_rate_waits_for_the_slowest_and_stays_in_bounds() -> None:
    assert hold({"a": view(75)}, published=0, now=0.0, max_depth=LIMIT) == pytest.approx(
        50 / DEFAULT_DRAIN_RATE
    )
    slow_and_fast = {"a": view(75, rate=500.0), "b": view(75, rate=50.0)}
    assert hold(slow_and_fast, published=0, now=0.0, max_depth=LIMIT) == MAX_HOLD_SECONDS
    assert hold({"a": view(26, rate=1e6)}, published=0, now=0.0, max_depth=LIMIT) == (
        MIN_HOLD_SECONDS
    )
    assert hold({"a": view(900, stalled=True)}, published=0, now=0.0, max_depth=LIMIT) == 0.0


def test_a_queue_thought_to_drain_slowly_is_looked_at_again_after_the_look_interval() -> None:
    # 1 message/s measured: on paper it is down to the resume depth in three minutes, but
    # the estimate may be wrong (something refills it), and only a look can tell.
    slow = {"a": view(200, at=0.0, rate=1.0)}
    assert hold(slow, published=0, now=0.0, max_depth=LIMIT) == MAX_HOLD_SECONDS
    last = MAX_LOOK_SECONDS - MAX_HOLD_SECONDS / 2
    assert hold(slow, published=0, now=last, max_depth=LIMIT) == pytest.approx(MAX_HOLD_SECONDS / 2)
    assert hold(slow, published=0, now=MAX_LOOK_SECONDS, max_depth=LIMIT) == 0.0


# --- the pacer ------------------------------------------------------------------------------


class Queues:
    """Fake queue depths on a fake clock: what the pacer publishes lands in every queue, and
    each queue drains at its own rate while the pacer sleeps."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        self.rates = dict(rates)
        self.depths = dict.fromkeys(rates, 0.0)
        self.now = 0.0
        self.looks = 0
        self.slept: list[float] = []
        self.deepest = 0.0

    def read(self) -> dict[str, int]:
        self.looks += 1
        return {name: math.ceil(depth) for name, depth in self.depths.items()}

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        for name, rate in self.rates.items():
            self.depths[name] = max(0.0, self.depths[name] - rate * seconds)

    def publish(self, count: int) -> None:
        for name in self.depths:
            self.depths[name] += count
            self.deepest = max(self.deepest, self.depths[name])

    def pacer(self, limit: int = LIMIT, **kwargs) -> Pacer:
        return Pacer(
            max_depth=limit,
            read_depths=self.read,
            clock=lambda: self.now,
            sleep=self.sleep,
            **kwargs,
        )


def publish_all(queues: Queues, pacer: Pacer, total: int, *, per_call: int = 10) -> None:
    sent = 0
    while sent < total:
        assert queues.now < 3600, "the pacer held publishing for an hour"
        granted = pacer.take(min(per_call, total - sent))
        assert granted >= 1
        queues.publish(granted)
        sent += granted


def test_off_it_grants_everything_and_never_looks() -> None:
    queues = Queues({"a": 0.0})
    pacer = queues.pacer(limit=0)
    assert pacer.take(500) == 500
    assert queues.looks == 0


def test_a_burst_never_fills_a_queue_past_the_limit_and_looks_about_once_per_cycle() -> None:
    queues = Queues({"a": 300.0, "b": 200.0})
    pacer = queues.pacer()
    publish_all(queues, pacer, 1000)
    assert queues.deepest <= LIMIT
    assert queues.slept  # it held: the burst was faster than the queues drain
    # A cycle publishes the room between the resume depth and the limit, then holds.
    cycles = 1000 / (LIMIT - resume_depth(LIMIT))
    assert queues.looks <= 2 * cycles


def test_on_an_idle_pipeline_one_look_serves_many_single_events() -> None:
    queues = Queues({"a": 1e9})
    pacer = queues.pacer()
    for _ in range(LIMIT):
        assert pacer.take(1) == 1
        queues.publish(1)
        queues.sleep(1.0)  # the next save comes a second later; the queue is empty again
    assert queues.looks == 1


def test_a_big_ask_gets_the_room_left_without_a_look_and_can_give_back_what_it_did_not_use():
    queues = Queues({"a": 0.0})
    pacer = queues.pacer()
    assert pacer.take(500) == LIMIT  # the first look: an empty queue
    pacer.give_back(LIMIT)  # a relay run that found nothing due
    assert pacer.take(500) == LIMIT  # the same room, no second look
    pacer.give_back(LIMIT - 30)  # it published 30
    queues.publish(30)
    assert pacer.take(10) == 10
    assert queues.looks == 1


def test_a_queue_nobody_drains_holds_publishing_only_for_the_stall_time(caplog) -> None:
    queues = Queues({"live": 500.0, "dead": 0.0})
    held: list[float] = []
    pacer = queues.pacer(on_hold=held.append)
    with caplog.at_level(logging.WARNING, logger="reactive_users.master.pacing"):
        publish_all(queues, pacer, 2000)
    assert queues.depths["dead"] == 2000  # nothing lost: it waits in its queue
    # Held for the dead queue until it stalled, then only as fast as the live one drains.
    assert STALL_SECONDS <= sum(held) <= STALL_SECONDS + 2000 / 500.0 + 1.0
    assert "queue dead holds" in caplog.text and "is its listener running" in caplog.text


def test_a_backfill_keeping_a_queue_full_holds_live_events_only_for_the_stall_time(caplog):
    # For a minute a backfill tops "late" up to twice the limit every 0.37 s, in
    # batches of 10, while its listener drains 150/s: a look finds it anywhere from 145 to
    # 200, often lower than at the look before. "other" is a client that keeps up. Live events
    # come one at a time, a tenth of a second apart.
    queues = Queues({"late": 150.0, "other": 1000.0})
    drain, backfill_until = queues.sleep, 60.0
    refill_at = [0.25]

    def sleep_while_backfilling(seconds: float) -> None:
        assert seconds > 0
        end = queues.now + seconds
        while refill_at[0] <= min(end, backfill_until):
            drain(refill_at[0] - queues.now)
            room = 2.0 * LIMIT - queues.depths["late"]
            queues.depths["late"] += 10 * max(0, math.floor(room / 10))
            refill_at[0] += 0.37
        drain(end - queues.now)

    queues.sleep = sleep_while_backfilling  # type: ignore[method-assign]
    queues.depths["late"] = 2.0 * LIMIT
    held: list[float] = []
    pacer = queues.pacer(on_hold=held.append)
    with caplog.at_level(logging.WARNING, logger="reactive_users.master.pacing"):
        for _ in range(50):
            assert queues.now < 3600, "the pacer held publishing for an hour"
            assert pacer.take(1) == 1
            queues.publish(1)
            sleep_while_backfilling(0.1)  # the next save
    # Held until the queue counted as stalled, not until the backfill ended
    assert STALL_SECONDS <= sum(held) <= STALL_SECONDS + MAX_LOOK_SECONDS
    assert queues.now < backfill_until
    assert "queue late holds" in caplog.text and "backfill" in caplog.text


def test_depths_that_cannot_be_read_never_hold_publishing(caplog) -> None:
    queues = Queues({"a": 0.0})

    def unreachable() -> dict[str, int]:
        queues.looks += 1
        raise EndpointUnreachable("GetQueueAttributes failed: endpoint unreachable")

    pacer = Pacer(max_depth=LIMIT, read_depths=unreachable, clock=lambda: queues.now)
    with caplog.at_level(logging.WARNING, logger="reactive_users.master.pacing"):
        assert pacer.take(10) == 10
        assert pacer.take(10) == 10
    assert queues.looks == 1  # unpaced for a while: no look per call
    assert "publishing unpaced" in caplog.text
    queues.now += UNREAD_PAUSE_SECONDS
    pacer.take(10)
    assert queues.looks == 2
