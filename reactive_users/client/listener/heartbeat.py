"""Keeps the batch a listener holds invisible while it is applied, and no longer.

The listener receives with a short visibility timeout (``REACTIVE_LISTENER_VISIBILITY_SECONDS``,
default 10 s) so that the batch of a listener that dies (``kill -9``, a lost host) is
visible again, for another listener or its restart, within that time rather than the
queue's 30 s. A batch still being applied, dead-lettered or deleted when a third of it has
passed has its visibility extended to the full timeout again (ChangeMessageVisibilityBatch),
from this thread, every third of it for as long as it is held: a slow batch (a database
lock, a slow SQS) is never delivered twice while it is applied. A batch done within a third
of the timeout costs no call here.

``drop`` takes messages out before the listener changes their visibility itself (hands them
back, retries them later): it waits for an extension in progress, so none lands after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

SQSMessage = Mapping[str, Any]
#: Extends the visibility of some held messages to the given seconds (SQS call, may raise).
Extend = Callable[[list[SQSMessage], int], None]


def heartbeat_interval(visibility_seconds: int) -> float:
    """Seconds between two extensions of a held batch: a third of the visibility timeout,
    so that two may fail or be late before the batch becomes visible again."""
    return visibility_seconds / 3


class Heartbeat:
    """Extends the visibility of the messages held, from a thread of its own."""

    def __init__(
        self,
        extend: Extend,
        *,
        visibility_seconds: int,
        on_extended: Callable[[], None] = lambda: None,
    ) -> None:
        self._extend = extend
        #: Called after each extension that went through (a metric).
        self._on_extended = on_extended
        self.visibility_seconds = visibility_seconds
        self._interval = heartbeat_interval(visibility_seconds)
        self._cond = threading.Condition()
        self._calling = threading.Lock()  # held during an extension (taken before _cond)
        self._held: dict[str, SQSMessage] = {}  # receipt handle -> message
        self._due = 0.0  # when the held messages are next extended
        self._closed = False
        self._thread: threading.Thread | None = None

    def hold(self, messages: Iterable[SQSMessage]) -> None:
        """The listener just received ``messages``: extend them while they are held."""
        with self._cond:
            if not self._held:
                self._due = time.monotonic() + self._interval
            self._held.update((m["ReceiptHandle"], m) for m in messages)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def drop(self, messages: Iterable[SQSMessage]) -> None:
        """Stop extending ``messages``; returns once no extension of them is in progress."""
        with self._calling, self._cond:
            for message in messages:
                self._held.pop(message["ReceiptHandle"], None)

    def clear(self) -> None:
        """Stop extending every held message."""
        with self._calling, self._cond:
            self._held.clear()

    def close(self) -> None:
        """Stop the thread (the messages still held come back after their timeout)."""
        with self._cond:
            self._closed = True
            self._held.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(5)

    def _run(self) -> None:
        while self._wait_due():
            with self._calling:
                with self._cond:
                    held = list(self._held.values())
                    self._due = time.monotonic() + self._interval
                if held:
                    self._beat(held)

    def _wait_due(self) -> bool:
        """Wait until the held messages are due for an extension; False once closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._held and now >= self._due:
                    return True
                self._cond.wait(self._due - now if self._held else None)
            return False

    def _beat(self, held: list[SQSMessage]) -> None:
        try:
            self._extend(held, self.visibility_seconds)
            self._on_extended()
        except Exception as exc:  # the next beat tries again; the loop carries on
            logger.warning(
                "could not extend the visibility of %d held message(s): %s: %s",
                len(held),
                type(exc).__name__,
                exc,
            )
