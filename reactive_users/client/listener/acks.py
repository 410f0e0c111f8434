"""Telling ``reactive emit-test`` that this listener pushed its synthetic events."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from reactive_users.core import delivery, naming
from reactive_users.core.contract import Envelope


def listener_identity() -> str:
    """This listener process as acks and dead letters name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def acknowledge(layer: Any, synthetic: Sequence[Envelope], *, client: str) -> None:
    """One group_send per synthetic event to ``naming.emit_reply_group(event_id)``."""
    at, me = time.time(), listener_identity()
    for event in synthetic:
        ack = delivery.listener_ack(event_id=str(event.event_id), client=client, listener=me, at=at)
        await layer.group_send(naming.emit_reply_group(event.event_id), ack)
