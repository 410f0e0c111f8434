"""Prometheus metrics of the relay and the listeners: one definition of every name.

Each long-running process (the master's Celery worker that runs the relay, each listener)
serves its own metrics in Prometheus' text format on ``REACTIVE_METRICS_PORT`` (off when
unset), bound to ``REACTIVE_METRICS_ADDR`` (default 127.0.0.1). With several listener
processes on one host give each its own port: under supervisord,
``REACTIVE_METRICS_PORT=91%(process_num)02d`` gives 9100, 9101, ...

Names (all prefixed ``reactive_``):

===================================== ======= =============================================
relay_events_published_total          counter events SNS accepted
relay_messages_published_total        counter SNS messages accepted (fewer than events when
                                              REACTIVE_PUBLISH_BATCH packs them)
relay_publish_failures_total          counter events SNS refused or could not be reached for
outbox_backlog                        gauge   events committed and not yet published
outbox_oldest_age_seconds             gauge   age of the oldest of those (0 when none)
outbox_waiting_retry                  gauge   of those, failed ones waiting for their backoff
outbox_rows_deleted_total             counter sent rows the retention sweep deleted
listener_events_received_total        counter events received (each of a multi-event message)
listener_messages_received_total      counter messages received from SQS
listener_events_applied_total         counter events that changed the client database
listener_events_ignored_stale_total   counter events older than what the client holds
listener_events_duplicate_total       counter events the client already holds (redelivery)
listener_events_tested_total          counter synthetic events pushed to sockets only
listener_values_truncated_total       counter values stored cut to the client's limit
                                              (REACTIVE_OVERSIZE_POLICY=truncate; ``field``)
listener_events_failed_total          counter events not applied, per receive
listener_events_dead_lettered_total   counter sent to the dead-letter queue by the listener
listener_events_retried_total         counter handed back to be retried (transient failures)
listener_visibility_extended_total    counter held batches kept invisible (heartbeat calls)
listener_frames_dropped_total         counter socket frames never sent to the channel layer
listener_notify_backlog               gauge   socket frames waiting for the channel layer
listener_apply_seconds                histo.  time to apply one event to the database
listener_event_lag_seconds            histo.  master commit to applied on the client
listener_queue_messages               gauge   queue depth last seen (visible/in_flight/dlq)
===================================== ======= =============================================

Every listener metric carries a ``client`` label (``values_truncated`` also a ``field``).
The outbox gauges are read from the master's database when scraped, with the same query as
``reactive status``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

#: Buckets (seconds) of the apply-time histogram: a database transaction's range.
APPLY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Buckets (seconds) of the end-to-end lag histogram: from fractions of a second to minutes.
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class OutboxReading:
    """What the outbox holds right now, as ``reactive status`` and the gauges show it."""

    backlog: int
    oldest_age_seconds: float
    waiting_retry: int = 0
    #: Every row the outbox holds, sent or not (``reactive status`` only; None: not read).
    rows: int | None = None
    #: Age of the oldest sent row, which the retention sweep deletes next (None: none).
    oldest_sent_age_seconds: float | None = None
    #: How long sent rows are kept (REACTIVE_OUTBOX_RETENTION_SECONDS; None: not read).
    retention_seconds: float | None = None
    #: Whether the relay, backfill and repair pack events into multi-event messages
    #: (REACTIVE_PUBLISH_BATCH; ``reactive status`` only; None: not read, or an older master).
    publish_batch: bool | None = None


class OutboxCollector(Collector):
    """Outbox gauges computed at scrape time by ``read`` (a database query)."""

    def __init__(self, read: Callable[[], OutboxReading]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            reading = self._read()
        except Exception as exc:  # a scrape must never take the process down
            logger.warning("metrics: outbox not readable: %s: %s", type(exc).__name__, exc)
            return
        yield GaugeMetricFamily(
            "reactive_outbox_backlog",
            "Events committed in the master and not yet published to SNS.",
            value=reading.backlog,
        )
        yield GaugeMetricFamily(
            "reactive_outbox_oldest_age_seconds",
            "Age of the oldest unpublished event (0 when there is none).",
            value=reading.oldest_age_seconds,
        )
        yield GaugeMetricFamily(
            "reactive_outbox_waiting_retry",
            "Unpublished events that failed and wait for their backoff.",
            value=reading.waiting_retry,
        )


class RelayMetrics:
    """The relay's counters, and the outbox gauges when given a reader."""

    def __init__(
        self,
        registry: CollectorRegistry,
        outbox: Callable[[], OutboxReading] | None = None,
    ) -> None:
        self.published = Counter(
            "reactive_relay_events_published",
            "Events SNS accepted.",
            registry=registry,
        )
        self.messages_published = Counter(
            "reactive_relay_messages_published",
            "SNS messages accepted (one event each, or several with REACTIVE_PUBLISH_BATCH).",
            registry=registry,
        )
        self.failed = Counter(
            "reactive_relay_publish_failures",
            "Events SNS refused or could not be reached for (retried later).",
            registry=registry,
        )
        self.paced = Counter(
            "reactive_relay_paced_seconds",
            "Seconds the relay held publishing while a client queue was full "
            "(REACTIVE_RELAY_MAX_QUEUE_DEPTH).",
            registry=registry,
        )
        self.deleted = Counter(
            "reactive_outbox_rows_deleted",
            "Sent outbox rows deleted once REACTIVE_OUTBOX_RETENTION_SECONDS had passed.",
            registry=registry,
        )
        if outbox is not None:
            registry.register(OutboxCollector(outbox))


