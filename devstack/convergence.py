"""Whether a client holds exactly the master's users: the check every fault test ends with.

The master side is read through its ORM in this process (the stack's master); the client
side from its SQLite file, read-only. Django is imported inside functions: this module is
imported before Django is set up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from devstack.client_app import ClientApp
from devstack.processes import until

#: The replicated fields compared (the contract's default allow-list).
FIELDS = ("username", "email", "first_name", "last_name", "is_active")


@dataclass(frozen=True)
class UserState:
    """One master user as it should be held: version, deleted or not, field values."""

    version: int
    deleted: bool
    fields: tuple[Any, ...] = ()


@dataclass
class Comparison:
    """How a client's replica compares with the master, per master id."""

    missing: list[int] = field(default_factory=list)  # never arrived, or an older version
    diverged: list[int] = field(default_factory=list)  # same version, different content
    equal: list[int] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return not self.missing and not self.diverged

    def summary(self) -> str:
        return (
            f"{len(self.equal)} equal, {len(self.missing)} missing/behind "
            f"{self.missing[:10]}, {len(self.diverged)} diverged {self.diverged[:10]}"
        )


def master_state(user_ids: Iterable[int]) -> dict[int, UserState]:
    """The master's truth for ``user_ids``: the last version given, and the user's fields."""
    from django.contrib.auth.models import User

    from reactive_users.master.models import UserVersion

    ids = list(user_ids)
    versions = dict(UserVersion.objects.filter(user_id__in=ids).values_list("user_id", "version"))
    users = {u["id"]: u for u in User.objects.filter(id__in=ids).values("id", *FIELDS)}
    state = {}
    for uid in ids:
        user = users.get(uid)
        values = tuple(user[f] for f in FIELDS) if user else ()
        state[uid] = UserState(version=versions.get(uid, 0), deleted=user is None, fields=values)
    return state


def client_state(app: ClientApp, user_ids: Iterable[int]) -> dict[int, UserState]:
    """What ``app`` holds for ``user_ids`` (absent ids are left out)."""
    ids = list(user_ids)
    held: dict[int, UserState] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = app.query(
            "SELECT r.master_id, r.version, r.tombstone, u.username, u.email, u.first_name,"
            " u.last_name, u.is_active FROM replica_replica r"
            f" LEFT JOIN auth_user u ON u.id = r.user_id WHERE r.master_id IN ({marks})",
            tuple(chunk),
        )
        for row in rows:
            values = () if row["tombstone"] else tuple(_norm(f, row[f]) for f in FIELDS)
            held[row["master_id"]] = UserState(
                version=row["version"], deleted=bool(row["tombstone"]), fields=values
            )
    return held


def _norm(name: str, value: Any) -> Any:
    return bool(value) if name == "is_active" else value


def compare(master: dict[int, UserState], client: dict[int, UserState]) -> Comparison:
    """Pure: per master id, whether the client holds the master's version and content.

    A user deleted in the master counts as equal when the client holds its tombstone, or
    holds nothing at all for a user it never saw alive.
    """
    result = Comparison()
    for uid, want in master.items():
        have = client.get(uid)
        if have is None:
            (result.equal if want.deleted and want.version == 0 else result.missing).append(uid)
        elif have.version < want.version:
            result.missing.append(uid)
        elif have.deleted != want.deleted or (not want.deleted and have.fields != want.fields):
            result.diverged.append(uid)
        else:
            result.equal.append(uid)
    return result


def wait_converged(
    app: ClientApp, user_ids: Iterable[int], *, timeout: float = 120.0
) -> Comparison:
    """Poll until ``app`` holds the master's state of every one of ``user_ids``; the last
    comparison either way (the caller records and asserts it)."""
    ids = list(user_ids)
    last: list[Comparison] = []

    def check() -> bool:
        comparison = compare(master_state(ids), client_state(app, ids))
        last[:] = [comparison]
        return comparison.converged

    try:
        until(check, timeout=timeout, interval=0.1, what=f"{app.name} to converge")
    except AssertionError:
        pass
    return last[0] if last else compare(master_state(ids), client_state(app, ids))
