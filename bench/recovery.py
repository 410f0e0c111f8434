"""What a bad message, a killed listener and a frozen channel layer cost: three figures.

Starts its own stack (moto's server, a private redis-server for the master, another one as
the client's channel layer, the master in this process with its Celery worker, one client
with its daphne and listener, its queue provisioned with the defaults: maxReceiveCount 5,
visibility timeout 30 s) and measures, one after the other:

- ``dead_letter``: seconds from publishing a malformed message (invalid JSON, raw, with
  boto3 to the topic, as an operator with the AWS CLI would) to it being in the client's
  dead-letter queue.
- ``kill``: a listener SIGKILLed while it holds a batch of a steady stream of changes,
  then restarted at once: seconds from the kill until the client holds every change the
  master had committed before it (the catch-up time), and how many messages it held.
- ``frozen``: the channel layer's redis-server SIGSTOPped (frozen, not down): events per
  second one listener applies of ``--events`` changes made at once, first with the layer
  answering, then frozen; SIGCONT afterwards, whatever happened.
- ``cost``: the listener's CPU milliseconds per event (all its threads) while it applies
  ``--events`` changes with the layer answering: unlike a rate, a figure other load on the
  machine does not change much.

Prints one line per figure and writes them as JSON. Nothing is asserted. Stops everything
it started, by PID.

    .venv/bin/python -m bench.recovery [--only dead_letter,kill,frozen] [--events 100]
                                       [--out bench/results/recovery.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from bench import procstat
from devstack import master_ops
from devstack.client_app import ClientApp
from devstack.convergence import master_state, wait_converged
from devstack.processes import Proc, until
from devstack.services import moto_server, redis_server
from devstack.stack import Stack, running_stack
from reactive_cli.provision import ClientSpec
from reactive_users.core.aws import queues

SCENARIOS = ("dead_letter", "kill", "frozen", "cost")
#: Longest wait for any one figure, in seconds.
TIMEOUT_SECONDS = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--events", type=int, default=100, help="changes of the frozen phase")
    parser.add_argument("--out", type=Path, default=Path("bench/results/recovery.json"))
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp:
        work = Path(tmp)
        with (
            redis_server(work / "redis") as (redis_url, _),
            redis_server(work / "layer") as (layer_url, layer),
            moto_server(work / "moto") as moto,
            running_stack(
                redis_url=redis_url,
                endpoint=moto,
                prefix="r" + uuid.uuid4().hex[:8],
                workdir=work,
                clients=[ClientSpec(name="shop")],
                client_redis_url=layer_url,
            ) as stack,
        ):
            app = stack.clients["shop"]
            for name in only:
                print(f"measuring {name} ...", flush=True)
                figures.update(SCENARIO[name](stack, app, layer, args))
    for name, value in figures.items():
        print(f"{name:>40}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{'written':>40}: {args.out}")


def sqs(stack: Stack) -> Any:
    return boto3.client("sqs", endpoint_url=stack.settings.aws_endpoint_url)


def dead_letter(stack: Stack, app: ClientApp, layer: Proc, args: Any) -> dict[str, Any]:
    """Publish invalid JSON to the topic; seconds until it is in the dead-letter queue."""
    dlq = stack.provisioned.dlq_urls[app.name]
    sns = boto3.client("sns", endpoint_url=stack.settings.aws_endpoint_url)
    before = queues.queue_depth(sqs(stack), dlq).total
    started = time.monotonic()
    sns.publish(TopicArn=stack.provisioned.topic_arn, Message='{"schema": 1, "event_id": "0b6c')
    until(
        lambda: queues.queue_depth(sqs(stack), dlq).total > before,
        timeout=TIMEOUT_SECONDS,
        interval=0.1,
        what="the malformed message in the dead-letter queue",
    )
    return {"malformed_to_dlq_seconds": round(time.monotonic() - started, 2)}


def kill(stack: Stack, app: ClientApp, layer: Proc, args: Any) -> dict[str, Any]:
    """A listener SIGKILLed while it holds messages it has not applied, restarted at once:
    seconds from the kill until the client holds every user created before it.

    The listener is SIGSTOPped in its long poll, new users are created, and it is killed
    once SQS has handed it some of their events (counted in flight): those come back only
    when their visibility timeout ends, the others are applied by the restarted listener.
    """
    assert app.listener is not None
    prefix = uuid.uuid4().hex[:6]
    app.listener.signal(signal.SIGSTOP)
    ids = [master_ops.create_user(f"{prefix}-{n}", password=None) for n in range(20)]
    held = until(
        lambda: queues.queue_depth(sqs(stack), app.queue_url).in_flight,
        timeout=60,
        interval=0.01,
        what="the stopped listener's long poll to take messages",
    )
    app.listener.signal(signal.SIGKILL)
    killed = time.monotonic()
    app.listener.stop()  # reaped, its log closed
    app.listener = None
    app.start_listener()
    caught_up = _wait_versions(app, master_state(ids))
    return {"kill9_catch_up_seconds": round(caught_up - killed, 2), "kill9_messages_held": held}


def _wait_versions(app: ClientApp, committed: dict[int, Any]) -> float:
    """When the client first held at least the ``committed`` version of every user."""

    def behind() -> bool:
        rows = app.query("SELECT master_id, version FROM replica_replica")
        held = {r["master_id"]: r["version"] for r in rows}
        return all(held.get(uid, 0) >= want.version for uid, want in committed.items())

    until(behind, timeout=TIMEOUT_SECONDS, interval=0.05, what="the client to catch up")
    return time.monotonic()


def frozen(stack: Stack, app: ClientApp, layer: Proc, args: Any) -> dict[str, Any]:
    """Events/s of one listener with its channel layer answering, then SIGSTOPped."""
    figures = {"events_per_second_layer_up": _rate(app, args.events, "up")}
    os.kill(layer.pid, signal.SIGSTOP)
    try:
        figures["events_per_second_layer_frozen"] = _rate(app, args.events, "frozen")
    finally:
        os.kill(layer.pid, signal.SIGCONT)
    return figures


def _rate(app: ClientApp, events: int, tag: str) -> float:
    prefix = uuid.uuid4().hex[:6]
    started = time.monotonic()
    ids = [master_ops.create_user(f"{prefix}-{tag}{n}", password=None) for n in range(events)]
    comparison = wait_converged(app, ids, timeout=TIMEOUT_SECONDS)
    seconds = time.monotonic() - started
    if not comparison.converged:
        return 0.0
    return round(events / seconds, 1)


def cost(stack: Stack, app: ClientApp, layer: Proc, args: Any) -> dict[str, Any]:
    """The listener's CPU per event (all its threads) with the layer answering: a figure
    that, unlike events/s, does not depend on what else the machine runs."""
    assert app.listener is not None
    before = procstat.cpu_seconds(app.listener.pid) or 0.0
    _rate(app, args.events, "cost")
    after = procstat.cpu_seconds(app.listener.pid) or 0.0
    return {"listener_cpu_ms_per_event": round(1000 * (after - before) / args.events, 2)}


SCENARIO: dict[str, Callable[[Stack, ClientApp, Proc, Any], dict[str, Any]]] = {
    "dead_letter": dead_letter,
    "kill": kill,
    "frozen": frozen,
    "cost": cost,
}


if __name__ == "__main__":
    main()
