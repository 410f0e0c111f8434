"""The relay's Prometheus endpoint: valid text format, matching counts, `status` agreeing."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import free_port
from reactive_cli import status
from reactive_users.core.settings import Settings
from reactive_users.master.metrics import serve_if_configured
from reactive_users.master.relay.publish import outbox_publish_pending


@pytest.fixture
def scrape(master_settings: Settings) -> Iterator:
    """``scrape()``: the relay's metrics over HTTP, parsed by prometheus_client's own parser."""
    server = serve_if_configured(replace(master_settings, metrics_port=free_port()))
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    def read() -> dict[str, float]:
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain")
            text = answer.read().decode()
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    yield read
    server.shutdown()
    server.server_close()


def test_nothing_is_served_without_a_port(master_settings: Settings) -> None:
    assert serve_if_configured(replace(master_settings, metrics_port=None)) is None


@pytest.mark.django_db(transaction=True)
def test_published_events_and_the_backlog_are_counted_and_agree_with_status(topic, scrape):
    before = scrape()
    for i in range(7):
        User.objects.create_user(username=f"metric{i}")

    waiting = scrape()
    assert waiting["reactive_outbox_backlog"] == 7
    assert waiting["reactive_outbox_oldest_age_seconds"] >= 0
    assert waiting["reactive_outbox_waiting_retry"] == 0
    reading = outbox_stats()
    assert not isinstance(reading, str), reading
    assert reading.backlog == waiting["reactive_outbox_backlog"]

    report = outbox_publish_pending()

    after = scrape()
    assert report.published == 7
    published = "reactive_relay_events_published_total"
    assert after[published] - before.get(published, 0) == 7
    assert after["reactive_outbox_backlog"] == 0
    assert after["reactive_outbox_oldest_age_seconds"] == 0
    assert len(topic.queue.receive(7)) == 7


@pytest.mark.django_db(transaction=True)
def test_failed_publishes_are_counted_and_wait_to_retry(settings, master_settings, scrape):
    settings.REACTIVE = replace(
        master_settings,
        aws_endpoint_url=f"http://127.0.0.1:{free_port()}",
        topic_arn="arn:aws:sns:us-east-1:123456789012:nowhere",
    )
    before = scrape()
    for i in range(3):
        User.objects.create_user(username=f"failing{i}")

    report = outbox_publish_pending()

    after = scrape()
    failed = "reactive_relay_publish_failures_total"
    assert report.failed == 3
    assert after[failed] - before.get(failed, 0) == 3
    assert after["reactive_outbox_backlog"] == 3
    assert after["reactive_outbox_waiting_retry"] == 3


@pytest.mark.django_db
def test_outbox_stats_says_whether_events_travel_packed(settings, master_settings):
    assert outbox_stats().publish_batch is False
    settings.REACTIVE_PUBLISH_BATCH = True
    assert outbox_stats().publish_batch is True


def outbox_stats():
    """What `reactive status` makes of the master's ``outbox_stats`` line (run in-process, on
    the test database)."""
    out = io.StringIO()
    call_command("outbox_stats", stdout=out)
    return status.outbox_reading(json.loads(out.getvalue().strip().splitlines()[-1]))
