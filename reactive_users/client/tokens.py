"""Short-lived signed stream tokens for non-browser clients: pure sign and verify, no I/O.

A token is Django's ``signing.dumps`` of ``{"u": user id, "a": credential stamp, "g": token
generation}`` with a timestamp, under the client's secret and a salt naming the client
(clients sharing a secret key still never accept each other's tokens: their user ids
differ). The stamp is a prefix of the user's session auth hash, so a password change voids
every token issued before it; the generation is the user's count of logouts
(``models.TokenGeneration``), so a logout anywhere voids them too. A token without ``g``
(issued before generations existed) is refused. The clock is a parameter, so expiry is
tested without waiting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeGuard

from django.core import signing

#: Salt of every stream token; the client's name is appended to it.
SALT = "reactive.ws-stream-token"
#: Hex digits of the session auth hash carried in a token (64 bits: enough to notice a change).
STAMP_LENGTH = 16
#: Tokens longer than this are refused before any HMAC is computed (ours are ~100 chars).
MAX_TOKEN_LENGTH = 512


class TokenError(Exception):
    """A token that does not open a stream: malformed, tampered, expired or for another key."""


class TokenExpired(TokenError):
    """A genuine token older than its lifetime."""


class HasSessionAuthHash(Protocol):
    """What a credential stamp is computed from (Django's ``AbstractBaseUser``)."""

    def get_session_auth_hash(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class Claims:
    """What a valid token says: whose it is, their credentials then, and when it was issued."""

    user_id: int
    stamp: str
    generation: int
    #: When the token was signed (seconds since the epoch): it expires ``max_age`` later.
    issued_at: float = 0.0


def credential_stamp(user: HasSessionAuthHash) -> str:
    """A value that changes when the user's password changes (see ``STAMP_LENGTH``)."""
    return user.get_session_auth_hash()[:STAMP_LENGTH]


def issue(
    *,
    user_id: int,
    stamp: str,
    generation: int,
    secret: str,
    client: str,
    now: float | None = None,
) -> str:
    """Sign a token for ``user_id`` of ``client``, dated ``now`` (default: the current time)."""
    signer = _ClockedSigner(secret=secret, client=client, now=now)
    token: str = signer.sign_object({"u": user_id, "a": stamp, "g": generation})
    return token


def verify(
    token: str, *, secret: str, client: str, max_age: int, now: float | None = None
) -> Claims:
    """The claims of a genuine token at most ``max_age`` seconds old; else ``TokenError``."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(f"a token is 1..{MAX_TOKEN_LENGTH} characters")
    signer = _ClockedSigner(secret=secret, client=client, now=now)
    try:
        payload: Any = signer.unsign_object(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise TokenExpired(str(exc)) from exc
    except (signing.BadSignature, ValueError) as exc:  # ValueError: signed but not our JSON
        raise TokenError(f"bad token: {type(exc).__name__}") from exc
    return _claims(payload, issued_at=signer.signed_at)


def _claims(payload: Any, *, issued_at: float) -> Claims:
    fields: dict[str, Any] = payload if isinstance(payload, dict) else {}
    user_id, stamp, generation = fields.get("u"), fields.get("a"), fields.get("g")
    if not _whole(user_id) or user_id < 1:
        raise TokenError("signed payload is not a stream token: no user id")
    if not isinstance(stamp, str) or not stamp:
        raise TokenError("signed payload is not a stream token: no credential stamp")
    if not _whole(generation) or generation < 0:
        raise TokenError("signed payload is not a stream token: no token generation")
    return Claims(user_id=user_id, stamp=stamp, generation=generation, issued_at=issued_at)


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _ClockedSigner(signing.TimestampSigner):
    """Django's TimestampSigner with the clock as a parameter (``None``: the real clock)."""

    def __init__(self, *, secret: str, client: str, now: float | None) -> None:
        if not secret:  # Signer would silently fall back to settings.SECRET_KEY
            raise ValueError("a stream token needs a non-empty secret")
        super().__init__(key=secret, salt=f"{SALT}.{client}", fallback_keys=[])
        self._now = now
        #: The timestamp of the last token ``unsign`` accepted (one signer per call).
        self.signed_at = 0.0

    def _time(self) -> float:
        return time.time() if self._now is None else self._now

    def timestamp(self) -> str:
        encoded: str = signing.b62_encode(int(self._time()))
        return encoded

    def unsign(self, value: str, max_age: int | timedelta | None = None) -> str:
        """TimestampSigner.unsign, reading our clock instead of ``time.time()``."""
        result: str = signing.Signer.unsign(self, value)
        value, timestamp = result.rsplit(self.sep, 1)
        self.signed_at = float(signing.b62_decode(timestamp))
        age = self._time() - self.signed_at
        if isinstance(max_age, timedelta):
            max_age = int(max_age.total_seconds())
        if max_age is not None and age > max_age:
            raise signing.SignatureExpired(f"token age {age:.0f} > {max_age:g} seconds")
        return value
