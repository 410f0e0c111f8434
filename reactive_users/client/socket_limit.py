"""How many sockets each user holds in this process, capped. Pure: no I/O, no clock.

One daphne process runs one event loop, so counting needs no lock: ``acquire`` and
``release`` never wait in between.
"""

from __future__ import annotations

from collections import Counter


class SocketLimit:
    """Open sockets per user; refuses one past ``limit`` and counts the refusals."""

    def __init__(self) -> None:
        self._open: Counter[int] = Counter()
        #: Sockets refused since the process started, all users.
        self.refused = 0

    def acquire(self, user_id: int, *, limit: int) -> bool:
        """Count one more socket of ``user_id``; False (and counted as refused) past ``limit``."""
        if self._open[user_id] >= limit:
            self.refused += 1
            return False
        self._open[user_id] += 1
        return True

    def release(self, user_id: int) -> None:
        """One socket of ``user_id`` closed."""
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]

    def held(self, user_id: int) -> int:
        """Sockets ``user_id`` holds open now."""
        return self._open[user_id]
