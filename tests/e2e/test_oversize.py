"""A client narrower than the master, on every real process: the value it cannot store whole
is stored cut and never silently: its listener counts it, `reactive status` counts the
users holding cut values, `reactive diff` reports them as truncated; and the master itself
never publishes what its own model refuses.

The client ``narrow`` is added to the session's stack with a limit of its own (at most 10
characters of a first name, REACTIVE_FIELD_MAX_LENGTHS) and REACTIVE_OVERSIZE_POLICY=truncate;
``shop`` keeps auth.User's 150 and the default policy. ``reactive`` runs as a subprocess with
the master's environment, as an operator runs it on the master's host.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from devstack import master_ops
from devstack.client_app import wait_for_replica
from devstack.processes import free_port, until
from devstack.stack import Stack
from reactive_cli.provision import ClientSpec
from tests.e2e.conftest import unique

#: 24 characters: within the master's 150, over narrow's 10.
LONG = "Bartholomew Maximilianus"


def reactive(stack: Stack, config: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    """``reactive ARGS`` with the master's environment; exit code and stdout (stderr after
    it: the causes of what could not be read, such as this stack's absent supervisord)."""
    ran = subprocess.run(
        [sys.executable, "-m", "reactive_cli", *args],
        env={**stack.master_env, "REACTIVE_CONFIG": str(config), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return ran.returncode, ran.stdout + ran.stderr


def truncated_metric(port: int) -> float | None:
    """narrow's listener's count of first names stored cut, scraped over HTTP."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    sample = 'reactive_listener_values_truncated_total{client="narrow",field="first_name"} '
    found = [line for line in text.splitlines() if line.startswith(sample)]
    return float(found[0].rsplit(" ", 1)[1]) if found else None


def test_a_narrower_client_stores_a_cut_value_and_status_diff_and_metrics_say_so(
    stack: Stack, tmp_path: Path
) -> None:
    from django.contrib.auth.models import User

    from reactive_users.master.limits import FieldLimitError

    metrics_port = free_port()
    narrow = stack.add_client(
        ClientSpec(name="narrow", max_receive_count=2, visibility_timeout=2),
        env={
            "REACTIVE_OVERSIZE_POLICY": "truncate",
            "REACTIVE_FIELD_MAX_LENGTHS": "first_name=10",
            "REACTIVE_METRICS_PORT": str(metrics_port),
        },
    )
    try:
        config = tmp_path / "reactive.toml"
        config.write_text(f'prefix = "{stack.settings.prefix}"\n[clients.narrow]\n')
        env = {"NARROW_DATABASE_URL": narrow.env["DATABASE_URL"]}

        # Given the master refuses a first name over its own limit: nothing is published
        name = unique("over")
        with pytest.raises(FieldLimitError, match="first_name is 151 characters"):
            master_ops.create_user(name, first_name="x" * 151)
        assert not User.objects.filter(username=name).exists()

        # When the master saves a first name within its limit and over narrow's
        uid = master_ops.create_user(unique("long"), first_name=LONG)

        # Then shop holds it whole, narrow holds its first 10 characters, and counts it
        wait_for_replica(stack.clients["shop"], uid, first_name=LONG)
        wait_for_replica(narrow, uid, first_name=LONG[:10])
        until(lambda: truncated_metric(metrics_port) == 1, what="the truncation counted")

        # And `reactive status` counts narrow's users holding cut values, and shows the outbox
        _, out = reactive(stack, config, "status", "--json", "--state-dir", str(tmp_path), env=env)
        found, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
        [client] = found["clients"]
        assert (client["name"], client["truncated_users"], client["truncated_fields"]) == (
            "narrow",
            1,
            {"first_name": 1},
        )
        assert found["outbox"]["rows"] >= 1
        assert found["outbox"]["oldest_sent_age_seconds"] is not None
        _, text = reactive(stack, config, "status", "--state-dir", str(tmp_path), env=env)
        print(f"\n$ reactive status\n{text}")
        assert "narrow: 1 user(s) hold values cut to the client's limits (first_name 1)" in text
        assert "row(s), oldest sent" in text

        # And `reactive diff` reports the user as truncated, naming the field, not as stale,
        # and exits 0: no event can change what narrow's policy stores
        code, out = reactive(stack, config, "diff", "--client", "narrow", "--json", env=env)
        report, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
        users = [u for u in report["users"] if u["master_id"] == uid]
        assert [(u["status"], u["fields"], u["repairable"]) for u in users] == [
            ("truncated", ["first_name"], False)
        ]
        assert users[0]["reason"].startswith("first_name stored cut to 10 characters")
        assert report["totals"]["truncated"] == 1
        # (users other tests made before narrow joined are missing on it: only those differ)
        differing = [u for u in report["users"] if u["status"] in ("missing", "extra", "stale")]
        assert all(u["status"] == "missing" and u["master_id"] < uid for u in differing)
        assert code == (1 if differing else 0)
        _, text = reactive(stack, config, "diff", "--client", "narrow", env=env)
        print(f"$ reactive diff --client narrow\n{text}")
        assert "truncated (cut to the client's limits)" in text
    finally:
        stack.remove_client("narrow")
