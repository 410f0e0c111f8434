"""Shared settings: environment over defaults, explicit errors for bad values."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from reactive_users.core.contract import DEFAULT_USER_FIELDS
from reactive_users.core.errors import ConfigError
from reactive_users.core.settings import (
    DEFAULT_REDIS_URL,
    Settings,
    database,
    env_bool,
    own_environment,
    parse_fields,
    secret_key,
)


def test_defaults_work_locally_without_any_environment():
    s = Settings.from_env({})
    assert s.redis_url == DEFAULT_REDIS_URL
    assert s.aws_endpoint_url is None
    assert s.aws_region == "us-east-1"
    assert s.user_fields == DEFAULT_USER_FIELDS
    assert not s.production


def test_environment_overrides_defaults_and_overrides_win_over_environment():
    env = {
        "REDIS_URL": "redis://h:1/2",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5",
        "AWS_REGION": "eu-west-1",
        "REACTIVE_PREFIX": "acme",
    }
    s = Settings.from_env(env, prefix="other")
    assert (s.redis_url, s.aws_endpoint_url, s.aws_region, s.prefix) == (
        "redis://h:1/2",
        "http://127.0.0.1:5",
        "eu-west-1",
        "other",
    )


def test_user_fields_are_an_allow_list_that_refuses_secrets():
    assert parse_fields("username, email") == ("username", "email")
    with pytest.raises(ConfigError, match="may not include password"):
        parse_fields("username,password")
    # The login field is the master's check to require (it knows the model), not this parse's.
    assert parse_fields("email") == ("email",)
    assert parse_fields("") is DEFAULT_USER_FIELDS  # unset: the user model's default


def test_booleans_must_be_clear():
    assert env_bool({"X": "yes"}, "X", default=False) is True
    assert env_bool({}, "X", default=True) is True
    with pytest.raises(ConfigError, match="X='maybe' is not a boolean"):
        env_bool({"X": "maybe"}, "X", default=False)


def test_secret_key_is_generated_once_per_install_and_private(tmp_path: Path):
    s = Settings.from_env({"REACTIVE_STATE_DIR": str(tmp_path)})
    first = secret_key({}, s, "master")
    assert first == secret_key({}, s, "master") and len(first) > 40
    assert stat.S_IMODE((tmp_path / "master.secret").stat().st_mode) == 0o600
    assert secret_key({}, s, "client-shop") != first


def test_secret_key_is_required_in_production(tmp_path: Path):
    s = Settings.from_env({"REACTIVE_STATE_DIR": str(tmp_path), "REACTIVE_PRODUCTION": "1"})
    with pytest.raises(ConfigError, match="DJANGO_SECRET_KEY must be set"):
        secret_key({}, s, "master")


def test_database_is_sqlite_by_default_and_postgres_through_database_url(tmp_path: Path):
    s = Settings.from_env({"REACTIVE_STATE_DIR": str(tmp_path)})
    assert database({}, s, "m.sqlite3")["NAME"] == str(tmp_path / "m.sqlite3")
    pg = database({"DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}, s, "m.sqlite3")
    assert (pg["ENGINE"], pg["NAME"], pg["HOST"]) == (
        "django.db.backends.postgresql",
        "db",
        "127.0.0.1",
    )


def test_a_sqlite_database_url_gets_the_same_locking_options_as_the_default(tmp_path: Path):
    s = Settings.from_env({"REACTIVE_STATE_DIR": str(tmp_path)})
    default = database({}, s, "m.sqlite3")
    from_url = database({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}, s, "m.sqlite3")
    assert from_url["OPTIONS"] == default["OPTIONS"]
    assert from_url["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_each_component_takes_its_own_variables_under_the_names_its_settings_read():
    env = {
        "MASTER_SECRET_KEY": "m-key",
        "MASTER_REDIS_URL": "redis://master:p@r/0",
        "SHOP_SECRET_KEY": "s-key",
        "SHOP_DATABASE_URL": "postgres://shop@db/shop",
        "SHOP_REDIS_URL": "redis://shop:p@r/1",
        "NEWS_2_REDIS_URL": "redis://news-2:p@r/2",
        "DATABASE_URL": "postgres://generic@db/x",
    }

    assert own_environment(env, "master") == {
        "DJANGO_SECRET_KEY": "m-key",
        "REDIS_URL": "redis://master:p@r/0",
    }
    assert own_environment(env, "shop") == {
        "DJANGO_SECRET_KEY": "s-key",
        "DATABASE_URL": "postgres://shop@db/shop",
        "REDIS_URL": "redis://shop:p@r/1",
    }
    assert own_environment(env, "news-2") == {"REDIS_URL": "redis://news-2:p@r/2"}
    assert own_environment(env, "blog") == {}
