"""A read-only command may open a database only if opening it creates nothing."""

from __future__ import annotations

from pathlib import Path

from reactive_users.core.databases import missing_sqlite, refusal

SQLITE = "django.db.backends.sqlite3"


def test_a_sqlite_file_not_made_yet_is_refused_in_one_line(tmp_path: Path):
    name = tmp_path / "db.sqlite3"
    assert missing_sqlite({"ENGINE": SQLITE, "NAME": name}) == name
    assert refusal({"ENGINE": SQLITE, "NAME": str(name)}) == (
        f"database {name} does not exist yet: run migrate"
    )
    assert not name.exists()


def test_an_existing_sqlite_file_may_be_read(tmp_path: Path):
    name = tmp_path / "db.sqlite3"
    name.touch()
    assert refusal({"ENGINE": SQLITE, "NAME": str(name)}) is None


def test_postgresql_memory_and_uri_databases_are_left_to_their_engine():
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "shop", "HOST": "db"}
    assert refusal(postgres) is None
    assert refusal({"ENGINE": SQLITE, "NAME": ":memory:"}) is None
    assert refusal({"ENGINE": SQLITE, "NAME": "file:shop?mode=memory&cache=shared"}) is None
