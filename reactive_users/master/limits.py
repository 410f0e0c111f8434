"""The master's field limits on what it publishes: a save that breaks one fails, on any database.

Rule: a master never publishes a value its own model refuses. PostgreSQL refuses it in the
save itself (``DataError``); SQLite stores it, and every client would then refuse the event.
So before a save writes anything, each published (tracked) field the save writes is checked
here, and a breach raises ``FieldLimitError``, the same on both databases.

Checked, per tracked field written (``update_fields`` narrows it, as it narrows the UPDATE):

    text longer than the field's ``max_length``   what PostgreSQL's varchar(n) refuses
    text holding a NUL character (U+0000)          what PostgreSQL's text types refuse

Left to the database, which enforces it the same on both: NOT NULL and unique (an
``IntegrityError``). Not checked, as neither database enforces it: validators (the
characters of a username, the syntax of an email); the admin's forms check those.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import DataError

#: The one character PostgreSQL cannot store in text.
NUL = "\x00"


class FieldLimitError(DataError):
    """A save would write a published field its model does not allow; nothing was written.

    A ``DataError``, as PostgreSQL's own refusal is: code that handles a failed save on
    PostgreSQL handles this one the same way on SQLite.
    """


def breaches(values: Mapping[str, object], max_lengths: Mapping[str, int | None]) -> list[str]:
    """What is wrong with ``values`` (tracked field -> value about to be written), one phrase
    per field in field order; ``max_lengths`` gives each field's limit (None: no limit)."""
    found = []
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        limit = max_lengths.get(name)
        if limit is not None and len(value) > limit:
            found.append(f"{name} is {len(value)} characters, more than its limit of {limit}")
        elif NUL in value:
            found.append(f"{name} holds a NUL character, which PostgreSQL cannot store")
    return found
