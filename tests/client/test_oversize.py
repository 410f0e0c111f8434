"""A value longer than this client stores: refused to the dead-letter queue naming the field,
or stored cut and counted, as REACTIVE_OVERSIZE_POLICY says (limits.py). A real listener on
moto's queue and the real channel layer; the dumps ``reactive diff`` and ``status`` read."""

from __future__ import annotations

import json
import logging
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from prometheus_client import CollectorRegistry

from devstack.processes import until
from reactive_users.client.limits import Policy
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action
from tests.client.support import Queue, polled_listener, user_event

db = pytest.mark.django_db(transaction=True)

LONG = "Maximilianus"  # 12 characters
TRUNCATED = "reactive_listener_values_truncated_total"


@pytest.fixture
def narrow(settings) -> None:
    """This client stores at most 10 characters of a first name."""
    settings.REACTIVE_FIELD_MAX_LENGTHS = {"first_name": 10}


def dump() -> list[dict]:
    out = StringIO()
    call_command("replica_dump", stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def stats() -> dict:
    out = StringIO()
    call_command("replica_stats", stdout=out)
    return json.loads(out.getvalue())


def dead_letters(queue: Queue) -> int:
    return queue.counts(queue.dlq_url)[0]


@db
def test_refuse_sends_a_value_over_the_limit_to_the_dlq_naming_field_length_and_limit(
    queue: Queue, layer_prefix, caplog
) -> None:
    # Given the default policy, and a master's 151-character first name in the queue,
    # with a valid event after it
    queue.send_event(user_event(user_id=1, username="ana", first_name="x" * 151))
    queue.send_event(user_event(user_id=2, username="bob"))

    # When the listener handles them until the refused one is a dead letter
    with caplog.at_level(logging.ERROR), polled_listener(queue) as loop:
        until(
            lambda: loop.poll_once() is not None and dead_letters(queue) == 1,
            timeout=60,
            what="one dead letter",
        )

    # Then the user was not created, the other one was, and the reason names the field
    assert list(Replica.objects.values_list("master_id", flat=True)) == [2]
    assert not User.objects.filter(username="ana").exists()
    assert (
        "master user 1: first_name is 151 characters, more than this client's limit of 150 "
        "(REACTIVE_OVERSIZE_POLICY=refuse): widen the field or set "
        "REACTIVE_OVERSIZE_POLICY=truncate"
    ) in caplog.text
    assert stats() == {"replicas": 1, "truncated_users": 0, "truncated_fields": {}}


@db
def test_refuse_applies_to_a_limit_narrowed_by_the_setting(
    queue: Queue, layer_prefix, narrow, caplog
) -> None:
    queue.send_event(user_event(user_id=1, username="ana", first_name=LONG))

    with caplog.at_level(logging.ERROR), polled_listener(queue) as loop:
        until(
            lambda: loop.poll_once() is not None and dead_letters(queue) == 1,
            timeout=60,
            what="one dead letter",
        )

    assert not Replica.objects.exists()
    assert "first_name is 12 characters, more than this client's limit of 10" in caplog.text


@db
def test_truncate_stores_the_value_cut_counts_it_and_shows_it_until_a_value_fits(
    queue: Queue, layer_prefix, narrow, settings, caplog
) -> None:
    settings.REACTIVE_OVERSIZE_POLICY = Policy.TRUNCATE
    registry = CollectorRegistry()
    labels = {"client": "shop", "field": "first_name"}
    queue.send_event(user_event(user_id=1, username="ana", first_name=LONG))

    # When the listener applies it
    with caplog.at_level(logging.WARNING), polled_listener(queue, registry=registry) as loop:
        until(lambda: loop.poll_once() is not None and queue.empty(), what="queue drained")

        # Then the user holds the first 10 characters, and the replica says which field was cut
        assert User.objects.get(username="ana").first_name == LONG[:10]
        assert Replica.objects.get(master_id=1).truncated == "first_name=10"
        assert registry.get_sample_value(TRUNCATED, labels) == 1
        assert "stored with first_name cut to this client's limit" in caplog.text
        # and what `reactive status` and `reactive diff` read says so
        assert stats() == {
            "replicas": 1,
            "truncated_users": 1,
            "truncated_fields": {"first_name": 1},
        }
        [record] = dump()
        assert record["truncated"] == {"first_name": 10}
        assert record["fields"]["first_name"] == LONG[:10]

        # When a later change brings a first name that fits
        queue.send_event(
            user_event(
                user_id=1, username="ana", version=2, action=Action.UPDATED, first_name="Max"
            )
        )
        until(lambda: loop.poll_once() is not None and queue.empty(), what="queue drained")

    # Then the user holds it whole and nothing is marked cut any more
    assert User.objects.get(username="ana").first_name == "Max"
    assert Replica.objects.get(master_id=1).truncated == ""
    assert "truncated" not in dump()[0]
    assert stats()["truncated_users"] == 0
    assert registry.get_sample_value(TRUNCATED, labels) == 1


@db
def test_truncate_never_cuts_a_username(queue: Queue, layer_prefix, settings, caplog) -> None:
    settings.REACTIVE_OVERSIZE_POLICY = Policy.TRUNCATE
    queue.send_event(user_event(user_id=1, username="a" * 151))

    with caplog.at_level(logging.ERROR), polled_listener(queue) as loop:
        until(
            lambda: loop.poll_once() is not None and dead_letters(queue) == 1,
            timeout=60,
            what="one dead letter",
        )

    assert not Replica.objects.exists()
    assert (
        "username is 151 characters, more than this client's limit of 150; a username is "
        "never cut: widen the field" in caplog.text
    )
