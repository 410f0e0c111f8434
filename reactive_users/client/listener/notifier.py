"""Socket frames from the listener, off its apply path: one thread owns the event loop.

The listener hands each committed batch's results to ``Notifier.submit`` and goes on at
once: applying never waits on the channel layer (Redis). A thread of the notifier's own
sends them, batch after batch in the order submitted: a batch's users at the same time,
each user's frames one after another, so one user's frames keep their version order; then
the batch's ``reactive emit-test`` acks.

While the channel layer fails or does not answer (down, or frozen: every attempt is cut
after NOTIFY_TIMEOUT_SECONDS), the thread retries the batch in hand with a back-off of at
most NOTIFY_RETRY_CAP_SECONDS, each user's chain resuming after the frames it already sent
(none twice), so frames resume once Redis answers again. Later batches wait in a backlog of
at most ``max_backlog`` frames; past it the OLDEST waiting batches are dropped: a page
ignores frames older than the version it shows and gets the current state when it
reconnects, so the newest frames are the ones worth keeping. Drops are counted
(``on_drop``) and logged. For the same reason, while the channel layer fails, a user's
frames not sent yet give way to a newer batch's frames of that user (superseded, not
dropped; ``test`` frames of ``reactive emit-test`` excepted; ``jobs.py``): once Redis
answers, a page that reconnected meanwhile is not sent an older state, nor a ``gone`` frame
that a later change undid. ``close`` sends what is left for at most ``drain_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from reactive_users.client.apply import ApplyResult
from reactive_users.client.failures import compute_backoff, one_line
from reactive_users.client.listener.acks import acknowledge
from reactive_users.client.listener.jobs import Backlog, Job, job_for
from reactive_users.client.tuning import DEFAULT_NOTIFY_BACKLOG

logger = logging.getLogger(__name__)

#: Longest one attempt to send a batch's frames may take, in seconds (a frozen Redis).
NOTIFY_TIMEOUT_SECONDS = 5.0
#: Longest wait between two attempts while the channel layer fails, in seconds.
NOTIFY_RETRY_CAP_SECONDS = 2.0
#: Longest ``close`` sends what is left before dropping it, in seconds, by default.
DEFAULT_DRAIN_SECONDS = 5.0
#: Seconds between two log lines while the channel layer keeps failing.
LOG_EVERY_SECONDS = 30.0
#: Longest ``send`` waits for its batch's first attempt, in seconds.
SEND_WAIT_SECONDS = 60.0

#: Errors of an unreachable or silent channel layer: the batch is tried again.
RETRYABLE = (OSError, TimeoutError, RedisError)


class Notifier:
    """Sends group messages from a thread that owns ONE event loop (one Redis pool)."""

    def __init__(
        self,
        layer: Any = None,
        *,
        max_backlog: int = DEFAULT_NOTIFY_BACKLOG,
        drain_seconds: float = DEFAULT_DRAIN_SECONDS,
    ) -> None:
        self._layer = layer if layer is not None else get_channel_layer()
        self._drain_seconds = drain_seconds
        self._loop = asyncio.new_event_loop()
        self._cond = threading.Condition()
        self._closed = threading.Event()  # cuts a back-off wait short
        self._backlog = Backlog(max_backlog)
        self._thread: threading.Thread | None = None
        self._current: asyncio.Task[None] | None = None  # the attempt in progress
        self._closing = False
        self._deadline: float | None = None  # when closing: drop what is left after this
        #: Called with the number of frames dropped (a metric); set by the listener.
        self.on_drop: Callable[[int], None] = lambda frames: None
        self._failing_since: float | None = None
        self._logged_at = 0.0
        self._failed_attempts = 0

    @property
    def backlog(self) -> int:
        """Frames waiting to be sent (the batch being sent not included)."""
        return self._backlog.frames

    @property
    def superseded(self) -> int:
        """Frames not sent because a newer frame of the same user replaced them (an outage)."""
        return self._backlog.superseded

    def submit(self, results: Sequence[ApplyResult], *, client: str = "") -> None:
        """Queue ``results``' frames (and emit-test acks, named ``client``); never waits."""
        job = job_for(results, client=client) if self._layer is not None else None
        if job is not None:
            self._enqueue(job)

    def send(self, results: Sequence[ApplyResult], *, client: str = "") -> bool:
        """``submit``, then wait for the batch's first attempt: whether it was sent."""
        job = job_for(results, client=client) if self._layer is not None else None
        if job is None:
            return True
        self._enqueue(job)
        return job.attempted.wait(SEND_WAIT_SECONDS) and job.first_ok

    def close(self, drain_seconds: float | None = None) -> None:
        """Send what is waiting for at most ``drain_seconds`` (default: the notifier's),
        drop the rest, stop the thread and close the loop."""
        bound = self._drain_seconds if drain_seconds is None else drain_seconds
        with self._cond:
            if self._closing:  # closed before (a listener's run, then its owner)
                return
            self._closing = True
            self._deadline = deadline = time.monotonic() + max(0.0, bound)
            self._cond.notify_all()
            thread = self._thread
        self._closed.set()
        if thread is not None:
            # An attempt in progress is cut at the deadline (in the loop's own thread).
            self._loop.call_soon_threadsafe(self._loop.call_at, deadline, self._cut)
            thread.join(max(0.0, bound) + NOTIFY_TIMEOUT_SECONDS + 1.0)
            if thread.is_alive():
                logger.error("notifier thread still sending after %.1f s: left behind", bound)
                return
        self._loop.close()

    # --- the submitting side ---------------------------------------------------------------

    def _enqueue(self, job: Job) -> None:
        with self._cond:
            if self._closing:
                dropped = [job]
            else:
                dropped = self._backlog.add(job, supersede_older=self._failing_since is not None)
                self._start()
                self._cond.notify_all()
        self._dropped(dropped, "the backlog is full")

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
            self._thread.start()

    def _dropped(self, jobs: list[Job], why: str) -> None:
        if not jobs:
            return
        frames = sum(j.frames for j in jobs)
        for job in jobs:
            job.attempted.set()
        self.on_drop(frames)
        logger.warning(
            "%d socket message(s) of %d batch(es) dropped: %s (pages catch up on "
            "reconnect); events %s",
            frames,
            len(jobs),
            why,
            ",".join(j.events for j in jobs if j.events) or "-",
        )

    # --- the sending thread ----------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        while (job := self._next()) is not None:
            try:
                self._deliver(job)
            except Exception:  # never let the thread die: the next batch may go through
                logger.exception("notifier: batch of events %s not sent", job.events)
                self._dropped([job], "unexpected error")

    def _next(self) -> Job | None:
        """The oldest waiting job; None once closing and nothing is left (or time is up)."""
        with self._cond:
            while not self._backlog and not self._closing:
                self._cond.wait()
            self._backlog.current = None
            if not self._backlog or self._past_deadline():
                self._dropped(self._backlog.take_all(), "the listener stopped")
                return None
            return self._backlog.take()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _deliver(self, job: Job) -> None:
        """Send one job, retrying while the channel layer fails; drop it at the deadline."""
        attempt = 0
        while True:
            if not job.pending:  # everything in it was superseded meanwhile
                self._attempted(job, ok=True)
                return
            timeout = NOTIFY_TIMEOUT_SECONDS
            if self._deadline is not None:
                timeout = min(timeout, self._deadline - time.monotonic())
                if timeout <= 0:
                    self._dropped([job], "the listener stopped")
                    return
            self._current = self._loop.create_task(self._send(job))
            try:
                self._loop.run_until_complete(asyncio.wait_for(self._current, timeout))
            except asyncio.CancelledError:  # cut at the deadline by ``close``
                self._dropped([job], "the listener stopped")
                return
            except TimeoutError:
                if self._past_deadline():  # cut by the closing deadline, not Redis's fault
                    self._dropped([job], "the listener stopped")
                    return
                attempt += 1
                self._failed(job, TimeoutError(f"no answer in {timeout:.1f} s"), attempt)
            except RETRYABLE as exc:
                attempt += 1
                self._failed(job, exc, attempt)
            except Exception as exc:  # not the layer being away: trying again will not help
                self._attempted(job, ok=False)
                logger.error("channel layer refused events %s: %s", job.events, one_line(exc))
                self._dropped([job], "refused")
                return
            else:
                self._attempted(job, ok=True)
                self._recovered()
                return
            self._back_off(attempt)

    def _back_off(self, attempt: int) -> None:
        """Wait before the next attempt; once closing, never past the deadline."""
        delay = compute_backoff(attempt, cap=NOTIFY_RETRY_CAP_SECONDS)
        deadline = self._deadline
        if deadline is None:
            self._closed.wait(delay)  # a close cuts it short
        else:
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))

    def _cut(self) -> None:
        """In the loop, at the closing deadline: cancel the attempt in progress."""
        if self._current is not None and not self._current.done():
            self._current.cancel()

    async def _send(self, job: Job) -> None:
        """One chain of sends per group, the chains at the same time (a batch's users wait
        on Redis together, not one after another); on the first failure the other chains
        are cancelled, so no send of this attempt runs behind the next. Then the acks."""
        try:
            async with asyncio.TaskGroup() as sending:
                for group, messages in job.chains.items():
                    sending.create_task(self._send_chain(job, group, messages))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        if job.synthetic:
            await acknowledge(self._layer, job.synthetic, client=job.client)
            job.synthetic = ()  # sent: a retry of a later failure does not send them again

    async def _send_chain(self, job: Job, group: str, messages: list[dict[str, Any]]) -> None:
        for message in messages[job.sent.get(group, 0) :]:  # in order; what was sent, not again
            # A connection pooled before Redis restarted is retried once on a fresh one
            # (CHANNEL_LAYERS "retry" in client/settings.py).
            await self._layer.group_send(group, message)
            job.sent[group] = job.sent.get(group, 0) + 1

    def _attempted(self, job: Job, *, ok: bool) -> None:
        if not job.attempted.is_set():
            job.first_ok = ok
            job.attempted.set()

    def _failed(self, job: Job, exc: BaseException, attempt: int) -> None:
        self._attempted(job, ok=False)
        now = time.monotonic()
        with self._cond:
            self._failed_attempts += 1
            if self._failing_since is None:  # from now on newer frames replace older ones
                self._failing_since = now
                self._backlog.coalesce()
        if attempt == 1 or now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            logger.error(
                "channel layer failed (attempt %d for events %s; %d frame(s) waiting behind "
                "them; retrying): %s",
                attempt,
                job.events or "-",
                self._backlog.frames,
                one_line(exc),
            )

    def _recovered(self) -> None:
        with self._cond:
            since, self._failing_since = self._failing_since, None
            superseded, self._backlog.superseded = self._backlog.superseded, 0
            failed, self._failed_attempts = self._failed_attempts, 0
        if since is not None:
            logger.warning(
                "channel layer answers again after %.1f s and %d failed attempt(s); %d "
                "frame(s) were superseded by newer ones of the same user",
                time.monotonic() - since,
                failed,
                superseded,
            )
