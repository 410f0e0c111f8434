"""The fast path: publish a commit's outbox rows from the saving process, in a thread.

With ``REACTIVE_RELAY=thread`` a commit hands its new row ids to this process's publisher
thread instead of enqueueing a Celery relay task: no broker round trip and no worker hop
between the commit and SNS. Each round the thread claims the ids it has (rows a relay run
holds are skipped), publishes them (PublishBatch, 10 per call) and settles them, like a
relay run: the claim keeps the sweep off rows a long round is still publishing, and rows
SNS refuses back off for the sweep to retry. With pacing on (``pacing.py``) a round claims
all its ids and publishes them in the parts pacing allows. Whatever the thread does not
publish (the process exited with ids still queued, say) stays pending for the sweep, which
leaves rows younger than ``REACTIVE_OUTBOX_MIN_AGE_SECONDS`` to this thread. The Celery
worker and beat still run the sweep; only the per-commit kick changes.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading

from django.db import close_old_connections, connections

from reactive_users.master.relay.publish import outbox_publish_rows

logger = logging.getLogger(__name__)

#: Row ids one publishing round claims at most (the rest wait for the next round): a burst
#: is claimed whole, so that a paced round keeps the sweep off it (``pacing.py``), and still
#: goes out well within a claim (5,000 at 100 events/s: 50 s of the claim's 120).
MAX_ROUND = 5000
#: Seconds an exiting process waits for its thread to publish what it was given (a short
#: command that saved users); what is left then is the sweep's.
EXIT_FLUSH_SECONDS = 10.0


class Publisher:
    """One daemon thread per process that publishes the row ids it is given, in rounds."""

    def __init__(self) -> None:
        self._ids: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        #: Ids submitted and not yet through a round; ``flush`` waits for none.
        self._unsettled = 0
        self._settled = threading.Condition()

    def submit(self, row_id: int) -> None:
        """Queue a committed row for publishing (starts the thread on first use, and again
        in a forked child, whose copy of the thread does not run)."""
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._start()
        with self._settled:
            self._unsettled += 1
        self._ids.put(row_id)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every submitted id went through a round; whether
        they all did. Called at exit, so that a short command's saves leave published."""
        with self._settled:
            return self._settled.wait_for(lambda: self._unsettled <= 0, timeout=timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            if self._pid != os.getpid():  # forked: the parent's queued ids are the parent's
                self._ids = queue.SimpleQueue()
                self._unsettled = 0
                self._settled = threading.Condition()
                atexit.register(self.flush, EXIT_FLUSH_SECONDS)
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            ids = [self._ids.get()]
            while len(ids) < MAX_ROUND:
                try:
                    ids.append(self._ids.get_nowait())
                except queue.Empty:
                    break
            try:
                close_old_connections()
                outbox_publish_rows(ids=ids)
            except Exception:  # never let the thread die: the sweep publishes what is left
                logger.exception("Outbox publisher: %d event(s) left for the sweep", len(ids))
            finally:
                with self._settled:
                    self._unsettled -= len(ids)
                    self._settled.notify_all()
                if self._ids.empty():  # idle: hold no database connection while waiting
                    connections.close_all()  # this thread's own only


#: This process's publisher.
PUBLISHER = Publisher()
