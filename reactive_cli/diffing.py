"""Comparing the master's users with one client's replicas: pure, stdlib-only.

``reactive diff`` feeds it the JSON lines of ``python -m master users_dump`` and
``python -m client replica_dump`` (each read through its own project's ORM). Per master id:

    master                    client                              status
    ------------------------  ----------------------------------  --------------------------
    live user                 nothing, withdrawn, or live without MISSING  (repair: snapshot)
                              local user
    live user                 other version or other field values STALE    (repair: snapshot)
    live user                 same version and fields             EQUAL
    live user                 tombstone                           STALE    (repair: reset; a
                                                                            forged or stray
                                                                            delete)
    excluded (staff)          live (with or without local user)   EXTRA    (repair: withdrawn)
    excluded (staff)          withdrawn, tombstone or nothing     EQUAL    (no user on either)
    tombstone                 live (with or without local user)   EXTRA    (repair: deleted)
    tombstone                 withdrawn                           STALE    (repair: deleted,
                                                                            which is final)
    tombstone                 tombstone or nothing                EQUAL    (no user on either)
    no record                 live                                EXTRA    (cannot be repaired
                                                                            by an event)
    no record                 withdrawn, tombstone or nothing     EQUAL
    live user                 same version; fields differ only    TRUNCATED (no difference:
                              where the client stored the master's           the client's
                              value cut to its limit                         policy; no repair)

"Excluded" users are outside the master's published set (staff and superusers unless
REACTIVE_PUBLISH_STAFF): no client may hold them, so one that does is EXTRA, as for a user
deleted in the master. Fields compared are those both sides carry (the allow-list). A diff
taken while events are in flight shows them as stale or missing for a moment: run it again.
A client with REACTIVE_OVERSIZE_POLICY=truncate says which fields it stored cut, and to what
limit (``"truncated": {field: limit}`` in its dump): a user whose only differences are those
is TRUNCATED, listed and counted, but not a difference, since no event can change it.

Before the table: a client holding a version ABOVE the master's (a forged or stray event;
an event the master never published) is AHEAD whenever either side holds a user: no live
event can repair it (every one is older than what the client holds), so the repair is a
*reset* to the master's state and version (``contract.Replaced``: it names the version and
last event id the client dump showed, and applies only while the client still holds them).
The same reset repairs a user tombstoned on the client but live in the master (a delete the
master never made).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from reactive_users.core.contract import FieldValue
from reactive_users.core.errors import ContractError

__all__ = [
    "Entry",
    "Record",
    "Report",
    "Status",
    "compare",
    "parse_record",
    "parse_records",
]


class Status(StrEnum):
    """How one user on the client compares with the master."""

    MISSING = "missing"  # the master has the user; the client does not (or lost the local row)
    EXTRA = "extra"  # the client holds a user the master deleted, excludes or does not know
    STALE = "stale"  # both have it, with another version or other field values
    EQUAL = "equal"
    TRUNCATED = "truncated"  # the client holds the master's values cut to its own limits
    AHEAD = "ahead"  # the client holds a version above the master's: only a reset repairs it

    @property
    def differs(self) -> bool:
        """Whether this status is a difference to report (and to repair)."""
        return self in (Status.MISSING, Status.EXTRA, Status.STALE, Status.AHEAD)

    @property
    def listed(self) -> bool:
        """Whether a diff lists it by default: a difference, or values the client cut."""
        return self.differs or self is Status.TRUNCATED


@dataclass(frozen=True, kw_only=True)
class Record:
    """One user as one side holds it (a line of ``users_dump`` or ``replica_dump``).

    ``fields`` is None for a client replica whose local user is gone; ``version`` is None
    for a master user that never had an event. ``excluded``: the master's user is outside
    its published set; ``withdrawn``: the client's marker of such a user (no local user);
    ``truncated`` names the fields a client stored cut, each with its limit there (None:
    unknown).
    """

    master_id: int
    version: int | None
    tombstone: bool = False
    excluded: bool = False
    withdrawn: bool = False
    fields: Mapping[str, FieldValue] | None = field(default_factory=dict)
    truncated: Mapping[str, int | None] = field(default_factory=dict)
    #: The client's last applied event (``replica_dump``), None if it recorded none.
    event_id: str | None = None

    @property
    def live(self) -> bool:
        """Whether this side holds the user as present (a client: even without local user)."""
        return not (self.tombstone or self.withdrawn)


@dataclass(frozen=True, kw_only=True)
class Entry:
    """The comparison of one master id."""

    master_id: int
    status: Status
    master_version: int | None = None
    client_version: int | None = None
    #: Field names whose values differ (STALE).
    fields: tuple[str, ...] = ()
    #: A few words on why, for the table.
    reason: str = ""
    #: Whether sending the master's current state to the client closes the gap.
    repairable: bool = True
    #: Whether the master excludes the user (outside its published set).
    excluded: bool = False
    #: Whether the repair is a reset (AHEAD, or tombstoned on the client only): the client
    #: state it replaces is ``client_version`` and ``client_event_id``.
    reset: bool = False
    client_event_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "master_id": self.master_id,
            "status": self.status.value,
            "master_version": self.master_version,
            "client_version": self.client_version,
            "fields": list(self.fields),
            "reason": self.reason,
            "repairable": self.repairable,
            "excluded": self.excluded,
            "reset": self.reset,
        }


@dataclass(frozen=True)
class Report:
    """Every master id either side holds, compared, in id order."""

    entries: tuple[Entry, ...]

    @property
    def totals(self) -> dict[str, int]:
        """How many users have each status (every status present, zeros included)."""
        counts = Counter(e.status for e in self.entries)
        return {status.value: counts.get(status, 0) for status in Status}

    @property
    def withdrawn(self) -> int:
        """How many of the equal users the master excludes (held by the client as nothing)."""
        return sum(1 for e in self.entries if e.excluded and e.status is Status.EQUAL)

    @property
    def differences(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.status.differs)

    @property
    def differs(self) -> bool:
        return any(e.status.differs for e in self.entries)

    def repair_ids(self) -> list[int]:
        """The master ids whose current master state, sent to the client as a snapshot,
        delete or withdrawal, closes the gap."""
        return [e.master_id for e in self.differences if e.repairable and not e.reset]

    def resets(self) -> list[Entry]:
        """The differences only a reset closes (each names the client state it replaces)."""
        return [e for e in self.differences if e.reset]

    def unrepairable(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.differences if not e.repairable)

    @property
    def listed(self) -> tuple[Entry, ...]:
        """What a diff shows by default: the differences and the truncated users."""
        return tuple(e for e in self.entries if e.status.listed)

    def as_json(self, *, every_user: bool = False) -> dict[str, Any]:
        shown = self.entries if every_user else self.listed
        return {
            "equal": not self.differs,
            "totals": self.totals,
            "users": [e.as_json() for e in shown],
        }


def compare(master: Iterable[Record], client: Iterable[Record]) -> Report:
    """Compare the two sides per master id (see the module's table)."""
    ours = {r.master_id: r for r in master}
    theirs = {r.master_id: r for r in client}
    entries = [
        _entry(master_id, ours.get(master_id), theirs.get(master_id))
        for master_id in sorted(ours.keys() | theirs.keys())
    ]
    return Report(tuple(entries))


def _entry(master_id: int, m: Record | None, c: Record | None) -> Entry:
    found = _compared(master_id, m, c)
    if found.status.differs and _ahead(m, c):
        assert m is not None and c is not None
        return replace(
            found,
            status=Status.AHEAD,
            repairable=True,
            reset=True,
            client_event_id=c.event_id,
            reason=f"version {_v(c.version)} on the client is above the master's "
            f"{_v(m.version)}: an event the master never sent; a reset repairs it",
        )
    if found.reset:
        return replace(found, client_event_id=c.event_id if c else None)
    return found


def _ahead(m: Record | None, c: Record | None) -> bool:
    """Whether the client holds a version above the master's record of the user."""
    return (
        m is not None and c is not None and m.version is not None and c.version is not None
    ) and c.version > m.version


def _compared(master_id: int, m: Record | None, c: Record | None) -> Entry:
    def entry(status: Status, reason: str = "", **more: Any) -> Entry:
        return Entry(
            master_id=master_id,
            status=status,
            master_version=m.version if m else None,
            client_version=c.version if c else None,
            reason=reason,
            excluded=m is not None and m.excluded,
            **more,
        )

    client_live = c is not None and c.live
    if m is not None and m.excluded:
        if client_live:
            return entry(Status.EXTRA, "staff or superuser in the master: must be withdrawn")
        return entry(Status.EQUAL, "staff or superuser in the master: " + _held_as(c))
    if m is not None and m.tombstone and c is not None and c.withdrawn:
        return entry(Status.STALE, "deleted in the master, withdrawn on the client")
    if m is None or m.tombstone:
        if not client_live:
            return entry(Status.EQUAL)
        if m is None:
            return entry(Status.EXTRA, "the master has no record of this user", repairable=False)
        return entry(Status.EXTRA, "deleted in the master")
    if c is None:
        return entry(Status.MISSING, "not on the client")
    if c.withdrawn:
        return entry(Status.MISSING, "withdrawn on the client")
    if c.tombstone:
        return entry(
            Status.STALE,
            "tombstoned on the client, live in the master: a delete the "
            "master never made; a reset repairs it",
            reset=True,
        )
    if c.fields is None:
        return entry(Status.MISSING, "local user deleted")
    differing = _differing(m.fields or {}, c.fields)
    if not differing and m.version == c.version:
        return entry(Status.EQUAL)
    if m.version == c.version and _only_cut(differing, m.fields or {}, c):
        return entry(
            Status.TRUNCATED, _cut_reason(differing, c), fields=differing, repairable=False
        )
    reasons = []
    if m.version != c.version:
        reasons.append(f"version {_v(c.version)} on the client, {_v(m.version)} in the master")
    if differing:
        reasons.append(f"{', '.join(differing)} differ{'s' if len(differing) == 1 else ''}")
    return entry(Status.STALE, "; ".join(reasons), fields=differing)


def _v(version: int | None) -> str:
    return "none" if version is None else str(version)


def _held_as(c: Record | None) -> str:
    """What a client holds of a user it must not show: words for the table."""
    if c is None:
        return "not on the client"
    return "withdrawn on the client" if c.withdrawn else "tombstoned on the client"


def _only_cut(names: tuple[str, ...], master: Mapping[str, FieldValue], client: Record) -> bool:
    """Whether every differing field is one the client says it cut, holding the master's
    value cut to its limit there."""
    for name in names:
        if name not in client.truncated:
            return False
        whole, held = master.get(name), (client.fields or {}).get(name)
        if not isinstance(whole, str) or not isinstance(held, str) or len(held) >= len(whole):
            return False
        limit = client.truncated[name]
        if held != whole[: limit if limit is not None else len(held)]:
            return False
    return True


def _cut_reason(names: tuple[str, ...], client: Record) -> str:
    """``first_name stored cut to 30 characters (the client's REACTIVE_OVERSIZE_POLICY)``."""
    cut = ", ".join(
        f"{name} stored cut to {client.truncated[name]} characters"
        if client.truncated[name] is not None
        else f"{name} stored cut"
        for name in names
    )
    return f"{cut} (REACTIVE_OVERSIZE_POLICY=truncate: no event can change it)"


def _differing(
    master: Mapping[str, FieldValue], client: Mapping[str, FieldValue]
) -> tuple[str, ...]:
    return tuple(name for name in master if name in client and master[name] != client[name])


# --- Reading the dumps ------------------------------------------------------------------------


def parse_record(line: str) -> Record:
    """One JSON line of a dump; ``ContractError`` saying what is wrong."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise ContractError(f"not a dump line: {e}: {line[:120]!r}") from None
    if not isinstance(obj, dict):
        raise ContractError(f"not a dump line (not an object): {line[:120]!r}")
    master_id: Any = obj.get("master_id")
    version: Any = obj.get("version")
    fields: Any = obj.get("fields", {})
    truncated: Any = obj.get("truncated", {})
    event_id: Any = obj.get("event_id")
    if not _is_int(master_id) or master_id < 1:
        raise ContractError(f"dump line without a valid master_id: {line[:120]!r}")
    if version is not None and not _is_int(version):
        raise ContractError(f"dump line with a bad version: {line[:120]!r}")
    if fields is not None and not isinstance(fields, dict):
        raise ContractError(f"dump line whose fields are not an object: {line[:120]!r}")
    if not isinstance(truncated, dict) or not all(
        limit is None or _is_int(limit) for limit in truncated.values()
    ):
        raise ContractError(f"dump line with a bad truncated: {line[:120]!r}")
    if event_id is not None and not isinstance(event_id, str):
        raise ContractError(f"dump line with a bad event_id: {line[:120]!r}")
    return Record(
        master_id=master_id,
        version=version,
        tombstone=obj.get("tombstone") is True,
        excluded=obj.get("excluded") is True,
        withdrawn=obj.get("withdrawn") is True,
        fields=fields,
        truncated=truncated,
        event_id=event_id,
    )


def parse_records(text: str) -> list[Record]:
    """Every non-blank line of a dump."""
    return [parse_record(line) for line in text.splitlines() if line.strip()]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
