"""Fixtures every suite shares: a private Redis and moto server, unique AWS names per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.services import moto_server, redis_server
from devstack.signing import KEYS_TEXT

# Tests talk to moto only: fake credentials, never the machine's real ones.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
)
os.environ.pop("AWS_PROFILE", None)
# Master, clients and CLI in and under this run sign and verify with the test keys.
os.environ["REACTIVE_SIGNING_KEYS"] = KEYS_TEXT
os.environ.pop("REACTIVE_SIGNING_KEY_ID", None)


#: Suites whose every test runs the real pipeline: marked ``slow`` (``-m "not slow"`` skips).
SLOW_SUITES = (
    "tests/e2e/",
    "tests/stack/",
    "tests/faults/",
    "tests/custom_pair/",
    "tests/compat/",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path).replace("\\", "/")
        if any(suite in path for suite in SLOW_SUITES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run's services keep their logs and files."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_url(services_dir: Path) -> Iterator[str]:
    """A real redis-server of this test run's own, on a free port."""
    with redis_server(services_dir / "redis") as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def moto_endpoint(services_dir: Path) -> Iterator[str]:
    """moto's SNS/SQS server of this test run's own, reached over HTTP."""
    with moto_server(services_dir / "moto") as url:
        yield url


@pytest.fixture
def prefix() -> str:
    """A resource prefix unique to this test, so tests sharing one moto never collide."""
    return "t" + uuid.uuid4().hex[:12]
