"""A replicated text value longer than this client can store: the configured policy. Pure.

The master refuses values beyond its own model's limits (``reactive_users/master/limits.py``), so
this only happens on a client narrower than the master: its own user model, a narrower
column, or a limit set on purpose (``REACTIVE_FIELD_MAX_LENGTHS``, e.g. ``first_name=30``).
A field's limit here is the smaller of its model's ``max_length`` and that setting.

``REACTIVE_OVERSIZE_POLICY`` says what then happens to the event:

    refuse (default)  refused (``ApplyError`` naming the field, its length and the limit):
                      the message goes to the dead-letter queue with that reason, and the
                      client keeps what it held until the field is widened (or the policy
                      changed) and the message sent back
    truncate          the value is stored cut to the limit; the replica records which
                      fields were cut (``Replica.truncated``), the listener counts each
                      (``reactive_listener_values_truncated_total{field}``), ``reactive
                      status`` counts the users holding cut values and ``reactive diff``
                      reports them as truncated, naming the field

A username is never cut, whatever the policy, nor is any unique field (a unique email): it
names one user on this client, and two master users whose values differ only past the
limit would be given the same one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from reactive_users.core.errors import ConfigError

#: The fields no policy cuts (see the module docstring).
NEVER_CUT = frozenset({"username"})
#: Separates the ``field=limit`` items of ``Replica.truncated``.
SEPARATOR = ","


class Policy(StrEnum):
    """What the client does with a value longer than it can store (REACTIVE_OVERSIZE_POLICY)."""

    REFUSE = "refuse"
    TRUNCATE = "truncate"


@dataclass(frozen=True)
class Fit:
    """A value as this client stores it: whole, cut (``cut``), or refused (``refused`` says why)."""

    value: str
    cut: bool = False
    refused: str = ""


def limit_of(model_limit: int | None, configured: int | None) -> int | None:
    """A field's limit on this client: the smaller of its model's and the configured one."""
    limits = [limit for limit in (model_limit, configured) if limit is not None]
    return min(limits) if limits else None


def fit(
    name: str, value: str, limit: int | None, policy: Policy, *, never_cut: bool = False
) -> Fit:
    """How field ``name``'s ``value`` is stored under ``limit`` and ``policy``; a unique
    field (``never_cut``) is never cut, as a username is not."""
    if limit is None or len(value) <= limit:
        return Fit(value)
    too_long = f"{name} is {len(value)} characters, more than this client's limit of {limit}"
    if never_cut or name in NEVER_CUT:
        return Fit(value, refused=f"{too_long}; a {name} is never cut: widen the field")
    if policy is Policy.TRUNCATE:
        return Fit(value[:limit], cut=True)
    return Fit(
        value,
        refused=f"{too_long} (REACTIVE_OVERSIZE_POLICY=refuse): widen the field or set "
        "REACTIVE_OVERSIZE_POLICY=truncate",
    )


def joined(cut: Mapping[str, int]) -> str:
    """``Replica.truncated`` for fields cut to these limits: ``first_name=30`` ("" for none)."""
    return SEPARATOR.join(f"{name}={limit}" for name, limit in sorted(cut.items()))


def split(stored: str) -> dict[str, int | None]:
    """The fields ``Replica.truncated`` names, each with the limit it was cut to (None if
    the row does not say)."""
    cut: dict[str, int | None] = {}
    for item in stored.split(SEPARATOR):
        name, _, limit = item.partition("=")
        if name:
            cut[name] = int(limit) if limit.isdigit() else None
    return cut


def parse_policy(name: str, raw: str | None) -> Policy:
    """REACTIVE_OVERSIZE_POLICY's value (default refuse); ``ConfigError`` if it is neither."""
    text = (raw or "").strip().lower() or Policy.REFUSE.value
    try:
        return Policy(text)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: use 'refuse' or 'truncate'") from None


def parse_max_lengths(name: str, raw: str | None) -> dict[str, int]:
    """REACTIVE_FIELD_MAX_LENGTHS: ``first_name=30,last_name=30`` -> {field: limit >= 1}."""
    limits: dict[str, int] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        field, sep, number = (part.strip() for part in item.partition("="))
        if not sep or not field or not number.isdigit() or int(number) < 1:
            raise ConfigError(
                f"{name}: {item.strip()!r} is not FIELD=LIMIT (a whole number of at least 1): "
                "e.g. first_name=30,last_name=30"
            )
        limits[field] = int(number)
    return limits
