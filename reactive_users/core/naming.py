"""Names that master, clients and the CLI must agree on: topic, queues, groups.

Pure functions; every name is derived here and nowhere else.
"""

from __future__ import annotations

import re
import uuid

from reactive_users.core.errors import ConfigError

#: SQS queue names allow 80 characters; ".fifo" and "-dlq" must still fit.
MAX_CLIENT_NAME_CHARS = 40
#: Prefix used when none is configured.
DEFAULT_PREFIX = "reactive"

_CLIENT_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_FIFO = ".fifo"


def check_client_name(name: str) -> str:
    """Return ``name`` if it is a valid client name, else raise ``ConfigError`` saying why."""
    if not _CLIENT_NAME.match(name) or len(name) > MAX_CLIENT_NAME_CHARS:
        raise ConfigError(
            f"invalid client name {name!r}: use lowercase letters, digits and '-', "
            f"starting with a letter, at most {MAX_CLIENT_NAME_CHARS} characters"
        )
    return name


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid resource prefix, else raise ``ConfigError``."""
    if not _PREFIX.match(prefix):
        raise ConfigError(
            f"invalid prefix {prefix!r}: use 1-20 lowercase letters, digits and '-', "
            "starting with a letter"
        )
    return prefix


def topic_name(prefix: str, *, fifo: bool = False) -> str:
    """The SNS topic that carries every user event."""
    return f"{check_prefix(prefix)}-users" + (_FIFO if fifo else "")


def queue_name(prefix: str, client: str, *, fifo: bool = False) -> str:
    """The SQS queue a client's listeners read."""
    return f"{check_prefix(prefix)}-{check_client_name(client)}" + (_FIFO if fifo else "")


def dlq_name(prefix: str, client: str, *, fifo: bool = False) -> str:
    """The dead-letter queue behind a client's queue."""
    return f"{check_prefix(prefix)}-{check_client_name(client)}-dlq" + (_FIFO if fifo else "")


def user_group(master_user_id: int) -> str:
    """The Channels group of one replicated user's sockets on a client.

    Built from the stable master id, never the username: any username Django allows is
    then safe, and Channels' rule (ASCII letters, digits, ``-_.``, < 100 chars) holds.
    """
    return f"user.{int(master_user_id)}"


def channel_layer_prefix(client: str) -> str:
    """The channels-redis key prefix, so clients sharing one Redis never mix groups."""
    return f"reactive.{check_client_name(client)}"


def channel_layer_key_patterns(client: str) -> tuple[str, ...]:
    """The Redis keys of ``client``'s channel layer, as glob patterns matching no other's.

    channels-redis keys a group ``<prefix>:group:<group>`` and a channel ``<prefix><channel>``
    (its in-flight copy ``...$inflight``); every channel here comes from ``new_channel()``,
    ``specific.<id>!``. A client name holds no ``.`` or ``:``, so ``shop``'s patterns match
    none of ``shop-2``'s or ``shopspecific``'s keys.
    """
    prefix = channel_layer_prefix(client)
    return (f"{prefix}:group:*", f"{prefix}specific.*")


def emit_reply_group(event_id: uuid.UUID | str) -> str:
    """The Channels group where listeners and sockets acknowledge one synthetic event.

    Derived from the event id, so the envelope needs no reply address; ``ValueError`` if
    ``event_id`` is not a UUID. ``emit.<uuid>`` is a valid group name (41 characters).
    """
    return f"emit.{uuid.UUID(str(event_id))}"


def relay_kick_key(prefix: str) -> str:
    """The broker Redis key marking a master relay task as queued
    (``reactive_users/master/relay/kicks.py``)."""
    return f"{check_prefix(prefix)}:outbox-relay-queued"


#: Seconds a listener's alive key lives unrenewed: above the longest long poll (20 s) and a
#: slow batch; a listener silent this long is no longer shown alive.
LISTENER_ALIVE_TTL_SECONDS = 60


def listener_alive_key(prefix: str, client: str, identity: str) -> str:
    """The Redis key one listener process (``host:pid``) renews while its loop runs
    (``reactive_users/client/listener/alive.py``); ``reactive status`` reads them."""
    return f"{listener_alive_pattern(prefix, client).removesuffix('*')}{identity}"


def listener_alive_pattern(prefix: str, client: str) -> str:
    """The ``SCAN MATCH`` pattern of every live listener key of ``client``."""
    return f"{check_prefix(prefix)}:listener-alive:{check_client_name(client)}:*"
