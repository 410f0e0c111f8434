"""The operator's way out of the dead-letter queue: fix the cause, redrive, and it applies."""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth.models import User

from devstack.processes import until
from devstack.signing import attributes
from reactive_cli.main import main
from reactive_users.client.listener.acks import listener_identity
from reactive_users.client.models import Replica
from reactive_users.core import exitcodes
from reactive_users.core.contract import encode
from tests.client.support import Queue, polled_listener, user_event

db = pytest.mark.django_db(transaction=True)


@db
def test_a_refused_message_is_listed_with_its_reason_then_fixed_redriven_and_applied(
    queue: Queue, layer_prefix, tmp_path, monkeypatch, capsys, caplog
):
    # Given a client-local user "carol" and the master's creation of another user "carol"
    local = User.objects.create_user("carol", password="x")
    event = user_event(user_id=3, username="carol", first_name="Carol")
    signed = attributes(encode(event), action="created")  # as the master signs it
    message_id = str(
        queue.sqs.send_message(
            QueueUrl=queue.url, MessageBody=encode(event), MessageAttributes=signed
        )["MessageId"]
    )
    monkeypatch.chdir(tmp_path)  # no reactive.toml: the local defaults (shop, blog)
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(queue.settings.aws_endpoint_url))
    monkeypatch.setenv("REACTIVE_PREFIX", queue.settings.prefix)
    monkeypatch.setenv("REACTIVE_STATE_DIR", str(tmp_path / "state"))
    for name in ("REACTIVE_CONFIG", "REACTIVE_TOPIC_ARN"):
        monkeypatch.delenv(name, raising=False)
    with polled_listener(queue) as loop:
        # When the real listener refuses it: it sends it to the dead-letter queue at once
        with caplog.at_level(logging.ERROR, logger="reactive_users.client"):
            stats = loop.poll_once()
        assert (stats.failed, stats.dead_lettered) == (1, 1)
        assert f"event {event.event_id} message {message_id}" in caplog.text
        assert not Replica.objects.exists()
        assert queue.empty()
        assert queue.counts(queue.dlq_url) == (1, 0)

        # Then `dlq list` shows the reason the listener recorded
        capsys.readouterr()
        assert main(["dlq", "list", "--client", "shop", "--json"]) == exitcodes.OK
        (letter,) = json.loads(capsys.readouterr().out)["messages"]
        assert letter["reason_from"] == "listener"
        assert letter["reason"].startswith(f"UsernameCollision: event {event.event_id}: ")
        assert "rename or remove that local user" in letter["reason"]
        assert (letter["source_queue"], letter["source_message_id"]) == (queue.url, message_id)
        assert letter["listener"] == listener_identity()
        assert letter["receives"] == 1  # the listener's one receive; the listing's not counted

        # When the operator renames the local user (the fix), then redrives every dead letter
        local.username = "carol-local"
        local.save()
        code = main(["dlq", "redrive", "--client", "shop", "--all"])
        out, err = capsys.readouterr()
        assert (code, err) == (exitcodes.OK, "")
        assert out.strip() == (
            f"Moved 1 message(s) from {queue.settings.prefix}-shop-dlq to "
            f"{queue.settings.prefix}-shop."
        )
        assert queue.counts(queue.dlq_url) == (0, 0)
        # ... the message is back as it was sent: its attributes, none of the listener's
        (back,) = queue.sqs.receive_message(
            QueueUrl=queue.url, MessageAttributeNames=["All"], VisibilityTimeout=0
        )["Messages"]
        # the master's signature and action, without the listener's reactive.dlq.* ones
        assert back["MessageAttributes"] == signed
        assert back["Body"] == encode(event)

        # Then the next poll applies it: master user 3 is replicated under its own name
        def applied() -> bool:
            loop.poll_once()
            return Replica.objects.filter(master_id=3).exists()

        until(applied, timeout=30, what="the redriven event applied")

    replica = Replica.objects.select_related("user").get(master_id=3)
    assert (replica.version, replica.last_event_id) == (1, event.event_id)
    assert replica.user is not None
    assert (replica.user.username, replica.user.first_name) == ("carol", "Carol")
    assert User.objects.get(pk=local.pk).username == "carol-local"
    until(queue.empty, what="the applied message deleted")
