"""The dev stack's database URLs and the bench's PostgreSQL database names (pure logic, plus
the read-only reader on a SQLite file)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bench import databases
from bench.clientdb import epoch
from bench.run import _without_password, parse
from devstack.databases import Reader, is_postgres, sqlite_path, sqlite_url, with_database


def test_with_database_names_another_database_on_the_same_server():
    assert (
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "bench_7_shop")
        == "postgres://postgres@127.0.0.1:5432/bench_7_shop"
    )


def test_with_database_keeps_a_socket_host_and_user_in_the_query():
    url = "postgres:///postgres?host=/var/run/postgresql&user=root"
    assert with_database(url, "bench_7_master") == (
        "postgres:///bench_7_master?host=/var/run/postgresql&user=root"
    )


def test_with_database_refuses_a_sqlite_url():
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        with_database("sqlite:////tmp/x.sqlite3", "bench_7_shop")


def test_sqlite_urls_round_trip_and_postgres_is_recognised(tmp_path: Path):
    path = tmp_path / "client-shop.sqlite3"
    assert sqlite_path(sqlite_url(path)) == path
    assert sqlite_path("postgres://h/db") is None
    assert is_postgres("postgresql://h/db") and is_postgres("postgres://h/db")
    assert not is_postgres(sqlite_url(path))


def test_database_names_are_per_configuration_and_per_app():
    urls = databases.app_urls("postgres://postgres@h:5432/postgres", 4242, ["master", "shop"])
    assert urls == {
        "master": "postgres://postgres@h:5432/bench_4242_master",
        "shop": "postgres://postgres@h:5432/bench_4242_shop",
    }
    assert databases.database_name(4242, "shop2").startswith(databases.prefix(4242))


@pytest.mark.parametrize("app", ["Shop", "a-b", "x; DROP", "a" * 60])
def test_database_names_refuse_what_is_not_a_plain_identifier(app: str):
    with pytest.raises(ValueError, match="cannot name a database"):
        databases.database_name(1, app)


def test_printed_server_url_leaves_the_password_out():
    assert _without_password("postgres://u:secret@h:5432/db") == "postgres://u@h:5432/db"
    assert _without_password("postgres://u@h/db") == "postgres://u@h/db"


def test_run_defaults_to_sqlite_and_takes_postgres():
    assert parse([]).database == "sqlite"
    assert parse(["--database", "postgres", "--database-url", "postgres://h/db"]).database_url


def test_a_database_url_without_postgres_is_bad_input(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        parse(["--database-url", "postgres://h/db"])
    assert exit_.value.code == 2
    assert "--database-url needs --database postgres" in capsys.readouterr().err


def test_applied_times_read_the_same_from_sqlite_text_and_postgres_datetimes():
    # SQLite holds Django's UTC text without a zone; PostgreSQL returns an aware datetime
    at = datetime(2026, 12, 5, 17, 0, 0, 250000, tzinfo=UTC)
    berlin = at.astimezone(timezone(timedelta(hours=1)))
    assert epoch("2026-12-05 17:00:00.250000") == at.timestamp()
    assert epoch(berlin) == at.timestamp()


def test_reader_rows_read_by_name_position_and_unpacking_on_sqlite(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (master_id INTEGER, version INTEGER)")
        db.execute("INSERT INTO t VALUES (1, 3)")
    rows = Reader(sqlite_url(path)).query(
        "SELECT master_id, version FROM t WHERE version = ?", (3,)
    )
    (master_id, version), row = rows[0], rows[0]
    assert (master_id, version) == (1, 3)
    assert row["version"] == 3 and row[0] == 1
    assert dict(row) == {"master_id": 1, "version": 3}
