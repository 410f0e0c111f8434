"""A listener renews its alive key once per interval, and a Redis that fails never stops it."""

from __future__ import annotations

import logging

import pytest

from reactive_users.client.listener.alive import Alive
from reactive_users.core import naming
from reactive_users.core.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_key_is_renewed_at_most_once_per_interval():
    clock, recorded = Clock(), []
    alive = Alive(lambda: recorded.append(clock.now), lambda: None, clock=clock, interval=10)

    for step in (0, 4, 5.9, 1, 9):  # at 100, 104, 109.9, 110.9, 119.9
        clock.now += step
        alive.beat()

    assert recorded == [100.0, 110.9]


def test_a_failing_redis_is_one_warning_and_is_tried_again_when_due(caplog):
    clock, calls = Clock(), []

    def record() -> None:
        calls.append(clock.now)
        if len(calls) < 3:
            raise ConnectionError("refused")

    alive = Alive(record, lambda: None, clock=clock, interval=10)
    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            alive.beat()
            clock.now += 10

    assert calls == [100.0, 110.0, 120.0, 130.0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ConnectionError: refused" in warnings[0]


def test_forgetting_the_key_on_stop_never_raises():
    def forget() -> None:
        raise ConnectionError("gone")

    Alive(lambda: None, forget).forget()


def test_the_keys_of_one_client_share_a_pattern_that_no_other_client_matches():
    key = naming.listener_alive_key("acme", "shop", "host-1:4242")
    assert key == "acme:listener-alive:shop:host-1:4242"
    assert naming.listener_alive_pattern("acme", "shop") == "acme:listener-alive:shop:*"
    assert not key.startswith(naming.listener_alive_pattern("acme", "shop-eu").rstrip("*"))
    with pytest.raises(ConfigError):
        naming.listener_alive_key("acme", "Shop", "h:1")
