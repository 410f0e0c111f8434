"""``reactive listen`` as a real process: SIGTERM in the middle of a stream loses nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import boto3

from devstack.client_app import LISTENER_STOPPING
from devstack.processes import Proc, python, until
from devstack.signing import attributes as signed
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core import resources
from reactive_users.core.aws import queues
from reactive_users.core.contract import encode
from reactive_users.core.settings import Settings
from tests.cli.conftest import write_config
from tests.client.support import user_event

EVENTS = 40
BEFORE_STOP = 15
#: The default: a message stranded in flight by the stop would stay invisible this long.
VISIBILITY_SECONDS = 30


def replicas(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM replica_replica").fetchone()[0])


def queue_counts(sqs, url: str) -> tuple[int, int]:
    found = queues.queue_depth(sqs, url)
    return found.visible, found.in_flight


def test_sigterm_mid_stream_exits_0_and_a_second_run_applies_the_rest(
    tmp_path, moto_endpoint, redis_url, prefix
):
    # Given a provisioned client whose queue URL is only in the generated resources file
    state = tmp_path / "state"
    settings = Settings(
        prefix=prefix, aws_endpoint_url=moto_endpoint, redis_url=redis_url, state_dir=state
    )
    produced = ensure(settings, [ClientSpec(name="shop", visibility_timeout=VISIBILITY_SECONDS)])
    resources.record(
        state, prefix, produced.as_json(), endpoint_url=moto_endpoint, region=settings.aws_region
    )
    config = write_config(
        tmp_path,
        f'prefix = "{prefix}"\n[clients.shop]\nvisibility_timeout = {VISIBILITY_SECONDS}\n',
    )
    db = tmp_path / "shop.sqlite3"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REDIS_URL": redis_url,
        "REACTIVE_STATE_DIR": str(state),
        "DATABASE_URL": f"sqlite:///{db}",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("REACTIVE_QUEUE_URL", "REACTIVE_CONFIG", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    subprocess.run(
        python("-m", "client", "migrate", "--verbosity", "0"),
        env={**env, "REACTIVE_CLIENT": "shop"},
        check=True,
        timeout=120,
    )
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    stopped = threading.Event()

    def publish_stream() -> None:
        for user_id in range(1, EVENTS + 1):
            if user_id == BEFORE_STOP + 1:
                stopped.wait(30)  # the rest of the stream arrives after SIGTERM
            event = user_event(user_id=user_id, username=f"user{user_id}")
            body = encode(event)
            sns.publish(TopicArn=produced.topic_arn, Message=body, MessageAttributes=signed(body))

    argv = python("-m", "reactive_cli", "listen", "--client", "shop", "--config", str(config))
    publisher = threading.Thread(target=publish_stream, daemon=True)

    # When the listener is stopped with SIGTERM in the middle of the stream
    first = Proc("listen-1", argv, env, tmp_path / "logs")
    try:
        first.wait_ready(lambda: "listening on" in first.log())
        publisher.start()
        until(lambda: replicas(db) == BEFORE_STOP, what="the first events applied")
        first.signal(signal.SIGTERM)
        until(lambda: "SIGTERM: stopping after the long poll" in first.log(), what="stop log")
        stopped.set()  # the rest of the stream arrives during the long poll in progress
        assert first.popen.wait(timeout=30) == 0, first.log()[-3000:]
    finally:
        first.stop()
    publisher.join(30)

    # Then each event is applied or visible in the queue again: none deleted unapplied,
    # none stranded in flight by the stop (the poll's messages were handed back)
    applied_by_first = replicas(db)
    visible, in_flight = queue_counts(sqs, produced.queue_urls["shop"])
    assert (applied_by_first + visible, in_flight) == (EVENTS, 0)
    assert applied_by_first < EVENTS

    # And a second run applies every remaining event
    second = Proc("listen-2", argv, env, tmp_path / "logs")
    try:
        second.wait_ready(lambda: "listening on" in second.log())
        until(lambda: replicas(db) == EVENTS, timeout=30, what=f"{EVENTS} replicas")
        # An idle listener sits in a 20 s long poll: a second SIGTERM stops it at once
        second.signal(signal.SIGTERM)
        until(lambda: "SIGTERM: stopping after the long poll" in second.log(), what="stop log")
        second.signal(signal.SIGTERM)
        assert second.popen.wait(timeout=10) == 0, second.log()[-3000:]
    finally:
        second.stop()
    assert queue_counts(sqs, produced.queue_urls["shop"]) == (0, 0)
    assert "SIGTERM: stopping after the long poll" in first.log_path.read_text()


def test_a_listener_stopped_at_once_abandons_its_long_poll_and_exits_0(
    tmp_path, moto_endpoint, redis_url, prefix
):
    # Given a listener in its long poll on an empty queue (what devstack's ClientApp.stop meets)
    settings = Settings(prefix=prefix, aws_endpoint_url=moto_endpoint, redis_url=redis_url)
    produced = ensure(settings, [ClientSpec(name="shop")])
    db = tmp_path / "shop.sqlite3"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REDIS_URL": redis_url,
        "REACTIVE_STATE_DIR": str(tmp_path / "state"),
        "REACTIVE_CLIENT": "shop",
        "REACTIVE_QUEUE_URL": produced.queue_urls["shop"],
        "DATABASE_URL": f"sqlite:///{db}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(python("-m", "client", "migrate", "--verbosity", "0"), env=env, check=True)
    proc = Proc("listen", python("-m", "client", "listen"), env, tmp_path / "logs")
    try:
        proc.wait_ready(lambda: "listening on" in proc.log())

        # When it is stopped at once (the second SIGTERM once it logged taking the first)
        code = proc.stop_at_once(LISTENER_STOPPING)

        # Then it took both signals, left its long poll and exited cleanly
        log = proc.log_path.read_text()
        assert code == 0, log[-3000:]
        assert "SIGTERM: stopping after the long poll" in log
        assert "SIGTERM again: stopping now" in log
    finally:
        proc.stop()
