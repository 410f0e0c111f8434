"""Fixtures of the client suite: a file test database, the real Redis layer, a moto queue."""

from __future__ import annotations

import uuid

import pytest

from reactive_users.core import naming
from tests.client.support import Queue, make_queue


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A file SQLite test database: listener threads and consumers share it across threads."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "client.sqlite3")


@pytest.fixture
def layer_prefix(settings, redis_url: str) -> str:
    """Point the channel layer at the private Redis, under a key prefix unique to this test."""
    prefix = f"{naming.channel_layer_prefix('shop')}.{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": prefix},
        }
    }
    return prefix


@pytest.fixture
def queue(prefix: str, moto_endpoint: str, redis_url: str) -> Queue:
    """The "shop" queue (maxReceiveCount 2, visibility 1 s) and its DLQ, provisioned in moto."""
    return make_queue(prefix=prefix, endpoint=moto_endpoint, redis_url=redis_url)