class ListenerMetrics:
    """One listener process's counters, histograms and queue gauges, labelled by client."""

    def __init__(self, registry: CollectorRegistry, client: str) -> None:
        def counter(name: str, doc: str) -> Any:
            return Counter(name, doc, ["client"], registry=registry).labels(client=client)

        self.received = counter(
            "reactive_listener_events_received",
            "Events received (each event of a multi-event message; a message that does not "
            "decode counts as one).",
        )
        self.messages_received = counter(
            "reactive_listener_messages_received", "SQS messages received."
        )
        self.applied = counter(
            "reactive_listener_events_applied", "Events that changed the client database."
        )
        self.ignored_stale = counter(
            "reactive_listener_events_ignored_stale",
            "Events older than what the client holds (late, or after a delete).",
        )
        self.duplicate = counter(
            "reactive_listener_events_duplicate",
            "Events the client already holds (a redelivery).",
        )
        self.tested = counter(
            "reactive_listener_events_tested", "Synthetic events, pushed to sockets only."
        )
        self.failed = counter(
            "reactive_listener_events_failed",
            "Events not applied (malformed, refused, or failed for now), per receive.",
        )
        self.dead_lettered = counter(
            "reactive_listener_events_dead_lettered",
            "Events that can never be applied, sent to the dead-letter queue by the listener.",
        )
        self._truncated = Counter(
            "reactive_listener_values_truncated",
            "Replicated values stored cut to this client's limit (REACTIVE_OVERSIZE_POLICY="
            "truncate), per field.",
            ["client", "field"],
            registry=registry,
        )
        self.retried = counter(
            "reactive_listener_events_retried",
            "Events that failed for now, their message handed back to be received again.",
        )
        self.visibility_extended = counter(
            "reactive_listener_visibility_extended",
            "Times a batch still being handled was kept invisible (ChangeMessageVisibility).",
        )
        self.frames_dropped = counter(
            "reactive_listener_frames_dropped",
            "Socket frames never sent to the channel layer (backlog full, refused, stopped).",
        )
        self._backlog = Gauge(
            "reactive_listener_notify_backlog",
            "Socket frames waiting to be sent to the channel layer.",
            ["client"],
            registry=registry,
        ).labels(client=client)
        self.apply_seconds = Histogram(
            "reactive_listener_apply_seconds",
            "Time to apply one event to the client database.",
            ["client"],
            buckets=APPLY_BUCKETS,
            registry=registry,
        ).labels(client=client)
        self.lag_seconds = Histogram(
            "reactive_listener_event_lag_seconds",
            "From the master's commit of an event to its apply on this client.",
            ["client"],
            buckets=LAG_BUCKETS,
            registry=registry,
        ).labels(client=client)
        self._queue = Gauge(
            "reactive_listener_queue_messages",
            "Queue depth as last seen by this listener.",
            ["client", "state"],
            registry=registry,
        )
        self._client = client

    def truncated(self, fields: Iterable[str]) -> None:
        """Count one value stored cut for each of ``fields``."""
        for name in fields:
            self._truncated.labels(client=self._client, field=name).inc()

    def watch_notify_backlog(self, read: Callable[[], float]) -> None:
        """Read the notify backlog gauge from ``read`` at each scrape."""
        self._backlog.set_function(read)

    def queue_depth(self, *, visible: int, in_flight: int, dead_letters: int | None) -> None:
        """Record the depths read from SQS (dead letters None: not read)."""
        self._queue.labels(client=self._client, state="visible").set(visible)
        self._queue.labels(client=self._client, state="in_flight").set(in_flight)
        if dead_letters is not None:
            self._queue.labels(client=self._client, state="dlq").set(dead_letters)


def serve(registry: CollectorRegistry, *, port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``registry`` over HTTP on ``addr:port`` from a daemon thread; the server."""
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    logger.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server
