"""The generated resources file: recorded atomically, merged per prefix, read by settings."""

from __future__ import annotations

import json

import pytest

from reactive_users.core import resources
from reactive_users.core.errors import ConfigError
from reactive_users.core.settings import Settings

PLACE = {"endpoint_url": "http://127.0.0.1:1", "region": "us-east-1"}


def produced(topic: str, **clients: str) -> dict:
    return {
        "topic_arn": topic,
        "clients": {n: {"queue_url": u, "dlq_url": u + "-dlq"} for n, u in clients.items()},
    }


def test_recorded_ids_are_found_for_the_same_prefix_endpoint_and_region_only(tmp_path):
    resources.record(tmp_path, "acme", produced("arn:t", shop="http://q/shop"), **PLACE)
    assert resources.topic_arn(tmp_path, "acme", **PLACE) == "arn:t"
    assert resources.queue_url(tmp_path, "acme", "shop", **PLACE) == "http://q/shop"
    assert resources.queue_url(tmp_path, "acme", "blog", **PLACE) is None
    assert resources.topic_arn(tmp_path, "other", **PLACE) is None
    assert resources.topic_arn(tmp_path, "acme", endpoint_url=None, region="us-east-1") is None


def test_provisioning_one_client_later_keeps_the_others_and_teardown_forgets(tmp_path):
    resources.record(tmp_path, "acme", produced("arn:t", shop="http://q/shop"), **PLACE)
    resources.record(tmp_path, "acme", produced("arn:t", blog="http://q/blog"), **PLACE)
    assert resources.recorded_clients(tmp_path, "acme") == ["blog", "shop"]
    resources.forget(tmp_path, "acme")
    assert resources.recorded_clients(tmp_path, "acme") == []
    assert json.loads(resources.path(tmp_path).read_text())["stacks"] == {}
    assert [p.name for p in tmp_path.iterdir()] == ["resources.json"]  # no temporary left


def test_the_environment_wins_then_the_file_then_nothing(tmp_path):
    resources.record(tmp_path, "acme", produced("arn:file", shop="http://q"), **PLACE)
    env = {
        "REACTIVE_STATE_DIR": str(tmp_path),
        "REACTIVE_PREFIX": "acme",
        "AWS_ENDPOINT_URL": PLACE["endpoint_url"],
    }
    assert Settings.from_env(env).topic_arn == "arn:file"
    assert Settings.from_env(env | {"REACTIVE_TOPIC_ARN": "arn:env"}).topic_arn == "arn:env"
    assert Settings.from_env(env | {"REACTIVE_PREFIX": "other"}).topic_arn is None


def test_a_corrupt_file_is_a_config_error_with_the_fix(tmp_path):
    resources.path(tmp_path).write_text("{not json")
    with pytest.raises(ConfigError, match="delete it and run `reactive provision`"):
        resources.topic_arn(tmp_path, "acme", **PLACE)
