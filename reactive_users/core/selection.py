"""Operator input that picks users (``--since``, ``--ids``, ``--where``, ...): pure parsing
and checks, no Django.

One definition for the CLI, which checks it before it starts a management command, and for
the master's commands, which parse it again when run by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from reactive_users.core.errors import UsageError


def parse_since(text: str, *, option: str = "--since") -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+00:00]"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_ids(text: str) -> list[int]:
    """``--ids``: master ids separated by commas or white space."""
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"--ids: {text[:80]!r} is not a list of master ids like 1,2,3") from None
    if not ids or any(i < 1 for i in ids):
        raise UsageError("--ids: give at least one master id, each 1 or more")
    return ids


def parse_where(items: Iterable[str]) -> dict[str, Any]:
    """``--where LOOKUP=VALUE`` items as filter keyword arguments (true/false/none typed)."""
    lookups: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z_][a-z0-9_]*", name.strip()):
            raise UsageError(
                f"--where {item!r}: write LOOKUP=VALUE, e.g. is_active=false or "
                "last_name__startswith=Sm"
            )
        typed: Any = {"true": True, "false": False, "none": None}.get(raw.strip().lower(), raw)
        lookups[name.strip()] = typed
    return lookups


def check_chosen(
    *,
    all_users: bool,
    ids: Iterable[int] = (),
    username_regex: str | None = None,
    where: Mapping[str, Any] | None = None,
    joined_since: datetime | None = None,
) -> None:
    """Refuse a selection with no criterion (nothing is republished by accident) or a
    ``--username-regex`` that does not compile."""
    if not (all_users or ids or username_regex or where or joined_since):
        raise UsageError("choose users: --ids, --username-regex, --where, --joined-since, or --all")
    if username_regex:
        try:
            re.compile(username_regex)
        except re.error as exc:
            raise UsageError(f"--username-regex {username_regex!r}: {exc}") from None
