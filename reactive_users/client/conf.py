"""Typed access to the client's own settings (``REACTIVE_*`` in client.settings).

Reading them through here keeps type checking independent of which Django settings module
the checker is pointed at, and checks each value's type once, at the point of use.
"""

from __future__ import annotations

from django.conf import settings

from reactive_users.client.limits import Policy
from reactive_users.core.settings import Settings


def _get(name: str, kind: type | tuple[type, ...]) -> object:
    value = getattr(settings, name)
    if not isinstance(value, kind):
        raise TypeError(f"settings.{name} must be {kind}, not {type(value).__name__}")
    return value


def shared() -> Settings:
    """The settings shared with the master and the CLI (prefix, Redis, AWS, user fields)."""
    value = _get("REACTIVE_SETTINGS", Settings)
    assert isinstance(value, Settings)
    return value


def client_name() -> str:
    """This client's name ("shop", "blog", ...)."""
    return str(_get("REACTIVE_CLIENT", str))


def queue_url() -> str | None:
    """REACTIVE_QUEUE_URL, or None to look the queue up by name."""
    value = _get("REACTIVE_QUEUE_URL", (str, type(None)))
    return None if value is None else str(value)


def allowed_origins() -> tuple[str, ...]:
    """Websocket origins accepted, normalised ``scheme://host[:port]`` (exact matches)."""
    value = _get("REACTIVE_ALLOWED_ORIGINS", list)
    assert isinstance(value, list)
    return tuple(str(origin) for origin in value)


def serve_static() -> bool:
    """Whether the ASGI app serves /static/ itself."""
    return bool(_get("REACTIVE_SERVE_STATIC", bool))


def ws_token_seconds() -> int:
    """How long a websocket stream token is valid (REACTIVE_WS_TOKEN_SECONDS)."""
    value = _get("REACTIVE_WS_TOKEN_SECONDS", int)
    assert isinstance(value, int)
    return value


def ws_max_sockets_per_user() -> int:
    """Sockets one user may hold open per daphne process (REACTIVE_WS_MAX_SOCKETS_PER_USER)."""
    value = _get("REACTIVE_WS_MAX_SOCKETS_PER_USER", int)
    assert isinstance(value, int)
    return value


def listener_visibility_seconds() -> int:
    """The visibility timeout the listener receives with (REACTIVE_LISTENER_VISIBILITY_SECONDS)."""
    value = _get("REACTIVE_LISTENER_VISIBILITY_SECONDS", int)
    assert isinstance(value, int)
    return value


def ws_recheck_seconds() -> int:
    """Seconds between an open socket's credential checks (REACTIVE_WS_RECHECK_SECONDS)."""
    value = _get("REACTIVE_WS_RECHECK_SECONDS", int)
    assert isinstance(value, int)
    return value


def oversize_policy() -> Policy:
    """What to do with a replicated value longer than this client stores (limits.py)."""
    value = _get("REACTIVE_OVERSIZE_POLICY", Policy)
    assert isinstance(value, Policy)
    return value


def field_max_lengths() -> dict[str, int]:
    """Limits on replicated text fields below the model's own (REACTIVE_FIELD_MAX_LENGTHS)."""
    value = _get("REACTIVE_FIELD_MAX_LENGTHS", dict)
    assert isinstance(value, dict)
    return {str(name): int(limit) for name, limit in value.items()}


def listener_notify_backlog() -> int:
    """Socket frames the listener keeps waiting for the channel layer at most
    (REACTIVE_LISTENER_NOTIFY_BACKLOG)."""
    value = _get("REACTIVE_LISTENER_NOTIFY_BACKLOG", int)
    assert isinstance(value, int)
    return value
