"""One running pipeline for the end-to-end suite: master + worker, clients shop and blog."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devstack.stack import Stack, running_stack
from reactive_cli.provision import ClientSpec

T = TypeVar("T")

#: Short visibility and few receives, so poison messages reach the DLQ within seconds.
CLIENTS = [
    ClientSpec(name="shop", max_receive_count=2, visibility_timeout=2),
    ClientSpec(name="blog", max_receive_count=2, visibility_timeout=2),
]


@pytest.fixture(scope="session")
def stack(
    redis_url: str, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("stack")
    with running_stack(
        redis_url=redis_url,
        endpoint=moto_endpoint,
        prefix="e" + uuid.uuid4().hex[:10],
        workdir=workdir,
        clients=CLIENTS,
        spies=("spy",),
    ) as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the backfill module last. Its tests leave thousands of users in the session's one
    master (and their events in every subscribed queue): a client another test adds after
    them would have every one of those to take in (a repair, a spy read of the whole topic)
    before its own check could pass. Otherwise the order is pytest's."""
    items.sort(key=lambda item: item.path.name == "test_backfill.py")


async def in_master(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a master ORM operation from async test code (Django's ORM is sync-only)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def unique(name: str) -> str:
    """A username unique to this test run."""
    return f"{name}-{uuid.uuid4().hex[:6]}"
