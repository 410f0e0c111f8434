"""What a user save or delete must publish: the rules, as pure functions. No ORM, no I/O.

Rule 1: every decision about *whether* and *what* to publish lives here.

    event    user now (after the save)       before (snapshot)        publishes
    -------  ------------------------------  -----------------------  ---------------------------
    save     excluded (staff / superuser)    any                      nothing
    save     created                         -                        CREATED, every tracked field
    save     visible                         excluded (just demoted)  UPDATED, every tracked field
    save     visible                         visible, fields differ   UPDATED, the changed fields
    save     visible                         visible, nothing differs nothing (last_login, password)
    delete   excluded                        any                      nothing
    delete   visible                         any                      DELETED

"Excluded" means staff or superuser while REACTIVE_PUBLISH_STAFF is off. A user who becomes
staff simply stops publishing: clients keep the last state they saw (no delete is sent,
since the person still exists); once demoted, the next save sends the full state again.

Values are read from the instance's ``__dict__``, never through attribute access, so a
deferred field (``.only()``) is reported as absent instead of costing a query.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from reactive_cli.contract import Action, FieldValue

#: Fields that make a user staff-like; read beside the tracked fields.
PRIVILEGE_FIELDS = ("is_staff", "is_superuser")


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """A user's tracked values and privileges, as loaded from or last written to the database."""

    values: Mapping[str, FieldValue]
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def privileged(self) -> bool:
        """Whether the user is staff or superuser."""
        return self.is_staff or self.is_superuser


@dataclass(frozen=True, kw_only=True)
class Decision:
    """An event to record: what happened and which tracked fields changed."""

    action: Action
    changed: tuple[str, ...]


def field_value(value: object) -> FieldValue:
    """A model attribute as a wire value: primitives as they are, dates in ISO 8601, else text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return field_value(value.value)
    return str(value)


def tracked_values(user: object, fields: Iterable[str]) -> dict[str, FieldValue]:
    """The allow-listed ``fields`` the instance holds; deferred (absent) fields are left out."""
    held = vars(user)
    return {name: field_value(held[name]) for name in fields if name in held}


def take_snapshot(user: object, fields: Iterable[str]) -> Snapshot:
    """The user's tracked values and privilege flags as the instance holds them now."""
    held = vars(user)
    return Snapshot(
        values=tracked_values(user, fields),
        is_staff=bool(held.get("is_staff", False)),
        is_superuser=bool(held.get("is_superuser", False)),
    )


def is_excluded(user: object, publish_staff: bool) -> bool:
    """Whether this user's changes stay in the master (staff/superuser unless publishing them)."""
    held = vars(user)
    privileged = bool(held.get("is_staff", False)) or bool(held.get("is_superuser", False))
    return privileged and not publish_staff


def changed_fields(
    old: Mapping[str, FieldValue] | None, new: Mapping[str, FieldValue]
) -> tuple[str, ...]:
    """The sorted tracked fields whose value differs; all of ``new``'s when there is no ``old``.

    ``new`` carries only allow-listed fields (see ``tracked_values``), so nothing else can
    count as a change.
    """
    if old is None:
        return tuple(sorted(new))
    missing = object()
    return tuple(sorted(name for name, value in new.items() if old.get(name, missing) != value))


def saved_snapshot(
    old: Snapshot | None, current: Snapshot, update_fields: Collection[str] | None
) -> Snapshot:
    """What the row holds after a save: ``current``, except fields an ``update_fields`` skipped."""
    if old is None or update_fields is None:
        return current
    written = set(update_fields)
    values = {**old.values, **{k: v for k, v in current.values.items() if k in written}}
    return Snapshot(
        values=values,
        is_staff=current.is_staff if "is_staff" in written else old.is_staff,
        is_superuser=current.is_superuser if "is_superuser" in written else old.is_superuser,
    )


def decide_save(
    *, old: Snapshot | None, new: Snapshot, created: bool, publish_staff: bool
) -> Decision | None:
    """The event a save records, or None (see the table in the module docstring)."""
    if new.privileged and not publish_staff:
        return None
    if created or old is None:
        action = Action.CREATED if created else Action.UPDATED
        return Decision(action=action, changed=changed_fields(None, new.values))
    if old.privileged and not publish_staff:
        return Decision(action=Action.UPDATED, changed=changed_fields(None, new.values))
    changed = changed_fields(old.values, new.values)
    return Decision(action=Action.UPDATED, changed=changed) if changed else None


def decide_delete(*, user: object, publish_staff: bool) -> Decision | None:
    """The event a delete records, or None for an excluded user."""
    if is_excluded(user, publish_staff):
        return None
    return Decision(action=Action.DELETED, changed=())
