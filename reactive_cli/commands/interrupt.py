"""Commands that run until told to stop (``logs --follow``, ``status --watch``).

Python turns SIGINT into ``KeyboardInterrupt`` only if SIGINT was not ignored when it
started, and a shell without job control (``cmd &``, ``nohup``, many CI runners) starts its
children with SIGINT ignored. So these commands install their own handlers for SIGINT and
SIGTERM, whatever disposition they inherited, and end cleanly on either.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals that end a command that runs until told to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def until_stopped() -> Iterator[None]:
    """Run the block until SIGINT or SIGTERM arrives (or it ends); then return normally."""
    previous = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS}
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
