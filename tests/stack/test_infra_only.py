"""`reactive up --infra-only`: moto and Redis alone under supervisord, for the operator's own
projects; `status` and `down` on it."""

from __future__ import annotations

import json

import boto3
import redis

from devstack.processes import port_open, until
from reactive_users.core import exitcodes
from tests.stack.conftest import local_stack


def test_infra_only_runs_sns_sqs_and_redis_alone_and_prints_what_a_project_sets(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("infra")
    with local_stack(state_dir, "--infra-only", "--client", "shop", clients=("shop",)) as cli:
        assert cli.started is not None
        out, moto, redis_port = cli.started.out, cli.ports["moto"], cli.ports["redis"]

        # up printed the endpoints and the variables the operator's projects set
        assert f"http://127.0.0.1:{moto}" in out and f"redis://127.0.0.1:{redis_port}/0" in out
        for line in (
            f"export AWS_ENDPOINT_URL=http://127.0.0.1:{moto}",
            "export AWS_REGION=us-east-1",
            f"export REDIS_URL=redis://127.0.0.1:{redis_port}/0",
            "export REACTIVE_PREFIX=reactive",
            "export REACTIVE_TOPIC_ARN=arn:aws:sns:",
            f'export REACTIVE_SIGNING_KEYS="$(cat {state_dir / "signing.key"})"',
            "export REACTIVE_CLIENT=shop",
            f"export REACTIVE_QUEUE_URL=http://127.0.0.1:{moto}/",
        ):
            assert line in out, out

        # moto answers with boto3: the topic and the named client's queue exist
        aws = {
            "endpoint_url": f"http://127.0.0.1:{moto}",
            "region_name": "us-east-1",
            "aws_access_key_id": "local",
            "aws_secret_access_key": "local",
        }
        topics = boto3.client("sns", **aws).list_topics()["Topics"]
        assert [t["TopicArn"].rsplit(":", 1)[1] for t in topics] == ["reactive-users"]
        queues = boto3.client("sqs", **aws).list_queues().get("QueueUrls", [])
        assert sorted(q.rsplit("/", 1)[1] for q in queues) == ["reactive-shop", "reactive-shop-dlq"]
        # and Redis answers PING
        assert redis.Redis(host="127.0.0.1", port=redis_port).ping()

        # Only moto and Redis run: no daphne, listener or celery, no master or client port
        assert sorted(p.name for p in cli.supervisor.processes()) == ["moto", "redis"]
        assert not port_open(cli.ports["master"]) and not port_open(cli.ports["shop"])
        # and no project was migrated or seeded
        assert (
            not list(state_dir.glob("*.sqlite3"))
            and not (state_dir / "demo-passwords.json").exists()
        )

        # status shows the two programs and the queue, reading no project
        status = cli("status", "--json")
        assert status.code == exitcodes.OK, status.err
        found = json.loads(status.out)
        assert found["infra_only"] is True
        assert {p["name"]: p["state"] for p in found["processes"]} == {
            "moto": "RUNNING",
            "redis": "RUNNING",
        }
        assert [c["name"] for c in found["clients"]] == ["shop"]
        assert not list(state_dir.glob("*.sqlite3"))

        # down stops it all
        down = cli("down")
        assert down.code == exitcodes.OK, down.err
        assert "The stack is down: 3 processes stopped." in down.out
        assert not cli.supervisor.is_up()
        until(lambda: not port_open(moto) and not port_open(redis_port), timeout=10)


def test_infra_only_with_no_client_named_provisions_the_topic_and_no_demo_queue(
    tmp_path_factory,
):
    state_dir = tmp_path_factory.mktemp("infra")
    with local_stack(state_dir, "--infra-only", clients=()) as cli:
        assert cli.started is not None
        assert "REACTIVE_QUEUE_URL" not in cli.started.out
        assert "reactive provision --client NAME" in cli.started.out
        aws = {
            "endpoint_url": f"http://127.0.0.1:{cli.ports['moto']}",
            "region_name": "us-east-1",
            "aws_access_key_id": "local",
            "aws_secret_access_key": "local",
        }
        assert boto3.client("sqs", **aws).list_queues().get("QueueUrls", []) == []
        assert len(boto3.client("sns", **aws).list_topics()["Topics"]) == 1
