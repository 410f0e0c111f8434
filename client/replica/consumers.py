"""The user's live stream: a thin websocket consumer that forwards frames, never writes.

A socket is accepted only for an authenticated user asking for their own username who is a
live replicated user (the Origin is checked before, in ``client.asgi``). It joins the group
of the user's master id, then sends the current state so a (re)connecting page is never stale.
A synthetic ``test`` frame is also acknowledged to ``reactive emit-test``
(``reactive_cli.delivery``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from client import conf
from client.replica.selectors import ReplicaState, replica_state_for_user
from reactive_cli import delivery, naming

logger = logging.getLogger(__name__)

#: Close code after a "gone" frame: the account was deactivated or deleted; don't reconnect.
CLOSE_GONE = 4001


class UserStreamConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/users/<username>/``: one user's replicated fields, live."""

    group: str | None = None

    async def connect(self) -> None:
        """Refuse (HTTP 403 at the handshake) unless it is the user's own live stream."""
        state = await self._own_state()
        if state is None:
            await self.close()
            return
        self.group = naming.user_group(state.master_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # Read again after joining: a change applied meanwhile is then in this state or queued.
        fresh = await self._own_state()
        if fresh is None:
            await self.close(code=CLOSE_GONE)
            return
        await self.send_json(fresh.frame())

    async def disconnect(self, code: int) -> None:
        """Leave the group (whatever the reason the socket closed)."""
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The browser has nothing to say: ignore whatever it sends, keep the socket."""
        logger.debug("ignored %d bytes from the browser", len(text_data or bytes_data or ""))

    async def user_changed(self, message: dict[str, Any]) -> None:
        """Group message ``user.changed``: forward the ``changed`` frame."""
        await self.send_json(message["frame"])

    async def user_gone(self, message: dict[str, Any]) -> None:
        """Group message ``user.gone``: send the final ``gone`` frame and close."""
        await self.send_json(message["frame"])
        await self.close(code=CLOSE_GONE)

    async def user_test(self, message: dict[str, Any]) -> None:
        """Group message ``user.test``: forward the synthetic ``test`` frame, then ack it."""
        await self.send_json(message["frame"])
        event_id = str(message["frame"].get("event_id", ""))
        try:
            ack = delivery.socket_ack(
                event_id=event_id, client=conf.client_name(), channel=self.channel_name,
                at=time.time(),
            )  # fmt: skip
            await self.channel_layer.group_send(naming.emit_reply_group(event_id), ack)
        except Exception as exc:  # diagnostics only: the socket and its user carry on
            logger.warning("test event %s: ack not sent: %s: %s", event_id, type(exc).__name__, exc)

    async def _own_state(self) -> ReplicaState | None:
        user = self.scope.get("user")
        wanted = self.scope["url_route"]["kwargs"]["username"]
        if user is None or not user.is_authenticated or user.get_username() != wanted:
            logger.info("refused stream %r for %s", wanted, _who(user))
            return None
        state: ReplicaState | None = await database_sync_to_async(replica_state_for_user)(user=user)
        if state is None:
            logger.info("refused stream %r: not a live replicated user", wanted)
        return state


class UnknownPathConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Any other websocket path: refused at the handshake (HTTP 403), logged in one line."""

    async def connect(self) -> None:
        """Refuse; nothing here is worth a traceback in the log."""
        logger.debug("refused a websocket to unknown path %r", self.scope.get("path", "")[:200])
        await self.close()


def _who(user: Any) -> str:
    if user is None or not user.is_authenticated:
        return "an anonymous user"
    return f"user {user.pk}"
