"""The user's live stream: a thin websocket consumer that forwards frames, never writes.

A socket is accepted only for an authenticated user asking for their own stream (by their
username, or as "me") who is a live replicated user (the Origin or the stream token is
checked before, in ``routing.py``), and only while the user holds fewer than
REACTIVE_WS_MAX_SOCKETS_PER_USER sockets in this process. It joins the group of the user's
master id, then sends the current state so a (re)connecting page is never stale. While open
it checks that its credentials still hold (``credentials.py``) and ends with an ``ended``
frame when they don't. A synthetic ``test`` frame is also acknowledged to ``reactive
emit-test`` (``reactive_users.core.delivery``).

Close codes (after ``accept``; a refused handshake is HTTP 403 instead):

====  ========================================================================================
4001  after a ``gone`` frame: the account was deactivated or deleted; don't reconnect
4401  after an ``ended`` frame: the session or token that opened the socket no longer holds
      (logged out, expired, password changed); log in again, or get a new token
4429  refused: the user already holds REACTIVE_WS_MAX_SOCKETS_PER_USER sockets on this
      daphne process; nothing was sent
====  ========================================================================================
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from reactive_users.client import conf, credentials, frames
from reactive_users.client.selectors import ReplicaState, replica_state_for_user
from reactive_users.client.socket_limit import SocketLimit
from reactive_users.client.watch import Watch
from reactive_users.core import delivery, naming

logger = logging.getLogger(__name__)

#: Close code after a "gone" frame: the account was deactivated, deleted or withdrawn (no
#: longer published to clients); don't reconnect.
CLOSE_GONE = 4001
#: Close code after an "ended" frame: the socket's session or token no longer holds.
CLOSE_ENDED = 4401
#: Close code of a socket refused for its user's socket count in this process.
CLOSE_TOO_MANY = 4429

#: Every user's open sockets in this daphne process.
SOCKETS = SocketLimit()
#: The credentials of every open socket in this process, checked until they end.
WATCH = Watch()


class UserStreamConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``<prefix>users/<username>/`` and ``<prefix>users/me/``: the user's replicated fields,
    live (``routing.py``)."""

    group: str | None = None
    #: The user counted in ``SOCKETS`` for this socket, until it closes.
    counted: int | None = None

    async def connect(self) -> None:
        """Refuse (HTTP 403 at the handshake) unless it is the user's own live stream."""
        state = await self._own_state()
        held = credentials.of_scope(self.scope, token_seconds=conf.ws_token_seconds())
        if state is None or held is None:
            await self.close()
            return
        if not SOCKETS.acquire(held.user_id, limit=conf.ws_max_sockets_per_user()):
            await self._refuse_too_many(held.user_id)
            return
        self.counted = held.user_id
        self.group = naming.user_group(state.master_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # Read again after joining: a change applied meanwhile is then in this state or queued.
        fresh = await self._own_state()
        if fresh is None:
            await self.close(code=CLOSE_GONE)
            return
        await self.send_json(fresh.frame())
        WATCH.add(self.channel_name, held, self._end)

    async def disconnect(self, code: int) -> None:
        """Stop checking, uncount the socket and leave the group (whatever closed it)."""
        WATCH.discard(self.channel_name)
        if self.counted is not None:
            SOCKETS.release(self.counted)
            self.counted = None
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The browser has nothing to say: ignore whatever it sends, keep the socket."""
        logger.debug("ignored %d bytes from the browser", len(text_data or bytes_data or ""))

    async def user_changed(self, message: dict[str, Any]) -> None:
        """Group message ``user.changed``: forward the ``changed`` frame."""
        await self.send_json(frames.frame_of(message))

    async def user_gone(self, message: dict[str, Any]) -> None:
        """Group message ``user.gone``: send the final ``gone`` frame and close."""
        await self.send_json(frames.frame_of(message))
        await self.close(code=CLOSE_GONE)

    async def user_recheck(self, message: dict[str, Any]) -> None:
        """Group message ``user.recheck``: the user's credentials changed; check ours now."""
        WATCH.wake(self.channel_name)

    async def user_test(self, message: dict[str, Any]) -> None:
        """Group message ``user.test``: forward the synthetic ``test`` frame, then ack it."""
        await self.send_json(frames.frame_of(message))
        event_id = frames.test_event_id(message)
        try:
            ack = delivery.socket_ack(
                event_id=event_id,
                client=conf.client_name(),
                channel=self.channel_name,
                at=time.time(),
            )
            await self.channel_layer.group_send(naming.emit_reply_group(event_id), ack)
        except Exception as exc:  # diagnostics only: the socket and its user carry on
            logger.warning("test event %s: ack not sent: %s: %s", event_id, type(exc).__name__, exc)

    async def _end(self, reason: frames.EndReason) -> None:
        """The socket's credentials ended (``WATCH``): the final frame, then close."""
        await self.send_json(frames.ended_frame(reason=reason))
        await self.close(code=CLOSE_ENDED)

    async def _refuse_too_many(self, user_id: int) -> None:
        logger.warning(
            "refused a socket of user %d: %d open in this process, the most allowed "
            "(REACTIVE_WS_MAX_SOCKETS_PER_USER); %d refused since the process started",
            user_id,
            SOCKETS.held(user_id),
            SOCKETS.refused,
        )
        await self.accept()  # a close code needs an open socket; no frame is sent
        await self.close(code=CLOSE_TOO_MANY)

    async def _own_state(self) -> ReplicaState | None:
        user = self.scope.get("user")
        # The "me" stream names no user: it is whoever the socket authenticated as.
        wanted = self.scope["url_route"]["kwargs"].get("username")
        if user is None or not user.is_authenticated:
            logger.info("refused stream %r for %s", wanted or "me", _who(user))
            return None
        if wanted is not None and user.get_username() != wanted:
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
