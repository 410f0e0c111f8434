"""A listener's Prometheus endpoint: valid text format, counts that match what was sent."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest
from django.contrib.auth.models import User
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import free_port, port_open, python, running, until
from reactive_users.client.models import Replica
from reactive_users.core import metrics
from reactive_users.core.contract import Action
from tests.client.support import Queue, listen_env, polled_listener, user_event

db = pytest.mark.django_db(transaction=True)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint, parsed by prometheus_client's own parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@db
def test_the_listeners_metrics_count_what_was_sent(queue: Queue, layer_prefix):
    # Given, in the queue: 3 new users, one update and a redelivery of it, a synthetic
    # event, a malformed body and one that collides with a local user
    User.objects.create_user("carol", password="x")
    for user_id in (1, 2, 3):
        queue.send_event(user_event(user_id=user_id, username=f"user{user_id}"))
    update = user_event(user_id=1, username="user1", version=3, action=Action.UPDATED)
    queue.send_event(update)
    queue.send_event(update)  # the same event again: a duplicate
    queue.send_event(user_event(user_id=2, username="user2", synthetic=True))
    queue.send('{"schema": 1, "nonsense": true}')
    queue.send_event(user_event(user_id=9, username="carol"))

    registry = CollectorRegistry()
    port = free_port()
    server = metrics.serve(registry, port=port)
    try:
        with polled_listener(queue, registry=registry, read_depths=True) as loop:
            # When the listener handles everything (the two bad ones go to the DLQ at once)
            until(lambda: loop.poll_once() is not None and queue.empty(), what="queue drained")
            assert queue.counts(queue.dlq_url)[0] == 2
            # and then an event older than what is held arrives late
            queue.send_event(
                user_event(user_id=1, username="user1", version=2, action=Action.UPDATED)
            )
            until(lambda: loop.poll_once() is not None and queue.empty(), what="late one handled")
            loop.stats.read_depths_next()  # read the depths again now
            loop.poll_once()
            found = scrape(port)
    finally:
        server.shutdown()
        server.server_close()

    # Then the counters say exactly that
    shop = (("client", "shop"),)

    def value(name: str, labels: tuple[tuple[str, str], ...] = shop) -> float:
        return found[(name, labels)]

    assert Replica.objects.count() == 3
    assert value("reactive_listener_events_applied_total") == 4
    assert value("reactive_listener_events_duplicate_total") == 1
    assert value("reactive_listener_events_ignored_stale_total") == 1
    assert value("reactive_listener_events_tested_total") == 1
    # two bad messages, each received once and sent to the dead-letter queue by the listener
    assert value("reactive_listener_events_failed_total") == 2
    assert value("reactive_listener_events_dead_lettered_total") == 2
    assert value("reactive_listener_events_retried_total") == 0
    assert value("reactive_listener_events_received_total") == 8 + 1
    assert value("reactive_listener_frames_dropped_total") == 0
    assert value("reactive_listener_notify_backlog") == 0
    assert value("reactive_listener_apply_seconds_count") == 4 + 1 + 1
    assert value("reactive_listener_event_lag_seconds_count") == 4 + 1 + 1
    assert value("reactive_listener_queue_messages", (("client", "shop"), ("state", "dlq"))) == 2
    visible = (("client", "shop"), ("state", "visible"))
    assert value("reactive_listener_queue_messages", visible) == 0


def test_the_listen_command_serves_its_metrics_on_the_port_it_is_given(
    queue: Queue, redis_url: str, tmp_path
):
    env = {**listen_env(queue, redis_url, tmp_path), "REACTIVE_METRICS_PORT": str(free_port())}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'listener.sqlite3'}"
    migrate = subprocess.run(
        python("-m", "client", "migrate", "--verbosity", "0"), env=env, timeout=120
    )
    assert migrate.returncode == 0
    queue.send_event(user_event(user_id=1, username="served"))
    queue.send_event(user_event(user_id=2, username="also-served"))
    port = int(env["REACTIVE_METRICS_PORT"])
    applied = ("reactive_listener_events_applied_total", (("client", "shop"),))
    with running(
        "listen-metrics",
        python("-m", "client", "listen"),
        env=env,
        log_dir=tmp_path,
        ready=lambda: port_open(port),
    ):
        until(lambda: scrape(port).get(applied) == 2, timeout=30, what="2 applied, served")
        depth = ("reactive_listener_queue_messages", (("client", "shop"), ("state", "visible")))
        assert depth in scrape(port)
