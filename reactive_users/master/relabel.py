"""Moving the master app's records from a former label to the installed one, data untouched.

A database migrated under another label (``users`` until December 2026, or a label a project
gave the app and then changed) holds the outbox and the versions under that label's records:
``django_migrations`` rows and content types, and under ``users`` also tables and indexes
named after it (``labels.LEGACY_*``). Left as they are, ``migrate`` would create new, empty
tables beside them and the unsent events would never be published. ``relabel`` moves it all
in one transaction: tables and indexes renamed (the rows in them, sent or not, stay), the
migration records and content types (and so the permissions and admin log entries that point
at them) given the installed label. It reads first (``inspect``) and refuses any state it does
not recognise, changing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Index

from reactive_users.master import labels
from reactive_users.master.models import OutboxEvent, UserVersion

MODELS = {"outboxevent": OutboxEvent, "userversion": UserVersion}


class NothingToDo(Exception):
    """The database holds nothing of the app under the former label."""


class UnexpectedState(Exception):
    """The database is in a state ``relabel`` does not recognise; it changed nothing."""


@dataclass(frozen=True)
class Found:
    """What one database holds of the app, under the former label and the installed one."""

    old_label: str
    label: str
    ours: frozenset[str]  # the app's migrations on disk
    recorded_old: frozenset[str]  # migration names recorded under the former label
    recorded_now: frozenset[str]  # the app's migrations recorded under the installed label
    tables: frozenset[str]  # every table in the database


@dataclass(frozen=True)
class Moved:
    """What ``relabel`` changed, and the outbox it kept."""

    migrations: int
    tables: int
    indexes: int
    content_types: int
    events: int
    unsent: int


def inspect(alias: str, old_label: str) -> Found:
    """Read what database ``alias`` holds of the app (no writes)."""
    connection = connections[alias]
    label = labels.installed_label()
    ours = frozenset(
        name for app, name in MigrationLoader(None, load=True).disk_migrations if app == label
    )
    tables = frozenset(connection.introspection.table_names())
    recorded: dict[str, set[str]] = {old_label: set(), label: set()}
    if MigrationRecorder.Migration._meta.db_table in tables:
        rows = MigrationRecorder.Migration.objects.using(alias).filter(app__in=[old_label, label])
        for app, name in rows.values_list("app", "name"):
            recorded[app].add(name)
    return Found(
        old_label=old_label,
        label=label,
        ours=ours,
        recorded_old=frozenset(recorded[old_label]),
        recorded_now=frozenset(recorded[label] & ours),
        tables=tables,
    )


def legacy_tables_present(found: Found) -> bool:
    """Whether the database still holds the outbox under the ``users`` label's table names."""
    return labels.LEGACY_TABLES["outboxevent"] in found.tables


def relabel(alias: str, old_label: str) -> Moved:
    """Move the app's records (and, from ``users``, its tables and indexes) from
    ``old_label`` to the installed label, in one transaction. Raises ``NothingToDo`` or
    ``UnexpectedState`` (having changed nothing)."""
    found = inspect(alias, old_label)
    if found.old_label == found.label:
        raise UnexpectedState(f"{old_label!r} is the app's installed label already")
    renames = _table_renames(found)
    connection = connections[alias]
    index_renames = _index_renames(alias, renames)
    _check_content_types(alias, found)
    with connection.schema_editor(atomic=True) as editor:
        for model_name, (old, new) in renames.items():
            editor.alter_db_table(MODELS[model_name], old, new)
        for old_index, new_index in index_renames:
            editor.rename_index(OutboxEvent, old_index, new_index)
        migrations = (
            MigrationRecorder.Migration.objects.using(alias)
            .filter(app=found.old_label, name__in=found.ours)
            .update(app=found.label)
        )
        content_types = _move_content_types(alias, found)
        events = OutboxEvent.objects.using(alias).count()
        unsent = OutboxEvent.objects.using(alias).filter(sent_at__isnull=True).count()
    return Moved(
        migrations=migrations,
        tables=len(renames),
        indexes=len(index_renames),
        content_types=content_types,
        events=events,
        unsent=unsent,
    )


def _table_renames(found: Found) -> dict[str, tuple[str, str]]:
    """Check the state; the tables to rename (model -> (old, new)), none but from ``users``."""
    if not found.recorded_old & found.ours:
        where = "already" if found.recorded_now else "nothing of the app is"
        raise NothingToDo(
            f"no migration of the app is recorded under {found.old_label!r} "
            f"({where} under {found.label!r})"
        )
    if found.recorded_now:
        raise UnexpectedState(
            f"migrations of the app are recorded under both {found.old_label!r} and "
            f"{found.label!r}: was `migrate` run with --skip-checks? Compare the two sets of "
            "tables and records by hand"
        )
    others = sorted(found.recorded_old - found.ours)
    if others:
        raise UnexpectedState(
            f"{found.old_label!r} also has migrations that are not this app's "
            f"({', '.join(others[:5])}): another app used that label in this database; "
            "move the records by hand"
        )
    renames: dict[str, tuple[str, str]] = {}
    for model_name, table in labels.TABLES.items():
        legacy = labels.LEGACY_TABLES[model_name]
        old_present, new_present = legacy in found.tables, table in found.tables
        if found.old_label == labels.LEGACY_LABEL and old_present and not new_present:
            renames[model_name] = (legacy, table)
        elif old_present and new_present:
            raise UnexpectedState(f"both {legacy} and {table} exist: keep one by hand")
        elif not new_present:
            raise UnexpectedState(
                f"migrations are recorded under {found.old_label!r} but table {table} is missing"
            )
    return renames


def _index_renames(alias: str, renames: dict[str, tuple[str, str]]) -> list[tuple[Index, Index]]:
    """The outbox's named indexes still under their legacy names (only when its table moves:
    the legacy names exist only under the legacy table)."""
    if "outboxevent" not in renames:
        return []
    legacy_table = renames["outboxevent"][0]
    connection = connections[alias]
    with connection.cursor() as cursor:
        present = set(connection.introspection.get_constraints(cursor, legacy_table))
    now = {index.name: index for index in OutboxEvent._meta.indexes}
    pairs = []
    for old_name, new_name in labels.LEGACY_INDEXES.items():
        if old_name in present:
            index = now[new_name]
            old = Index(fields=list(index.fields), condition=index.condition, name=old_name)
            pairs.append((old, index))
    return pairs


def _content_types_installed(found: Found) -> bool:
    return apps.is_installed("django.contrib.contenttypes") and (
        "django_content_type" in found.tables
    )


def _check_content_types(alias: str, found: Found) -> None:
    """Refuse when the app's content types exist under the installed label already."""
    if not _content_types_installed(found):
        return
    from django.contrib.contenttypes.models import ContentType

    types = ContentType.objects.using(alias)
    if types.filter(app_label=found.label, model__in=MODELS).exists():
        raise UnexpectedState(
            f"content types of the app exist under both {found.old_label!r} and "
            f"{found.label!r}: was `migrate` run with --skip-checks?"
        )


def _move_content_types(alias: str, found: Found) -> int:
    """Give the app's content types the installed label (permissions and admin log entries
    point at them by id, so they follow); none when contenttypes is not installed."""
    if not _content_types_installed(found):
        return 0
    from django.contrib.contenttypes.models import ContentType

    types = ContentType.objects.using(alias)
    moved = types.filter(app_label=found.old_label, model__in=MODELS).update(app_label=found.label)
    ContentType.objects.clear_cache()
    return moved
