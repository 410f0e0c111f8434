"""The Origin check of a websocket handshake: exact origins (``origins.py``), else HTTP 403."""

from __future__ import annotations

import logging
from typing import Any

from channels.security.websocket import WebsocketDenier

from reactive_users.client import origins

logger = logging.getLogger(__name__)

Scope = dict[str, Any]


class OriginCheck:
    """Hand the handshake on only if it names exactly one Origin, and an allowed one."""

    def __init__(self, application: Any, allowed: tuple[str, ...]) -> None:
        self.application = application
        self.allowed = frozenset(allowed)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Pass an allowed Origin on to ``application``; deny anything else."""
        values = [v for name, v in scope.get("headers", ()) if name == b"origin"]
        origin = values[0].decode("latin-1") if len(values) == 1 else None
        if origins.is_allowed(origin, self.allowed):
            await self.application(scope, receive, send)
            return
        # What an operator needs when their own page is refused; cut, as anyone can send it.
        shown = origin if origin is None else origin[:100]
        logger.info("refused a websocket from origin %r: not an allowed origin", shown)
        await WebsocketDenier()(scope, receive, send)
