"""The frames a user's socket receives, and the group messages that carry them: pure.

Frames (JSON objects sent to the browser)::

    {"type": "state", "version": N, "user": {...}}                      on (re)connect
    {"type": "changed", "event_id", "action", "version", "changed": [...],
     "user": {...}, "occurred_at"}                                       after an applied event
    {"type": "gone", "reason": "deactivated"|"deleted"|"withdrawn", "version": N}
                                                                         last frame, then close
    {"type": "test", "event_id", "action", "version", "user_id", "occurred_at"}  synthetic
    {"type": "ended", "reason": "logged_out"|"expired"|"password_changed"|"inactive"}
                                           last frame when the socket's credentials end

Group messages (channel layer, group ``naming.user_group(master_id)``) are
``{"type": "user.changed"|"user.gone"|"user.test", "frame": <frame>}``, and
``{"type": "user.recheck"}``: the user's credentials changed, each socket checks its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from reactive_users.core.contract import Envelope, FieldValue

Frame = dict[str, Any]

#: Group message types; Channels maps "user.changed" to the consumer's ``user_changed``.
USER_CHANGED = "user.changed"
USER_GONE = "user.gone"
USER_TEST = "user.test"
USER_RECHECK = "user.recheck"


class GoneReason(StrEnum):
    """Why a user's sockets are closed for good."""

    DEACTIVATED = "deactivated"
    DELETED = "deleted"
    #: The user left the master's published set (became staff or superuser): removed here.
    WITHDRAWN = "withdrawn"


def state_frame(*, version: int, user: Mapping[str, FieldValue], reset: bool = False) -> Frame:
    """The current state, sent first on every (re)connect; ``reset``: the operator's repair
    set it, at a version that may be lower than the page shows (``"reset": true``; a page
    older than resets ignores it until the next change)."""
    frame: Frame = {"type": "state", "version": version, "user": dict(user)}
    if reset:
        frame["reset"] = True
    return frame


def changed_frame(*, event: Envelope, user: Mapping[str, FieldValue]) -> Frame:
    """An applied change, with the user's replicated fields as now held."""
    return {
        "type": "changed",
        "event_id": str(event.event_id),
        "action": event.action.value,
        "version": event.version,
        "changed": list(event.changed),
        "user": dict(user),
        "occurred_at": event.occurred_at.isoformat(),
    }


def gone_frame(*, reason: GoneReason, version: int) -> Frame:
    """The last frame a socket gets before it is closed."""
    return {"type": "gone", "reason": reason.value, "version": version}


def test_frame(*, event: Envelope) -> Frame:
    """A synthetic event, shown by the page and never applied."""
    return {
        "type": "test",
        "event_id": str(event.event_id),
        "action": event.action.value,
        "version": event.version,
        "user_id": event.user_id,
        "occurred_at": event.occurred_at.isoformat(),
    }


def group_message(kind: str, frame: Frame) -> dict[str, Any]:
    """The channel-layer message carrying ``frame`` to a user's sockets."""
    return {"type": kind, "frame": frame}


class EndReason(StrEnum):
    """Why what authenticated a socket no longer holds (``credentials.py``)."""

    #: The session was logged out or deleted; for a token, its user logged out somewhere.
    LOGGED_OUT = "logged_out"
    #: The session, or the token, is past its expiry.
    EXPIRED = "expired"
    #: The user's password changed since the session or token was made.
    PASSWORD_CHANGED = "password_changed"
    #: The local user was deactivated or removed on this client.
    INACTIVE = "inactive"


def ended_frame(*, reason: EndReason) -> Frame:
    """The last frame of a socket whose credentials ended; the account itself may be fine."""
    return {"type": "ended", "reason": reason.value}
