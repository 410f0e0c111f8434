"""``reactive provision`` and ``reactive teardown`` against moto, as an operator runs them."""

from __future__ import annotations

import json

from reactive_users.core import exitcodes, resources
from tests.cli.conftest import write_config


def test_provision_shows_the_plan_applies_it_and_records_the_ids(reactive, tmp_path, prefix):
    write_config(tmp_path, f'prefix = "{prefix}"\n[clients.shop]\nmax_receive_count = 3\n')

    ran = reactive("provision")

    assert ran.code == exitcodes.OK, ran.err
    lines = ran.out.splitlines()
    assert lines[-2] == "Plan: 4 to create, 0 to update, 0 unchanged."
    where = tmp_path / "state" / "resources.json"
    assert lines[-1] == f"Applied: 4 created, 0 updated, 0 unchanged. Recorded in {where}"
    recorded = json.loads(where.read_text())["stacks"][prefix]
    assert recorded["topic_arn"] == f"arn:aws:sns:us-east-1:123456789012:{prefix}-users"
    assert recorded["clients"]["shop"]["queue_url"].endswith(f"/{prefix}-shop")


def test_a_second_provision_says_there_is_nothing_to_change(reactive, tmp_path, prefix):
    write_config(tmp_path, f'prefix = "{prefix}"\n[clients.shop]\n[clients.blog]\n')
    reactive("provision")

    ran = reactive("provision")

    assert ran.out.splitlines()[-2:] == [
        "No changes: 7 resources are up to date.",
        "Applied: 0 created, 0 updated, 7 unchanged. Recorded in "
        f"{tmp_path / 'state' / 'resources.json'}",
    ]


def test_dry_run_json_is_the_plan_alone_and_changes_nothing(reactive, tmp_path, prefix):
    write_config(tmp_path, f'prefix = "{prefix}"\n[clients.shop]\n')

    ran = reactive("provision", "--dry-run", "--json")

    data = json.loads(ran.out)
    assert [(s["action"], s["resource"]) for s in data["plan"]] == [
        ("create", "topic"),
        ("create", "dlq"),
        ("create", "queue"),
        ("create", "subscription"),
    ]
    assert (data["applied"], data["resources"]) == (False, None)
    assert json.loads(reactive("provision", "--json").out)["plan"][0]["action"] == "create"


def test_client_flags_without_a_config_provision_those_clients(reactive, tmp_path, prefix):
    ran = reactive("provision", "--client", "news", "--json", REACTIVE_PREFIX=prefix)
    assert ran.code == exitcodes.OK, ran.err
    assert list(json.loads(ran.out)["resources"]["clients"]) == ["news"]


def test_teardown_yes_removes_everything_and_forgets_the_recorded_ids(reactive, tmp_path, prefix):
    write_config(tmp_path, f'prefix = "{prefix}"\n[clients.shop]\n')
    reactive("provision")

    ran = reactive("teardown", "--yes")

    assert ran.code == exitcodes.OK, ran.err
    assert ran.out.splitlines()[-1] == "Removed 4 resources."
    assert resources.recorded_clients(tmp_path / "state", prefix) == []
    assert reactive("provision", "--dry-run").out.splitlines()[-1] == (
        "Plan: 4 to create, 0 to update, 0 unchanged."
    )
    assert reactive("teardown", "--yes").out.splitlines() == [
        f"Nothing to remove: no resources with prefix '{prefix}' exist."
    ]


def test_every_command_has_help_with_an_example(reactive):
    for command in ("provision", "teardown", "listen"):
        ran = reactive(command, "--help")
        assert ran.code == exitcodes.OK
        assert "Example: reactive " + command in ran.out


def test_without_a_config_or_endpoint_provision_refuses_to_create_demo_clients_in_aws(reactive):
    ran = reactive("provision", AWS_ENDPOINT_URL=None)

    assert ran.code == exitcodes.USAGE, ran.out
    assert ran.err.strip().splitlines() == [
        "ConfigError: no reactive.toml and no AWS_ENDPOINT_URL: this would create the demo "
        "clients shop, blog in real AWS; copy reactive.toml.example to reactive.toml and name "
        "your clients, or pass --client NAME"
    ]
