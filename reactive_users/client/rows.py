"""One model row written as ``save()`` writes it, with statements made once per model.

``row_insert`` and ``row_update`` run the same INSERT and UPDATE, with the same values, as
``obj.save()`` of a new row and ``obj.save(update_fields=...)``: every value goes through
its field's ``pre_save`` (``auto_now`` stamps) and ``get_db_prep_save``. ``save`` builds and
compiles a query every time; these reuse the statement, for much less CPU. They send no
pre_save or post_save signal and do not read the new primary key back: for the listener's
own bookkeeping rows (``Replica``), which nothing listens to, never for a model other apps
may hook (``User`` is saved with ``save()``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, models, router

if TYPE_CHECKING:  # Field is generic only to the type checker
    Fields = tuple[models.Field[Any, Any], ...]


def row_insert(obj: models.Model) -> None:
    """INSERT ``obj`` as ``obj.save()`` does a new row (``obj.pk`` stays unset)."""
    alias = router.db_for_write(type(obj), instance=obj)
    connection = connections[alias]
    sql, fields = _insert_statement(alias, type(obj))
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def row_update(obj: models.Model, names: tuple[str, ...]) -> None:
    """UPDATE ``obj``'s row as ``obj.save(update_fields=names)`` does; like ``save``, raise
    ``DatabaseError`` when no row was updated."""
    alias = router.db_for_write(type(obj), instance=obj)
    connection = connections[alias]
    sql, fields = _update_statement(alias, type(obj), names)
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in fields]
    params.append(obj._meta.pk.get_db_prep_value(obj.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{obj._meta.label} {obj.pk}: {cursor.rowcount} rows updated")


@functools.cache
def _insert_statement(alias: str, model: type[models.Model]) -> tuple[str, Fields]:
    """The INSERT of every concrete column but an auto primary key, and its fields."""
    meta = model._meta
    if meta.parents:  # multi-table inheritance: save() writes one row per table
        raise ValueError(f"{meta.label}: a model with parents takes more than one INSERT")
    fields = tuple(f for f in meta.local_concrete_fields if f is not meta.auto_field)
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(_column(f)) for f in fields)
    marks = ", ".join("%s" for _ in fields)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})", fields


@functools.cache
def _update_statement(
    alias: str, model: type[models.Model], names: tuple[str, ...]
) -> tuple[str, Fields]:
    """The UPDATE of ``names``' columns where the primary key is the last %s, and its fields."""
    meta = model._meta
    columns = {f.name: f for f in meta.concrete_fields}
    if not set(names) <= columns.keys():
        raise ValueError(f"{meta.label}: not all of {names} are columns")
    concrete = tuple(columns[name] for name in names)
    quote = connections[alias].ops.quote_name
    assignments = ", ".join(f"{quote(_column(f))} = %s" for f in concrete)
    where = f"{quote(_column(meta.pk))} = %s"
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}", concrete


def _column(field: models.Field[Any, Any]) -> str:
    if not field.column:
        raise ValueError(f"{field} has no column")
    return field.column
