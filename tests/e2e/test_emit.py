"""``reactive emit-test`` as a real process against the running stack (SNS -> SQS -> listener
-> websocket), reporting per client and writing no database."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from devstack import master_ops
from devstack.client_app import ClientApp
from devstack.processes import Proc, python
from devstack.stack import Stack
from tests.e2e.conftest import in_master, unique
from tests.e2e.test_propagation import next_frame, open_stream, replica

pytestmark = pytest.mark.asyncio


def emit_test(stack: Stack, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``reactive emit-test ARGS`` with the stack's environment, as an operator would."""
    env = {**stack.master_env, "COLUMNS": "160"}
    env.pop("REACTIVE_CONFIG", None)  # no reactive.toml: the local defaults, shop and blog
    return subprocess.run(
        python("-m", "reactive_cli", "emit-test", *args),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def restart_listener(app: ClientApp) -> None:
    """Start a fresh listener for ``app`` (with its own log) after the test stopped it."""
    proc = Proc(
        f"listener-{app.name}-restarted", python("-m", "client", "listen"), app.env, app.log_dir
    )
    proc.wait_ready(lambda: "listening on" in proc.log(), timeout=30)
    app.listener = proc


async def test_emit_test_reports_delivery_to_an_open_socket_and_writes_no_database(
    stack: Stack, tmp_path: Path
):
    shop, blog = stack.clients["shop"], stack.clients["blog"]
    # Given a user replicated to both clients, with one socket open on shop
    name = unique("emma")
    uid = await in_master(master_ops.create_user, name, first_name="Emma")
    for app in (shop, blog):
        await replica(app, uid, username=name, version=1)
    async with await open_stream(shop, name) as ws:
        assert (await next_frame(ws, "state"))["version"] == 1

        # When the operator runs emit-test for that user
        ran = await asyncio.to_thread(emit_test, stack, tmp_path, name, "--json")
        test = await next_frame(ws, "test")

    # Then both listeners delivered, shop's socket got it, blog had no socket
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    (event_id,) = report["events"]
    assert (report["user_id"], report["username"], report["ok"]) == (uid, name, True)
    clients = {c["client"]: c for c in report["clients"]}
    assert set(clients) == {"shop", "blog"}
    assert (clients["shop"]["delivered"], clients["shop"]["sockets"]) == (True, 1)
    assert (clients["blog"]["delivered"], clients["blog"]["sockets"]) == (True, 0)
    assert clients["shop"]["publish_to_listener_ms"]["max"] > 0
    assert clients["shop"]["publish_to_socket_ms"]["max"] > 0
    assert clients["blog"]["publish_to_socket_ms"] is None
    assert (test["event_id"], test["user_id"]) == (event_id, uid)
    # And no client's database changed
    for app in (shop, blog):
        row = app.replica(uid)
        assert row is not None and (row["version"], row["first_name"]) == (1, "Emma")


async def test_emit_test_exits_1_naming_the_client_whose_listener_is_stopped(
    stack: Stack, tmp_path: Path
):
    blog = stack.clients["blog"]
    name = unique("otto")
    uid = await in_master(master_ops.create_user, name)
    await replica(blog, uid, username=name)
    # Given blog's listener is stopped
    assert blog.listener is not None
    await asyncio.to_thread(blog.listener.stop)
    try:
        # When emit-test runs (by master id: no database needed)
        ran = await asyncio.to_thread(emit_test, stack, tmp_path, f"id:{uid}", "--timeout", "3")
    finally:
        await asyncio.to_thread(restart_listener, blog)

    # Then it fails, names blog, and still reports shop as delivered
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "FAILED: blog did not deliver within 3 s" in ran.stdout
    rows = {line.split("│")[1].strip(): line for line in ran.stdout.splitlines() if "│" in line}
    assert "yes 1/1" in rows["shop"] and "no 0/1" in rows["blog"]


async def test_emit_test_for_an_unknown_user_is_one_line_and_exit_2(stack: Stack, tmp_path: Path):
    ran = await asyncio.to_thread(emit_test, stack, tmp_path, unique("nobody"))

    assert ran.returncode == 2
    assert ran.stderr.startswith("UnknownUser: no master user 'nobody-")
    assert len(ran.stderr.strip().splitlines()) == 1


async def test_emit_test_no_wait_prints_the_event_ids_and_exits_0(stack: Stack, tmp_path: Path):
    ran = await asyncio.to_thread(
        emit_test, stack, tmp_path, "id:1", "--no-wait", "--count", "2", "--json"
    )

    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert (report["user_id"], report["waited"], len(report["events"])) == (1, False, 2)
