"""The listener's settings: defaults and ranges, in one place (stdlib-only, so that
``client/settings.py`` can read them before Django is set up).

- ``REACTIVE_LISTENER_VISIBILITY_SECONDS``: the visibility timeout a listener receives
  with, extended while a batch is in hand (``reactive_users/client/listener/heartbeat.py``):
  how long the batch of a killed listener stays invisible.
- ``REACTIVE_LISTENER_NOTIFY_BACKLOG``: socket frames a listener keeps waiting while the
  channel layer does not answer; past it the oldest are dropped
  (``reactive_users/client/listener/notifier.py``).
- ``REACTIVE_FIELD_MAP`` in the environment: ``name=full_name,email=email`` (master field
  = this client's user field; ``reactive_users/client/fieldmap.py``).
"""

from __future__ import annotations

from reactive_users.core.errors import ConfigError

#: The visibility timeout a listener receives with, by default, in seconds.
DEFAULT_VISIBILITY_SECONDS = 10
#: Shortest visibility timeout a listener may be given, in seconds (a third of it must
#: leave the heartbeat time for its call).
MIN_VISIBILITY_SECONDS = 2
#: Longest visibility timeout, in seconds: SQS's limit (12 hours).
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
#: Frames waiting for the channel layer at most, by default.
DEFAULT_NOTIFY_BACKLOG = 1000
#: Fewest and most frames a backlog may be given.
MIN_NOTIFY_BACKLOG = 1
MAX_NOTIFY_BACKLOG = 1_000_000


def parse_field_map(name: str, raw: str | None) -> dict[str, str] | None:
    """``name=full_name,email=email`` -> {master field: client field}; None when unset."""
    if raw is None or not raw.strip():
        return None
    mapping: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        master, sep, local = (part.strip() for part in item.partition("="))
        if not sep or not master or not local:
            raise ConfigError(
                f"{name}: {item.strip()!r} is not MASTER_FIELD=CLIENT_FIELD: "
                "e.g. name=full_name,email=email,is_active=is_active"
            )
        mapping[master] = local
    return mapping
