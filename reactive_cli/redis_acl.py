"""The Redis user each component of a deployment connects as: one per component, so that a
client's credentials reach its own channel layer and nothing else.

A client's user may touch only its channel layer's keys (``naming.channel_layer_key_patterns``)
with only the commands channels-redis sends, in its Lua scripts too; no pub/sub channels. So
a client whose password leaks cannot read another client's frames nor send any to another
client's users, nor list keys, nor reach the master's Celery broker. The master's user (its
broker: Celery and kombu name their keys and channels themselves) may do anything. Redis
ACLs do not cover database numbers: the key patterns isolate; a database per client keeps
each one's keys apart for operators (``DBSIZE``, ``FLUSHDB``). README, "Deploying on a VM",
shows the commands these rules give; tests/integration/test_redis_acl.py runs them.
"""

from __future__ import annotations

from reactive_users.core import naming

#: Everything channels-redis 4 sends for send, receive and groups (its scripts' calls too).
CHANNEL_LAYER_COMMANDS = (
    "select",
    "ping",
    "multi",
    "exec",
    "discard",
    "eval",
    "del",
    "expire",
    "zadd",
    "zcount",
    "zrange",
    "zrem",
    "zremrangebyscore",
    "zpopmin",
    "bzpopmin",
)
#: The master's user: its Celery broker, and the relay's kick mark.
MASTER_RULES = ("allkeys", "allchannels", "+@all")


def client_rules(client: str) -> tuple[str, ...]:
    """The ACL rules of ``client``'s Redis user: its own channel-layer keys, no more."""
    keys = tuple(f"~{pattern}" for pattern in naming.channel_layer_key_patterns(client))
    commands = tuple(f"+{command}" for command in CHANNEL_LAYER_COMMANDS)
    return (*keys, "resetchannels", "-@all", *commands)


def setuser(user: str, password: str, rules: tuple[str, ...]) -> list[str]:
    """``ACL SETUSER`` as a command's words: ``user`` reset to exactly ``rules``, enabled,
    with ``password``."""
    return ["ACL", "SETUSER", user, "reset", "on", f">{password}", *rules]


def client_setuser(client: str, password: str) -> list[str]:
    """The ``ACL SETUSER`` of ``client``'s user, named after it."""
    return setuser(client, password, client_rules(client))
