"""emit-test's pure parts: USER given by id, and the synthetic events it publishes."""

from __future__ import annotations

import pytest

from reactive_cli.emit import Target, client_redis_url, parse_user_id, synthetic_events
from reactive_users.core.contract import Action, decode, encode
from reactive_users.core.errors import UnknownUser
from reactive_users.core.settings import Settings


def test_id_n_names_a_master_id_and_anything_else_is_a_username():
    assert parse_user_id("id:42") == 42
    assert parse_user_id("ana") is None
    assert parse_user_id("id:ana") is None
    assert parse_user_id("ana.maria+test@example.com") is None


def test_id_0_is_refused_as_an_unknown_user():
    with pytest.raises(UnknownUser, match="start at 1"):
        parse_user_id("id:0")


def test_synthetic_events_are_distinct_updates_that_change_nothing_and_carry_only_the_username():
    events = synthetic_events(Target(user_id=7, username="ana", version=4), 3)
    assert len({e.event_id for e in events}) == 3
    for event in events:
        assert (event.synthetic, event.action, event.changed) == (True, Action.UPDATED, ())
        assert (event.user_id, event.version, dict(event.user)) == (7, 4, {"username": "ana"})
        assert decode(encode(event)) == event  # the strict wire format, unchanged


def test_against_a_master_logging_in_by_email_the_login_travels_as_its_email():
    target = Target(user_id=7, username="ana@example.com", version=2, login_field="email")
    (event,) = synthetic_events(target, 1)
    assert dict(event.user) == {"email": "ana@example.com"}
    assert "username" not in encode(event)
    assert target.label == "ana@example.com (id 7)"


def test_a_target_given_by_id_sends_an_empty_payload_and_is_labelled_by_id():
    target = Target(user_id=9)
    (event,) = synthetic_events(target, 1)
    assert (dict(event.user), event.version, target.label) == ({}, 1, "id:9")
    assert Target(user_id=9, username="bo").label == "bo (id 9)"


def test_each_clients_acks_are_read_through_its_own_redis_user_when_it_has_one(monkeypatch):
    shared = Settings(redis_url="redis://127.0.0.1:16379/0")
    monkeypatch.setenv("SHOP_REDIS_URL", "redis://shop:pw@redis.internal:6379/1")
    monkeypatch.delenv("BLOG_REDIS_URL", raising=False)

    assert client_redis_url(shared, "shop") == "redis://shop:pw@redis.internal:6379/1"
    assert client_redis_url(shared, "blog") == "redis://127.0.0.1:16379/0"
