"""Websocket authentication by stream token (``Authorization: Bearer TOKEN``), for scripts and apps.

A handshake without an Authorization header takes the browser path unchanged (session
cookie, exact Origin checked by ``handshake.OriginCheck``). A handshake with one takes the
token path and never falls back to the cookie: a bad, expired or tampered token, a user
since deactivated, deleted or given a new password, or one who logged out since (their
token generation moved on), is refused (HTTP 403 at the handshake). The accepted token's
claims go on in ``scope["stream_token"]``: the socket holds only while they do.

Origin on the token path: a browser cannot set an Authorization header on a websocket, so
a token is no ambient credential and a socket without Origin (a script, an app) is
accepted. A socket *with* an Origin must still come from an allowed one: a token presented
by a page of another site is a leaked token, and honest clients send no foreign Origin.
A token is never read from the query string: URLs end up in access logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.crypto import constant_time_compare

from reactive_users.client import conf, tokens
from reactive_users.client.handshake import OriginCheck
from reactive_users.client.selectors import token_generation

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser as User

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
        found = await database_sync_to_async(token_user)(token)
        if found is None:
            await WebsocketDenier()(scope, receive, send)
            return
        user, claims = found
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", ()))
        inner = self.origin_checked if has_origin else self.streams
        await inner({**scope, "user": user, "stream_token": claims}, receive, send)


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


def token_user(token: str) -> tuple[User, tokens.Claims] | None:
    """The active user a genuine, unexpired token names, with unchanged credentials, and the
    token's claims; else None."""
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
    user = get_user_model()._default_manager.filter(pk=claims.user_id).first()
    if user is None or not user.is_active:
        logger.info("refused stream token of user %d: no such active user", claims.user_id)
        return None
    if not constant_time_compare(tokens.credential_stamp(user), claims.stamp):
        logger.info("refused stream token of user %d: credentials changed", claims.user_id)
        return None
    if token_generation(user_id=user.pk) != claims.generation:
        logger.info("refused stream token of user %d: logged out since", claims.user_id)
        return None
    return user, claims
