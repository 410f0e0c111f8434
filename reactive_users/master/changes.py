"""What a user save or delete must publish: the rules, as pure functions. No ORM, no I/O.

Rule 1: every decision about *whether* and *what* to publish lives here, and so does THE
exclusion rule (``excluded_by_privileges``): which users are outside the published set.

    event    user now (after the save)       before (snapshot)        publishes
    -------  ------------------------------  -----------------------  ---------------------------
    save     excluded                        - (created)              nothing (never published)
    save     excluded                        excluded                 nothing (already withdrawn)
    save     excluded                        visible (just promoted)  WITHDRAWN, no fields
    save     excluded                        none taken               WITHDRAWN, no fields
    save     visible                         - (created)              CREATED, every tracked field
    save     visible                         none taken               UPDATED, every tracked field
    save     visible                         excluded (just demoted)  UPDATED, every tracked field
    save     visible                         visible, fields differ   UPDATED, the changed fields
    save     visible                         visible, nothing differs nothing (last_login, password)
    delete   excluded                        any                      DELETED, no fields
    delete   visible                         any                      DELETED
    republish excluded                       -                        WITHDRAWN, no fields
    republish visible                        -                        UPDATED, every tracked field

The published set is what clients may hold (docs/semantics.md). "Excluded" means staff or
superuser while REACTIVE_PUBLISH_STAFF is off (a model without those flags excludes nobody), or,
when the project names one in REACTIVE_EXCLUDE_USER, whatever that callable (user -> bool) says:
it then alone decides, read on the instance as loaded and as saved. A user who leaves the set is
WITHDRAWN from every client, like a delete (the person still exists, so the client keeps a
marker a re-entry lifts); once demoted, the next save sends the full state again at a higher
version. Nothing of an excluded user leaves the master: its withdrawal and its delete carry no
fields. A delete is published even for a user who never was (clients may hold one promoted by
``QuerySet.update()``, or before withdrawals existed); a client holding nothing records a
tombstone. With no snapshot taken (an instance built without ``post_init``) a save of an
excluded user withdraws: harmless, a client holding nothing records a marker.

Values are read from the instance's ``__dict__``, never through attribute access, so a
deferred field (``.only()``) is reported as absent instead of costing a query.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from reactive_users.core.contract import Action, FieldValue

#: Fields that make a user staff-like; read beside the tracked fields.
PRIVILEGE_FIELDS = ("is_staff", "is_superuser")

#: A project's own exclusion rule (REACTIVE_EXCLUDE_USER): True for a user clients must
#: not hold.
ExcludeRule = Callable[[object], bool]


def has_privileges(privileges: Mapping[str, object]) -> bool:
    """Whether any of ``PRIVILEGE_FIELDS`` is set in ``privileges`` (a user's ``__dict__``, a
    row, a snapshot's flags): staff or superuser."""
    return any(bool(privileges.get(name)) for name in PRIVILEGE_FIELDS)


def excluded_by_privileges(privileges: Mapping[str, object], publish_staff: bool) -> bool:
    """THE exclusion rule: staff or superuser (``has_privileges``) unless
    REACTIVE_PUBLISH_STAFF. Such users are withdrawn from clients."""
    return not publish_staff and has_privileges(privileges)


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """A user's tracked values and privileges, as loaded from or last written to the database."""

    values: Mapping[str, FieldValue]
    is_staff: bool = False
    is_superuser: bool = False
    #: The project's rule's verdict (REACTIVE_EXCLUDE_USER); None: the privilege rule.
    ruled_out: bool | None = None

    @property
    def privileges(self) -> dict[str, bool]:
        """The privilege flags, by field name (``PRIVILEGE_FIELDS``)."""
        return {"is_staff": self.is_staff, "is_superuser": self.is_superuser}

    @property
    def privileged(self) -> bool:
        """Whether the user is staff or superuser (``has_privileges``)."""
        return has_privileges(self.privileges)

    def excluded(self, publish_staff: bool) -> bool:
        """Whether this state is outside the published set: the project's rule's verdict,
        else ``excluded_by_privileges``."""
        if self.ruled_out is not None:
            return self.ruled_out
        return excluded_by_privileges(self.privileges, publish_staff)


@dataclass(frozen=True, kw_only=True)
class Decision:
    """An event to record: what happened, which tracked fields changed, and whether its
    payload carries the user's fields (not for an excluded user)."""

    action: Action
    changed: tuple[str, ...]
    with_fields: bool = True


#: What leaving the published set records: no field of the user.
WITHDRAWAL = Decision(action=Action.WITHDRAWN, changed=(), with_fields=False)


def field_value(value: object) -> FieldValue:
    """A model attribute as a wire value: primitives as they are, dates in ISO 8601, else text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return field_value(value.value)
    return str(value)


def tracked_values(
    user: object, fields: Iterable[str] | Mapping[str, str]
) -> dict[str, FieldValue]:
    """The allow-listed ``fields`` the instance holds; deferred (absent) fields are left out.

    ``fields`` maps each name to the attribute holding its value (a foreign key's
    ``<name>_id``); a plain iterable of names reads each under its own name.
    """
    held = vars(user)
    columns = fields if isinstance(fields, Mapping) else {name: name for name in fields}
    return {name: field_value(held[col]) for name, col in columns.items() if col in held}


def take_snapshot(
    user: object, fields: Iterable[str] | Mapping[str, str], rule: ExcludeRule | None = None
) -> Snapshot:
    """The user's tracked values and privilege flags as the instance holds them now, and
    the project's ``rule``'s verdict when there is one."""
    held = vars(user)
    return Snapshot(
        values=tracked_values(user, fields),
        is_staff=bool(held.get("is_staff", False)),
        is_superuser=bool(held.get("is_superuser", False)),
        ruled_out=None if rule is None else bool(rule(user)),
    )


def is_excluded(user: object, publish_staff: bool, rule: ExcludeRule | None = None) -> bool:
    """Whether this user instance is outside the published set: ``rule``'s verdict if
    given, else ``excluded_by_privileges``."""
    if rule is not None:
        return bool(rule(user))
    return excluded_by_privileges(vars(user), publish_staff)


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
        ruled_out=current.ruled_out,  # the rule's verdict on the instance as saved
    )


def decide_save(
    *, old: Snapshot | None, new: Snapshot, created: bool, publish_staff: bool
) -> Decision | None:
    """The event a save records, or None (see the table in the module docstring)."""
    if new.excluded(publish_staff):
        if created or (old is not None and old.excluded(publish_staff)):
            return None  # never published, or already withdrawn
        return WITHDRAWAL
    if created or old is None:
        action = Action.CREATED if created else Action.UPDATED
        return Decision(action=action, changed=changed_fields(None, new.values))
    if old.excluded(publish_staff):  # re-entry: the client holds nothing of the user
        return Decision(action=Action.UPDATED, changed=changed_fields(None, new.values))
    changed = changed_fields(old.values, new.values)
    return Decision(action=Action.UPDATED, changed=changed) if changed else None


def decide_delete(
    *, user: object, publish_staff: bool, rule: ExcludeRule | None = None
) -> Decision:
    """The event a delete records: always DELETED; without fields for an excluded user."""
    excluded = is_excluded(user, publish_staff, rule)
    return Decision(action=Action.DELETED, changed=(), with_fields=not excluded)


def decide_republish(*, user: Snapshot, publish_staff: bool) -> Decision:
    """The event ``republish`` records for a user as the row holds it now: the full state,
    or a withdrawal for an excluded user (a promotion written without signals)."""
    if user.excluded(publish_staff):
        return WITHDRAWAL
    return Decision(action=Action.UPDATED, changed=changed_fields(None, user.values))
