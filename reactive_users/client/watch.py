"""This process's open sockets and the credentials each was opened with, checked until they
end (the rules: ``credentials.py``).

Each socket is checked alone when it opens, when woken (a ``user.recheck`` group message:
its user logged out, lost a session or changed password) and at its credentials' expiry;
and every socket is checked in one sweep, one database call for all of them, every
REACTIVE_WS_RECHECK_SECONDS: the backstop for changes that sent no signal. A socket whose
credentials ended is handed to its ``end`` callback once. A failed check (the database
away) is logged; the socket stays until a later check can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

from reactive_users.client import conf, credentials
from reactive_users.client.credentials import Credentials
from reactive_users.client.frames import EndReason
from reactive_users.client.selectors import credential_facts

logger = logging.getLogger(__name__)

#: Ends a socket whose credentials no longer hold (the consumer's final frame and close).
EndSocket = Callable[[EndReason], Awaitable[None]]


@dataclass(eq=False)
class _Watched:
    held: Credentials
    end: EndSocket
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Watch:
    """The open sockets of this process, by channel name, and the sweep that checks them."""

    def __init__(self) -> None:
        self._open: dict[str, _Watched] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def add(self, channel: str, held: Credentials, end: EndSocket) -> None:
        """Start checking the socket ``channel`` (it is checked at once)."""
        watched = self._open[channel] = _Watched(held, end)
        watched.task = asyncio.create_task(self._follow(channel, watched))
        sweeper = self._sweeper
        if sweeper is None or sweeper.done() or sweeper.get_loop() is not watched.task.get_loop():
            self._sweeper = asyncio.create_task(self._sweep_forever())

    def wake(self, channel: str) -> None:
        """Check the socket ``channel`` now."""
        if (watched := self._open.get(channel)) is not None:
            watched.wake.set()

    def discard(self, channel: str) -> None:
        """Stop checking the socket ``channel`` (it closed)."""
        watched = self._open.pop(channel, None)
        if watched is not None and watched.task is not None:
            watched.task.cancel()
        if not self._open and self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def sweep(self) -> None:
        """Check every open socket, in one database call."""
        watched = list(self._open.items())
        if not watched:
            return
        found = await self._read([w.held for _, w in watched])
        now = time.time()
        for (channel, one), facts in zip(watched, found or (), strict=False):
            reason = credentials.end_reason(facts, now=now)
            if reason is not None:
                await self._end(channel, one, reason)

    async def _follow(self, channel: str, watched: _Watched) -> None:
        """Check one socket now, then whenever woken or at its credentials' expiry."""
        while self._open.get(channel) is watched:
            watched.wake.clear()  # before reading: a wake during the read means one more check
            found = await self._read([watched.held])
            delay: float | None = None  # until woken
            if found:
                now = time.time()
                if (reason := credentials.end_reason(found[0], now=now)) is not None:
                    await self._end(channel, watched, reason)
                    return
                delay = credentials.seconds_left(found[0], now=now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watched.wake.wait(), timeout=delay)

    async def _sweep_forever(self) -> None:
        while self._open:
            await asyncio.sleep(conf.ws_recheck_seconds())
            await self.sweep()

    async def _read(self, held: list[Credentials]) -> list[credentials.Facts] | None:
        try:
            found: list[credentials.Facts] = await database_sync_to_async(credential_facts)(held)
        except Exception as exc:  # the database is away: the sockets stay until a check tells
            logger.warning(
                "%d socket(s): credentials not checked: %s: %s", len(held), type(exc).__name__, exc
            )
            return None
        return found

    async def _end(self, channel: str, watched: _Watched, reason: EndReason) -> None:
        if self._open.get(channel) is not watched:
            return  # ended already, or closed meanwhile
        del self._open[channel]
        if watched.task is not None and watched.task is not asyncio.current_task():
            watched.task.cancel()
        logger.info(
            "ending a stream of user %d: its credentials ended (%s)",
            watched.held.user_id,
            reason.value,
        )
        try:
            await watched.end(reason)
        except Exception as exc:  # closed under us: nothing left to tell it
            logger.info(
                "stream of user %d not told: %s: %s", watched.held.user_id, type(exc).__name__, exc
            )
