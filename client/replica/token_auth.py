"""Websocket authentication by stream token (``Authorization: Bearer TOKEN``), for scripts and apps.

A handshake without an Authorization header takes the browser path unchanged (session
cookie, exact Origin checked by ``handshake.OriginCheck``). A handshake with one takes the token
path and never falls back to the cookie: a bad, expired or tampered token, or a user since
deactivated, deleted or given a new password, is refused (HTTP 403 at the handshake).

Origin on the token path: a browser cannot set an Authorization header on a websocket, so
a token is no ambient credential and a socket without Origin (a script, an app) is
accepted. A socket *with* an Origin must still come from an allowed one: a token presented
by a page of another site is a leaked token, and honest clients send no foreign Origin.
A token is never read from the query string: URLs end up in access logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import User
from django.utils.crypto import constant_time_compare

from client import conf
from client.replica import tokens
from client.replica.handshake import OriginCheck

logger = logging.getLogger(__name__)

Scope = dict[str, Any]


class TokenAuthMiddleware:
    """Route a websocket handshake to the token path or to the browser path (``browser``)."""

    def __init__(self, browser: Any, streams: Any, *, allowed_origins: tuple[str, ...]) -> None:
        self.browser = browser
        self.streams = streams
        # Applied only when the token socket names an Origin (see the module docstring).
        self.origin_checked = OriginCheck(streams, allowed_origins)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Hand the handshake on with ``scope["user"]`` from the token, or deny it."""
        token = bearer_token(scope.get("headers", ()))
        if token is None:
            await self.browser(scope, receive, send)
            return
        user: User | None = await database_sync_to_async(token_user)(token)
        if user is None:
            await WebsocketDenier()(scope, receive, send)
            return
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", ()))
        inner = self.origin_checked if has_origin else self.streams
        await inner({**scope, "user": user}, receive, send)


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """None without an Authorization header; else its Bearer token, "" if it is malformed."""
    values = [value for name, value in headers if name.lower() == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        return ""
    scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return ""
    return token


def token_user(token: str) -> User | None:
    """The active user a genuine, unexpired token names, with unchanged credentials; else None."""
    try:
        claims = tokens.verify(
            token,
            secret=settings.SECRET_KEY,
            client=conf.client_name(),
            max_age=conf.ws_token_seconds(),
        )
    except tokens.TokenError as exc:
        logger.info("refused stream token: %s", exc)  # never the token itself
        return None
    user = User.objects.filter(pk=claims.user_id).first()
    if user is None or not user.is_active:
        logger.info("refused stream token of user %d: no such active user", claims.user_id)
        return None
    if not constant_time_compare(tokens.credential_stamp(user), claims.stamp):
        logger.info("refused stream token of user %d: credentials changed", claims.user_id)
        return None
    return user
