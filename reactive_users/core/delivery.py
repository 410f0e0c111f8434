"""Acknowledgements of synthetic events, and the delivery report built from them: pure.

``reactive emit-test`` publishes synthetic events and joins, on each client's channel
layer, the reply group ``naming.emit_reply_group(event_id)`` of every event. On a synthetic
event a client's listener sends a ``listener`` ack there after pushing the ``user.test``
frame to the user's group, and each socket of that user sends a ``socket`` ack after
forwarding the frame to its browser. Acks are channel-layer messages::

    {"type": "emit.ack", "hop": "listener", "event_id", "client", "listener": "host:pid", "at"}
    {"type": "emit.ack", "hop": "socket", "event_id", "client", "channel", "at"}

``at`` is wall-clock UTC seconds (``time.time()``; one machine or NTP). Stdlib-only:
listeners and consumers import it as well as the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The channel-layer message type of every ack (nothing dispatches it: the emitter reads).
ACK = "emit.ack"
LISTENER = "listener"
SOCKET = "socket"


def listener_ack(*, event_id: str, client: str, listener: str, at: float) -> dict[str, Any]:
    """What a listener sends once it pushed a synthetic event to the user's sockets."""
    return {
        "type": ACK,
        "hop": LISTENER,
        "event_id": event_id,
        "client": client,
        "listener": listener,
        "at": at,
    }


def socket_ack(*, event_id: str, client: str, channel: str, at: float) -> dict[str, Any]:
    """What a user's socket sends once it forwarded a synthetic event to its browser."""
    return {
        "type": ACK,
        "hop": SOCKET,
        "event_id": event_id,
        "client": client,
        "channel": channel,
        "at": at,
    }


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty); 0.5 is the median."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, kw_only=True)
class ClientDelivery:
    """What one client acknowledged for the published events."""

    client: str
    events: int
    #: Events its listener acknowledged (each counted once, however often delivered).
    delivered: int
    listeners: tuple[str, ...] = ()
    #: Distinct sockets of the user that acknowledged at least one event.
    sockets: int = 0
    listener_ms: tuple[float, ...] = ()
    socket_ms: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the listener delivered every event."""
        return self.delivered == self.events

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form (``--json``)."""
        return {
            "client": self.client,
            "delivered": self.ok,
            "events_delivered": self.delivered,
            "events": self.events,
            "listeners": list(self.listeners),
            "sockets": self.sockets,
            "publish_to_listener_ms": _stats(self.listener_ms),
            "publish_to_socket_ms": _stats(self.socket_ms),
        }


@dataclass
class Collector:
    """Gathers acks of the published events for the expected clients; ignores the rest."""

    #: Event id -> wall-clock seconds when its Publish call started.
    published: Mapping[str, float]
    clients: Sequence[str]
    _listener_at: dict[tuple[str, str], float] = field(default_factory=dict)
    _listeners: dict[str, set[str]] = field(default_factory=dict)
    _socket_at: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def add(self, client: str, message: Mapping[str, Any]) -> bool:
        """Record one ack read from ``client``'s channel layer; False if it is not ours."""
        event_id = message.get("event_id")
        at = message.get("at")
        if client not in self.clients or event_id not in self.published:
            return False
        if not isinstance(at, int | float) or isinstance(at, bool):
            return False
        hop = message.get("hop")
        if hop == LISTENER:
            key = (client, str(event_id))
            self._listener_at[key] = min(at, self._listener_at.get(key, at))
            self._listeners.setdefault(client, set()).add(str(message.get("listener", "?")))
            return True
        if hop == SOCKET:
            skey = (client, str(event_id), str(message.get("channel", "?")))
            self._socket_at[skey] = min(at, self._socket_at.get(skey, at))
            return True
        return False

    def complete(self) -> bool:
        """Whether every expected client's listener acknowledged every event."""
        return all(self._delivered(c) == len(self.published) for c in self.clients)

    def report(self) -> list[ClientDelivery]:
        """One delivery record per expected client, in the order given."""
        return [self._client_report(c) for c in self.clients]

    def _delivered(self, client: str) -> int:
        return sum(1 for (c, _) in self._listener_at if c == client)

    def _client_report(self, client: str) -> ClientDelivery:
        listener_ms = [
            _ms(at - self.published[e]) for (c, e), at in self._listener_at.items() if c == client
        ]
        sockets = {ch for (c, _, ch) in self._socket_at if c == client}
        socket_ms = [
            _ms(at - self.published[e]) for (c, e, _), at in self._socket_at.items() if c == client
        ]
        return ClientDelivery(
            client=client,
            events=len(self.published),
            delivered=self._delivered(client),
            listeners=tuple(sorted(self._listeners.get(client, ()))),
            sockets=len(sockets),
            listener_ms=tuple(sorted(listener_ms)),
            socket_ms=tuple(sorted(socket_ms)),
        )


def failed_clients(deliveries: Iterable[ClientDelivery]) -> list[str]:
    """The clients whose listener did not deliver every event."""
    return [d.client for d in deliveries if not d.ok]


def summary_line(deliveries: Sequence[ClientDelivery], *, user: str, timeout: float) -> str:
    """One line saying whether every client delivered, and what to look at if not."""
    failed = failed_clients(deliveries)
    if failed:
        what = "its listener and queue" if len(failed) == 1 else "their listeners and queues"
        return (
            f"FAILED: {', '.join(failed)} did not deliver within {timeout:g} s: check "
            f"{what} (`reactive status`)."
        )
    events = deliveries[0].events if deliveries else 0
    slowest = max((ms for d in deliveries for ms in d.listener_ms), default=0.0)
    no_socket = [d.client for d in deliveries if d.sockets == 0]
    line = (
        f"OK: {len(deliveries)} client(s) delivered {events} event(s) for {user}; "
        f"slowest publish→listener {slowest:.1f} ms."
    )
    if no_socket:
        line += f" No open websocket of {user} on {', '.join(no_socket)}."
    return line


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"p50": percentile(values, 0.5) or 0.0, "max": max(values)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)
