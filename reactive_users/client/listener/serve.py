"""Running a client's listener in the foreground until a signal: what ``listen`` runs."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from prometheus_client import CollectorRegistry

from reactive_users.client import conf
from reactive_users.client.listener.alive import redis_alive
from reactive_users.client.listener.loop import MAX_PREFETCH, MAX_WAIT_TIME_SECONDS, Listener
from reactive_users.client.listener.notifier import Notifier
from reactive_users.core import metrics
from reactive_users.core.aws import queues
from reactive_users.core.settings import Settings

logger = logging.getLogger(__name__)


def queue_url_for(*, settings: Settings, client: str, explicit: str | None = None) -> str:
    """The queue to read: ``explicit`` (REACTIVE_QUEUE_URL), else what provisioning recorded,
    else looked up by name (``QueueNotFound`` if absent): ``queues.client_queue_url``."""
    return queues.client_queue_url(settings, client, explicit=explicit)


def serve(
    *,
    settings: Settings,
    client: str,
    explicit_queue_url: str | None = None,
    max_messages: int = MAX_PREFETCH,
    wait_seconds: int = MAX_WAIT_TIME_SECONDS,
) -> None:
    """Run a client's listener in the foreground until SIGTERM/SIGINT (``listen`` commands).

    Resolves the queue first (``QueueNotFound`` if it was never provisioned). Receives with
    REACTIVE_LISTENER_VISIBILITY_SECONDS and keeps at most REACTIVE_LISTENER_NOTIFY_BACKLOG
    frames waiting for the channel layer (``reactive_users.client.conf``). Serves the
    listener's metrics on ``REACTIVE_METRICS_PORT`` when it is set. Renews this process's
    alive key in REDIS_URL from the loop (``alive.py``), for ``reactive status``. A first
    signal lets the long poll in progress finish (up to ``wait_seconds``), finishes the
    message in hand, hands the rest back (visibility 0), sends the frames still waiting (for
    a bounded time) and returns; a second signal returns at once.
    """
    registry = CollectorRegistry()
    visibility = conf.listener_visibility_seconds()
    loop = Listener(
        settings=settings,
        client=client,
        queue_url=queue_url_for(settings=settings, client=client, explicit=explicit_queue_url),
        max_messages=max_messages,
        wait_seconds=wait_seconds,
        visibility_seconds=visibility,
        notifier=Notifier(max_backlog=conf.listener_notify_backlog()),
        registry=registry,
        read_depths=settings.metrics_port is not None,
        alive=redis_alive(settings, client),
    )
    if settings.metrics_port is not None:  # REACTIVE_METRICS_PORT
        metrics.serve(registry, port=settings.metrics_port, addr=settings.metrics_addr)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if loop.stopping:  # a second signal: the operator does not want to wait
            logger.warning(
                "%s again: stopping now; messages of the abandoned long poll come back "
                "after the visibility timeout (%d s)",
                name,
                visibility,
            )
            loop.request_stop(interrupt=True, force=True)
            return
        logger.info(
            "%s: stopping after the long poll in progress (up to %d s) and the message in "
            "hand; what is not applied is handed back. Send %s again to stop at once.",
            name,
            wait_seconds,
            name,
        )
        loop.request_stop(interrupt=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    loop.run()
    # Stopped cleanly: a late signal must not kill the exiting process (SIG_IGN, unlike a
    # Python handler, survives interpreter shutdown), so the exit status stays 0.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
