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

This module is the one definition of both: the apply layer asks it which messages an
applied event's outcome sends (``outcome_messages``), the listener's notifier reads them
(``is_test``, ``closes``), and the consumer takes the frame out of them (``frame_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from reactive_users.client.decide import Decision
from reactive_users.core.contract import Action, Envelope, FieldValue

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


GroupMessage = dict[str, Any]


def group_message(kind: str, frame: Frame) -> GroupMessage:
    """The channel-layer message carrying ``frame`` to a user's sockets."""
    return {"type": kind, "frame": frame}


def recheck_message() -> GroupMessage:
    """The channel-layer message telling a user's sockets to check their credentials now."""
    return {"type": USER_RECHECK}


def frame_of(message: Mapping[str, Any]) -> Frame:
    """The frame a group message carries (the consumer forwards it as it is)."""
    frame: Frame = message["frame"]
    return frame


def test_event_id(message: Mapping[str, Any]) -> str:
    """The event id of the ``test`` frame a ``user.test`` message carries ("" if none)."""
    return str(frame_of(message).get("event_id", ""))


def is_test(message: Mapping[str, Any]) -> bool:
    """Whether a group message carries a synthetic ``test`` frame (never superseded)."""
    return message.get("type") == USER_TEST


def closes(message: Mapping[str, Any]) -> bool:
    """Whether a group message ends its user's sockets (a ``gone`` frame)."""
    return message.get("type") == USER_GONE


def outcome_messages(
    event: Envelope,
    decision: Decision,
    user: Mapping[str, FieldValue] | None,
    *,
    active: bool = True,
) -> tuple[GroupMessage, ...]:
    """What the sockets of ``event``'s user are told once ``decision`` was applied, in order.

    ``user``: the user's replicated fields as now held (None: no local user was written),
    ``active``: whether that user is active (an inactive one is then told it is gone).
    """
    if decision is Decision.NOTIFY_ONLY:
        return (group_message(USER_TEST, test_frame(event=event)),)
    if decision is Decision.UPSERT and user is not None:
        if event.action is Action.SNAPSHOT:  # may be the version the page shows: a state
            # A reset may take the page back to a lower version: it says so.
            frame = state_frame(version=event.version, user=user, reset=event.reset)
        else:
            frame = changed_frame(event=event, user=user)
        changed = group_message(USER_CHANGED, frame)
        if active:
            return (changed,)
        return changed, _gone(GoneReason.DEACTIVATED, event)
    if decision is Decision.DELETE:
        return (_gone(GoneReason.DELETED, event),)
    if decision is Decision.WITHDRAW:
        return (_gone(GoneReason.WITHDRAWN, event),)
    return ()


def _gone(reason: GoneReason, event: Envelope) -> GroupMessage:
    return group_message(USER_GONE, gone_frame(reason=reason, version=event.version))


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
