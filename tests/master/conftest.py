"""Fixtures of the master suite: its own test database, Celery on the private Redis, moto.

Every test publishes through ``settings.REACTIVE`` (the one place the services read), set
here to this run's moto server and Redis with a prefix of the test's own; the Celery app is
pointed at the private Redis too, so nothing ever reaches a Redis or AWS of the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.signing import KEYS
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core.settings import Settings
from tests.master.sqs import Queue, Topic
from tests.master.workers import point_celery_at, running_worker


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A test database of this run's own: a file on SQLite, a pid-named one on PostgreSQL."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    db["CONN_MAX_AGE"] = 0  # threads and workers must not keep connections to a dropped DB
    test = db.setdefault("TEST", {})
    if db["ENGINE"].endswith("sqlite3"):
        # A file, not shared-cache memory: worker threads then wait for locks (WAL, timeout).
        test["NAME"] = str(tmp_path_factory.mktemp("db") / "master-test.sqlite3")
    else:
        test["NAME"] = f"test_master_{os.getpid()}"


@pytest.fixture(scope="session")
def celery_app(redis_url: str) -> Iterator[Any]:
    """The master's Celery app, with broker and result backend on this run's Redis."""
    from master.celery import app

    point_celery_at(app, redis_url)
    yield app


@pytest.fixture
def celery_worker(celery_app: Any, transactional_db: None) -> Iterator[Any]:
    """A real worker for a test whose commits are real (its on_commit kicks fire)."""
    with running_worker(celery_app):
        yield celery_app


@pytest.fixture(autouse=True)
def master_settings(
    settings, moto_endpoint: str, celery_app: Any, redis_url: str, prefix: str
) -> Settings:
    """Point the master at this run's moto and Redis, under a prefix of the test's own."""
    config = Settings(
        prefix=prefix,
        redis_url=redis_url,
        aws_region="us-east-1",
        aws_endpoint_url=moto_endpoint,
        state_dir=Path(settings.REACTIVE.state_dir),
        signing=KEYS,
    )
    settings.REACTIVE = config
    # These tests drive the relay through Celery (a worker, or by hand); test_publisher.py
    # switches to the default publisher thread where it tests that.
    settings.REACTIVE_RELAY = "celery"
    settings.REACTIVE_PUBLISH_STAFF = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast
    return config


@pytest.fixture
def sqs(moto_endpoint: str) -> Any:
    """A boto3 SQS client on moto, independent of the code under test."""
    return boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def topic(master_settings: Settings, sqs: Any) -> Topic:
    """The provisioned topic of this test, with the queue of a client called "shop"."""
    provisioned = ensure(master_settings, [ClientSpec(name="shop")])
    return Topic(arn=provisioned.topic_arn, queue=Queue(sqs, provisioned.queue_urls["shop"]))
