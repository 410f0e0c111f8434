"""What authenticated a socket, and the rules for when it no longer holds. Pure: the reads
are ``selectors.credential_facts``, the checks' timing is ``watch.py``'s.

Rule 1: everything that ends a socket's credentials is in ``RULES``, first match wins.

- A **session** socket holds while its session row exists and still names the user (not
  logged out, not flushed), is unexpired (``SESSION_COOKIE_AGE``, ``set_expiry``), carries
  the user's current session auth hash (Django's rule: a password change voids every session
  that ``update_session_auth_hash`` did not carry over), and the user is active.
- A **token** socket holds until its token's expiry (``REACTIVE_WS_TOKEN_SECONDS`` after it
  was issued) while the user is active and has the password (stamp) and the token
  generation (moved on by every logout of that user) the token was issued with.

A socket is checked when it connects, on a ``user.recheck`` group message (sent after a
logout, a deleted session row or a password change: ``signals.py``), at the expiry, and at
least every ``REACTIVE_WS_RECHECK_SECONDS``: the backstop for changes that sent no signal
(raw SQL, a session shortened by ``set_expiry`` after the socket opened).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reactive_users.client.frames import EndReason
from reactive_users.client.tokens import Claims


@dataclass(frozen=True, kw_only=True)
class SessionCredentials:
    """A socket opened with a session cookie."""

    user_id: int
    session_key: str


@dataclass(frozen=True, kw_only=True)
class TokenCredentials:
    """A socket opened with a stream token (``Authorization: Bearer``)."""

    user_id: int
    stamp: str
    generation: int
    #: When the token expires (seconds since the epoch).
    expires_at: float


Credentials = SessionCredentials | TokenCredentials


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What the database holds about a socket's credentials, read at one moment."""

    #: The session row exists and names the user; for a token, its generation is current.
    signed_in: bool
    #: When the session (its row's ``expire_date``) or the token expires; None: unknown.
    expires_at: float | None
    #: The user exists on this client and is active.
    user_active: bool
    #: The session auth hash, or the token's stamp, matches the user's password.
    password_unchanged: bool


#: (reason, applies) in order: the first that applies is why the credentials ended.
RULES: tuple[tuple[EndReason, Callable[[Facts, float], bool]], ...] = (
    (EndReason.LOGGED_OUT, lambda f, now: not f.signed_in),
    (EndReason.EXPIRED, lambda f, now: f.expires_at is not None and f.expires_at <= now),
    (EndReason.INACTIVE, lambda f, now: not f.user_active),
    (EndReason.PASSWORD_CHANGED, lambda f, now: not f.password_unchanged),
)


def end_reason(facts: Facts, *, now: float) -> EndReason | None:
    """Why the credentials no longer hold at ``now``; None while they do."""
    return next((reason for reason, applies in RULES if applies(facts, now)), None)


def seconds_left(facts: Facts, *, now: float) -> float | None:
    """Seconds until the credentials expire (a check is due then); None: no known expiry."""
    if facts.expires_at is None:
        return None
    return max(0.0, facts.expires_at - now)


def of_scope(scope: Mapping[str, Any], *, token_seconds: int) -> Credentials | None:
    """The credentials a handshake was authenticated with (token or session); None if none."""
    user = scope.get("user")
    claims = scope.get("stream_token")
    if user is None or not user.is_authenticated:
        return None
    if isinstance(claims, Claims):
        expires_at = claims.issued_at + token_seconds
        return TokenCredentials(
            user_id=user.pk,
            stamp=claims.stamp,
            generation=claims.generation,
            expires_at=expires_at,
        )
    session = scope.get("session")
    key = getattr(session, "session_key", None)
    return SessionCredentials(user_id=user.pk, session_key=key) if key else None
