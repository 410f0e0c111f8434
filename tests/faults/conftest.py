"""One pipeline whose dependencies a test can take away, for the fault-injection suite.

The master (in this process) and its Celery worker use a broker Redis of their own
(``broker``) and reach SNS through a proxy that can refuse or fail (``sns``); clients use
a channel-layer Redis of their own (``layer``); listeners talk to moto directly. Each test
adds the clients it needs with ``add_client`` (removed again after the test), and whatever
a test takes away is given back before the next one (``healthy``).

Every test here is marked ``slow`` (tests/conftest.py): ``pytest -m "not slow"`` leaves
the suite out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.client_app import ClientApp
from devstack.services import RestartableRedis
from devstack.stack import Stack, running_stack, start_worker
from reactive_cli.provision import ClientSpec
from tests.support.fault_proxy import FaultProxy, Mode

AddClient = Callable[..., ClientApp]


@pytest.fixture(scope="session")
def broker(services_dir: Path) -> Iterator[RestartableRedis]:
    """The master's Celery broker: a redis-server a test may stop and start."""
    with RestartableRedis(services_dir / "broker") as redis:
        yield redis


@pytest.fixture(scope="session")
def layer(services_dir: Path) -> Iterator[RestartableRedis]:
    """The clients' channel layer: a redis-server a test may stop and start."""
    with RestartableRedis(services_dir / "layer") as redis:
        yield redis


@pytest.fixture(scope="session")
def sns(moto_endpoint: str) -> Iterator[FaultProxy]:
    """The master's way to SNS: a proxy in front of moto that a test can make fail."""
    with FaultProxy(moto_endpoint) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def stack(
    redis_url: str,
    moto_endpoint: str,
    broker: RestartableRedis,
    layer: RestartableRedis,
    sns: FaultProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The master and its worker, no clients yet; a spy queue sees what the master publishes."""
    with running_stack(
        redis_url=redis_url,
        endpoint=moto_endpoint,
        prefix="f" + uuid.uuid4().hex[:10],
        workdir=tmp_path_factory.mktemp("faults"),
        clients=[],
        master_redis_url=broker.url,
        master_endpoint=sns.url,
        client_redis_url=layer.url,
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(
    stack: Stack, broker: RestartableRedis, layer: RestartableRedis, sns: FaultProxy
) -> Iterator[None]:
    """Give back whatever the previous test took away: SNS, both Redis (stopped or frozen),
    the worker."""
    sns.set_mode(Mode.PASS)
    for redis in (broker, layer):
        redis.thaw()
        redis.start()
    if stack.worker is None or not stack.worker.alive():
        stack.worker = start_worker(stack.master_env, stack.workdir / "logs")
    yield
    sns.set_mode(Mode.PASS)
    for redis in (broker, layer):
        redis.thaw()
        redis.start()


@pytest.fixture
def add_client(stack: Stack) -> Iterator[AddClient]:
    """``add_client(name, listener=True, **ClientSpec options)``: a client for this test only.

    Its queue is subscribed to the topic from now on; after the test its processes are
    stopped and its subscription and queues removed, even if the test failed.
    """
    added: list[str] = []

    def add(name: str, *, listener: bool = True, **options: object) -> ClientApp:
        unique = f"{name}-{uuid.uuid4().hex[:6]}"
        app = stack.add_client(ClientSpec(name=unique, **options), listener=listener)  # type: ignore[arg-type]
        added.append(unique)
        return app

    yield add
    for name in added:
        stack.remove_client(name)
