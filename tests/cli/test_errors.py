"""Every operator error is one red line with the fix, and an exit code that means it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from devstack.processes import free_port
from reactive_users.core import exitcodes
from tests.cli.conftest import write_config


def test_provision_dry_run_without_a_config_plans_the_local_defaults_as_up_does(reactive, prefix):
    ran = reactive("provision", "--dry-run", "--json", REACTIVE_PREFIX=prefix)
    assert ran.code == exitcodes.OK, ran.err
    plan = json.loads(ran.out)["plan"]
    assert {s["name"] for s in plan if s["resource"] == "queue"} == {
        f"{prefix}-shop",
        f"{prefix}-blog",
    }


def test_a_config_named_by_the_flag_must_exist_and_be_valid(reactive, tmp_path):
    ran = reactive("provision", "--dry-run", "--config", str(tmp_path / "nope.toml"))
    assert (ran.code, ran.err.splitlines()) == (
        exitcodes.USAGE,
        [
            f"ConfigError: no config file at {tmp_path / 'nope.toml'} (from --config): copy "
            "reactive.toml.example to reactive.toml and edit it, or pass --config PATH"
        ],
    )


def test_a_config_named_by_the_variable_must_exist(reactive, tmp_path):
    ran = reactive("listen", "--client", "shop", REACTIVE_CONFIG=str(tmp_path / "nope.toml"))
    assert ran.code == exitcodes.USAGE
    assert ran.err.startswith(
        f"ConfigError: no config file at {tmp_path / 'nope.toml'} (from REACTIVE_CONFIG)"
    )


def test_a_misspelt_key_is_refused_naming_the_key_and_the_allowed_ones(reactive, tmp_path):
    write_config(tmp_path, "[clients.shop]\nmax_recieve_count = 3\n")
    ran = reactive("provision", "--dry-run")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "ConfigError: reactive.toml: unknown key clients.shop.max_recieve_count: allowed keys "
        "are filter_policy, listeners, max_receive_count, pythonpath, settings, visibility_timeout"
    ]
    assert ran.out == ""


def test_listen_for_an_unknown_client_names_the_known_clients(reactive, tmp_path):
    write_config(tmp_path, "[clients.shop]\n[clients.blog]\n")
    ran = reactive("listen", "--client", "news")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "ConfigError: unknown client 'news' in reactive.toml: known clients: shop, blog"
    ]


def test_without_a_config_listen_knows_the_local_default_clients(reactive):
    ran = reactive("listen", "--client", "news")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "ConfigError: unknown client 'news' in the local defaults (no reactive.toml): "
        "known clients: shop, blog"
    ]


def test_an_endpoint_that_does_not_answer_is_one_line_and_exit_code_aws(reactive, tmp_path):
    write_config(tmp_path, 'prefix = "down"\n[clients.shop]\n')
    url = f"http://127.0.0.1:{free_port()}"
    ran = reactive("provision", AWS_ENDPOINT_URL=url)
    assert ran.code == exitcodes.AWS
    assert ran.err.splitlines() == [
        "EndpointUnreachable: ListTopics (down-users) failed: endpoint unreachable: "
        f'Could not connect to the endpoint URL: "{url}/"'
    ]


def test_teardown_without_a_terminal_refuses_and_asks_for_yes(reactive, tmp_path, prefix):
    write_config(tmp_path, f'prefix = "{prefix}"\n[clients.shop]\n')
    assert reactive("provision").code == exitcodes.OK
    ran = reactive("teardown")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "ConfigError: teardown needs confirmation and stdin is not a terminal: pass --yes"
    ]
    assert reactive("provision", "--dry-run").out.splitlines()[-1] == (
        "No changes: 4 resources are up to date."  # nothing was removed
    )


def test_listen_on_a_queue_never_provisioned_suggests_provisioning(
    tmp_path, moto_endpoint, redis_url, prefix
):
    # Given a real `reactive listen` process and a prefix nothing was provisioned for
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REDIS_URL": redis_url,
        "REACTIVE_PREFIX": prefix,
        "REACTIVE_STATE_DIR": str(tmp_path),
    }
    for name in ("REACTIVE_CONFIG", "REACTIVE_QUEUE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "reactive_cli", "listen", "--client", "shop"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == exitcodes.NOT_PROVISIONED, done.stderr
    # botocore may log at INFO first (the client's logging); the error is the last line
    assert done.stderr.splitlines()[-1] == (
        f"QueueNotFound: queue {prefix}-shop does not exist: run `reactive provision`"
    )
    assert "Traceback" not in done.stderr


def test_without_aws_credentials_it_says_how_to_configure_them(tmp_path, moto_endpoint):
    # Given an operator whose credential chain is empty (no variables, files or role)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "REACTIVE_STATE_DIR": str(tmp_path / "state"),
    }
    # When it provisions
    done = subprocess.run(
        [sys.executable, "-m", "reactive_cli", "provision", "--client", "shop"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then one line says so and how to fix it, with the AWS exit code and no traceback
    assert done.returncode == exitcodes.AWS
    assert done.stderr.splitlines() == [
        "NoCredentials: ListTopics (reactive-users) failed: no AWS credentials found: configure "
        "them (environment, ~/.aws/credentials or an instance role)"
    ]


def test_an_unknown_option_is_a_usage_error_without_a_traceback():
    """Through the installed console script, as an operator types it."""
    ran = subprocess.run(
        [sys.executable, "-m", "reactive_cli", "provision", "--bogus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == exitcodes.USAGE
    assert "No such option: --bogus" in ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout


def test_a_bad_option_value_is_a_usage_error_without_a_traceback(reactive):
    ran = reactive("status", "--watch", "--json", "--state-dir")
    assert ran.code == exitcodes.USAGE
    assert "Traceback" not in ran.err + ran.out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("backfill", "--client", "news"),
            "ConfigError: unknown client 'news' in the local defaults (no reactive.toml): "
            "known clients: shop, blog",
        ),
        (
            ("diff", "--client", "news"),
            "ConfigError: unknown client 'news' in the local defaults (no reactive.toml): "
            "known clients: shop, blog",
        ),
        (
            ("backfill", "--client", "shop", "--ids", "1,x"),
            "UsageError: --ids: '1,x' is not a list of master ids like 1,2,3",
        ),
        (
            ("backfill", "--client", "shop", "--since", "yesterday"),
            "UsageError: --since 'yesterday' is not a date: use YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM[:SS][+00:00]",
        ),
        (
            ("republish",),
            "UsageError: choose users: --ids, --username-regex, --where, --joined-since, or --all",
        ),
        (
            ("republish", "--ids", "0"),
            "UsageError: --ids: give at least one master id, each 1 or more",
        ),
        (
            ("republish", "--joined-since", "2020-13-01"),
            "UsageError: --joined-since '2020-13-01' is not a date: use YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM[:SS][+00:00]",
        ),
        (
            ("republish", "--where", "1bad"),
            "UsageError: --where '1bad': write LOOKUP=VALUE, e.g. is_active=false or "
            "last_name__startswith=Sm",
        ),
        (
            ("republish", "--username-regex", "("),
            "UsageError: --username-regex '(': missing ), unterminated subpattern at position 0",
        ),
    ],
)
def test_fleet_commands_refuse_bad_input_in_one_line_before_the_master_starts(
    reactive, args, error
):
    ran = reactive(*args)
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [error]
    assert ran.out == ""
