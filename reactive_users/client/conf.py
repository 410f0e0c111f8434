"""Typed access to the client's own settings (``REACTIVE_*`` in client.settings).

Reading them through here keeps type checking independent of which Django settings module
the checker is pointed at, and checks each value's type once, at the point of use. A
project embedding the app must define REACTIVE_SETTINGS and REACTIVE_CLIENT; every other
setting falls back to the reference client's default when the project leaves it out.
"""

from __future__ import annotations

from django.conf import settings

from reactive_users.client import tuning
from reactive_users.client.limits import Policy
from reactive_users.core.settings import Settings

_REQUIRED = object()


def _get(name: str, kind: type | tuple[type, ...], default: object = _REQUIRED) -> object:
    value = getattr(settings, name) if default is _REQUIRED else getattr(settings, name, default)
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
    value = _get("REACTIVE_QUEUE_URL", (str, type(None)), None)
    return None if value is None else str(value)


def allowed_origins() -> tuple[str, ...]:
    """Websocket origins accepted, normalised ``scheme://host[:port]`` (exact matches)."""
    value = _get("REACTIVE_ALLOWED_ORIGINS", list, [])
    assert isinstance(value, list)
    return tuple(str(origin) for origin in value)


def serve_static() -> bool:
    """Whether the ASGI app serves /static/ itself."""
    return bool(_get("REACTIVE_SERVE_STATIC", bool, False))


def ws_token_seconds() -> int:
    """How long a websocket stream token is valid (REACTIVE_WS_TOKEN_SECONDS)."""
    value = _get("REACTIVE_WS_TOKEN_SECONDS", int, 300)
    assert isinstance(value, int)
    return value


def ws_max_sockets_per_user() -> int:
    """Sockets one user may hold open per daphne process (REACTIVE_WS_MAX_SOCKETS_PER_USER)."""
    value = _get("REACTIVE_WS_MAX_SOCKETS_PER_USER", int, 20)
    assert isinstance(value, int)
    return value


def listener_visibility_seconds() -> int:
    """The visibility timeout the listener receives with (REACTIVE_LISTENER_VISIBILITY_SECONDS)."""
    value = _get("REACTIVE_LISTENER_VISIBILITY_SECONDS", int, tuning.DEFAULT_VISIBILITY_SECONDS)
    assert isinstance(value, int)
    return value


def ws_recheck_seconds() -> int:
    """Seconds between an open socket's credential checks (REACTIVE_WS_RECHECK_SECONDS)."""
    value = _get("REACTIVE_WS_RECHECK_SECONDS", int, 5)
    assert isinstance(value, int)
    return value


def oversize_policy() -> Policy:
    """What to do with a replicated value longer than this client stores (limits.py)."""
    value = _get("REACTIVE_OVERSIZE_POLICY", Policy, Policy.REFUSE)
    assert isinstance(value, Policy)
    return value


def field_max_lengths() -> dict[str, int]:
    """Limits on replicated text fields below the model's own (REACTIVE_FIELD_MAX_LENGTHS)."""
    value = _get("REACTIVE_FIELD_MAX_LENGTHS", dict, {})
    assert isinstance(value, dict)
    return {str(name): int(limit) for name, limit in value.items()}


def field_map_setting() -> dict[str, str] | None:
    """REACTIVE_FIELD_MAP: master field name -> this project's user field; None (or not
    set) for the default, the identity over the stock fields (``fieldmap.py``)."""
    value = getattr(settings, "REACTIVE_FIELD_MAP", None)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"settings.REACTIVE_FIELD_MAP must be a dict, not {type(value).__name__}")
    return {str(master): str(local) for master, local in value.items()}


def link_by() -> str | None:
    """REACTIVE_LINK_BY: the unique user field (as the field map names it) by which a master
    user's first event links an existing local, non-replicated user; None: never link."""
    value = _get("REACTIVE_LINK_BY", (str, type(None)), None)
    return None if value is None else str(value)


def link_privileged() -> bool:
    """REACTIVE_LINK_PRIVILEGED: whether REACTIVE_LINK_BY may link a local staff, superuser or
    otherwise privileged user (default False: such a link is refused to the dead-letter queue,
    ``apply/link.py``)."""
    return bool(_get("REACTIVE_LINK_PRIVILEGED", bool, False))


def has_shared() -> bool:
    """Whether the project defines REACTIVE_SETTINGS (a project may leave it to the default)."""
    return hasattr(settings, "REACTIVE_SETTINGS")


def listener_notify_backlog() -> int:
    """Socket frames the listener keeps waiting for the channel layer at most
    (REACTIVE_LISTENER_NOTIFY_BACKLOG)."""
    value = _get("REACTIVE_LISTENER_NOTIFY_BACKLOG", int, tuning.DEFAULT_NOTIFY_BACKLOG)
    assert isinstance(value, int)
    return value


def ws_prefix() -> str:
    """Where the project mounts the websocket streams (REACTIVE_WS_PREFIX, default "ws/"):
    the routes (``routing.websocket_urlpatterns``) and the URLs pages render both read it."""
    value = str(_get("REACTIVE_WS_PREFIX", str, "ws/")).strip("/")
    return f"{value}/" if value else ""


def base_template() -> str:
    """The project template the app's own "me" page extends (REACTIVE_BASE_TEMPLATE,
    default "base.html"); the page fills its ``content`` block."""
    return str(_get("REACTIVE_BASE_TEMPLATE", str, "base.html"))
