"""``reactive dlq list|redrive|purge`` on real queues in moto's server.

Poison messages reach the dead-letter queue the real way: sent to the client's queue and
received (visibility 0) until SQS moves them after maxReceiveCount receives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from devstack.processes import until
from reactive_cli.main import main
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core import aws, exitcodes, resources
from reactive_users.core.aws import queues
from reactive_users.core.contract import encode
from reactive_users.core.settings import Settings
from tests.cli.conftest import Ran, write_config
from tests.client.support import user_event

#: Receives before SQS moves a message to the dead-letter queue.
MAX_RECEIVES = 2
MALFORMED = '{"schema": 1, "nonsense": true}'
ACTION = {"action": {"DataType": "String", "StringValue": "created"}}
WIDE = "500"  # columns: a whole table row on one line


@dataclass
class Shop:
    """Client "shop", provisioned and recorded, with the SQS calls the tests make."""

    prefix: str
    sqs: Any
    url: str
    dlq_url: str

    @property
    def dlq(self) -> str:
        return f"{self.prefix}-shop-dlq"

    def counts(self, url: str) -> tuple[int, int]:
        found = queues.queue_depth(self.sqs, url)
        return found.visible, found.in_flight

    def dead_letters(self, *bodies: str) -> list[str]:
        """Send ``bodies`` to the queue and fail each MAX_RECEIVES times: their message ids."""
        before = sum(self.counts(self.dlq_url))
        ids = [
            self.sqs.send_message(QueueUrl=self.url, MessageBody=b, MessageAttributes=ACTION)[
                "MessageId"
            ]
            for b in bodies
        ]

        def all_moved() -> bool:
            self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
            )
            return self.counts(self.dlq_url) == (before + len(bodies), 0)

        until(all_moved, timeout=30, what=f"{len(bodies)} message(s) in the DLQ")
        assert self.counts(self.url) == (0, 0)
        return ids

    def drain(self, url: str, expected: int) -> list[dict[str, Any]]:
        """Receive (and keep invisible) ``expected`` messages from ``url``."""
        got: dict[str, dict[str, Any]] = {}

        def received_all() -> bool:
            answer = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
            got.update({m["MessageId"]: m for m in answer.get("Messages", [])})
            return len(got) >= expected

        until(received_all, timeout=30, what=f"{expected} message(s)")
        assert len(got) == expected
        return list(got.values())


@pytest.fixture
def shop(tmp_path, moto_endpoint, prefix) -> Shop:
    state = tmp_path / "state"
    settings = Settings(prefix=prefix, aws_endpoint_url=moto_endpoint, state_dir=state)
    spec = ClientSpec(name="shop", max_receive_count=MAX_RECEIVES, visibility_timeout=1)
    done = ensure(settings, [spec])
    resources.record(
        state, prefix, done.as_json(), endpoint_url=moto_endpoint, region=settings.aws_region
    )
    write_config(
        tmp_path,
        f'prefix = "{prefix}"\n[clients.shop]\nmax_receive_count = {MAX_RECEIVES}\n'
        "visibility_timeout = 1\n[clients.blog]\n",
    )
    return Shop(
        prefix=prefix,
        sqs=aws.client("sqs", settings),
        url=done.queue_urls["shop"],
        dlq_url=done.dlq_urls["shop"],
    )


def listed(reactive) -> dict[str, dict[str, Any]]:
    ran = reactive("dlq", "list", "--client", "shop", "--json")
    assert ran.code == 0, ran.err
    return {m["message_id"]: m for m in json.loads(ran.out)["messages"]}


def test_list_shows_each_dead_letter_with_its_reason_and_the_json_form_parses(reactive, shop):
    collision = user_event(user_id=7, version=3, username="carol")
    malformed_id, valid_id = shop.dead_letters(MALFORMED, encode(collision))

    found = listed(reactive)

    assert set(found) == {malformed_id, valid_id}
    assert found[malformed_id]["reason"] == (
        "malformed: missing keys: action, changed, event_id, occurred_at, synthetic, user, "
        "user_id, version"
    )
    assert found[valid_id]["reason"] == (
        "valid created event for master user 7 v3 refused by the client: see its listener "
        f"log for event {collision.event_id}"
    )
    assert found[valid_id]["body"] == encode(collision)  # whole, not truncated
    assert found[valid_id]["message_attributes"] == {"action": "created"}
    # The listener's receives on the client's queue; this listing's own is not counted
    assert {m["receives"] for m in found.values()} == {MAX_RECEIVES}
    assert all(m["sent_at"] and m["first_received_at"] for m in found.values())

    ran = reactive("dlq", "list", "--client", "shop", COLUMNS=WIDE)
    assert ran.code == 0, ran.err
    header = next(line for line in ran.out.splitlines() if "message id" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "message id",
        "sent",
        "first receive",
        "receives",
        "reason",
        "body",
    ]
    row = next(line for line in ran.out.splitlines() if valid_id in line)
    assert found[valid_id]["reason"] in row
    assert encode(collision)[:119] + "…" in row
    malformed_row = next(line for line in ran.out.splitlines() if malformed_id in line)
    assert MALFORMED in malformed_row
    assert ran.out.splitlines()[-1] == f"2 dead letter(s) in {shop.dlq}."


def test_listing_twice_shows_the_same_messages_and_leaves_them_in_the_dlq(reactive, shop):
    ids = shop.dead_letters(*(f"poison {i}" for i in range(12)))  # more than one receive

    first, second = listed(reactive), listed(reactive)

    assert set(first) == set(second) == set(ids)
    assert {i: m["body"] for i, m in first.items()} == {i: m["body"] for i, m in second.items()}
    # Each listing is one more receive, which the next listing reports
    assert {m["receives"] for m in first.values()} == {MAX_RECEIVES}
    assert {m["receives"] for m in second.values()} == {MAX_RECEIVES + 1}
    assert shop.counts(shop.dlq_url) == (12, 0)  # all of them visible again at once


def test_an_empty_dlq_lists_nothing(reactive, shop):
    ran = reactive("dlq", "list", "--client", "shop")
    assert (ran.code, ran.out.strip()) == (0, f"No dead letters: {shop.dlq} is empty.")
    assert json.loads(reactive("dlq", "list", "--client", "shop", "--json").out)["count"] == 0


def test_redrive_id_moves_exactly_that_message_back_to_the_queue(reactive, shop):
    keep_a, moved, keep_b = shop.dead_letters("poison a", "poison b", "poison c")

    ran = reactive("dlq", "redrive", "--client", "shop", "--id", moved)

    assert ran.code == 0, ran.err
    assert ran.out.strip() == f"Moved 1 message(s) from {shop.dlq} to {shop.prefix}-shop."
    (back,) = shop.drain(shop.url, 1)
    assert (back["Body"], back["MessageAttributes"]) == ("poison b", ACTION)
    assert shop.counts(shop.dlq_url) == (2, 0)
    assert set(listed(reactive)) == {keep_a, keep_b}


def test_redrive_all_moves_every_message_back(reactive, shop):
    bodies = [f"poison {i}" for i in range(12)]
    shop.dead_letters(*bodies)

    ran = reactive("dlq", "redrive", "--client", "shop", "--all")

    assert ran.code == 0, ran.err
    assert ran.out.strip() == f"Moved 12 message(s) from {shop.dlq} to {shop.prefix}-shop."
    assert shop.counts(shop.dlq_url) == (0, 0)
    back = shop.drain(shop.url, 12)
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    assert all(m["MessageAttributes"] == ACTION for m in back)


def test_a_message_the_queue_refuses_stays_in_the_dlq_and_redrive_exits_1(reactive, shop):
    big, small_a, small_b = shop.dead_letters("x" * 3000, "poison a", "poison b")
    shop.sqs.set_queue_attributes(QueueUrl=shop.url, Attributes={"MaximumMessageSize": "1024"})

    ran = reactive("dlq", "redrive", "--client", "shop", "--all", COLUMNS=WIDE)

    assert ran.code == exitcodes.FAILED
    lines = ran.out.strip().splitlines()
    assert lines[0].startswith(f"{big}: not moved: SendMessageBatch ")
    assert "Message must be shorter than 1024 bytes" in lines[0]
    assert lines[1] == (
        f"FAILED: Moved 2 message(s) from {shop.dlq} to {shop.prefix}-shop. 1 could not be "
        f"moved and stay in {shop.dlq}."
    )
    assert set(listed(reactive)) == {big}  # visible again, not lost
    assert sorted(m["Body"] for m in shop.drain(shop.url, 2)) == ["poison a", "poison b"]


def test_redrive_of_an_id_not_in_the_dlq_is_a_one_line_error(reactive, shop):
    (kept,) = shop.dead_letters("poison")

    ran = reactive("dlq", "redrive", "--client", "shop", "--id", "no-such-id", COLUMNS=WIDE)

    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        f"UsageError: message no-such-id is not in {shop.dlq}: `reactive dlq list --client "
        "shop` shows the messages there"
    ]
    assert set(listed(reactive)) == {kept}


@pytest.mark.parametrize("flags", [(), ("--all", "--id", "x")], ids=["neither", "both"])
def test_redrive_needs_exactly_one_of_id_and_all(reactive, shop, flags):
    ran = reactive("dlq", "redrive", "--client", "shop", *flags)
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == ["UsageError: give exactly one of --id MESSAGE_ID or --all"]


@pytest.fixture
def answering(reactive, moto_endpoint, tmp_path):
    """``answering(text, *args)``: run ``reactive ARGS`` with ``text`` on its stdin."""

    def run(text: str, *args: str) -> Ran:
        env = {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "REACTIVE_STATE_DIR": str(tmp_path / "state"),
            "REACTIVE_CONFIG": None,
            "REACTIVE_PREFIX": None,
        }
        with CliRunner().isolation(input=text, env=env) as (out, err, _):
            code = main(list(args))
            return Ran(code, out.getvalue().decode(), err.getvalue().decode())

    return run


def test_purge_asks_first_and_answering_no_keeps_everything(answering, shop):
    shop.dead_letters("poison a", "poison b")

    ran = answering("n\n", "dlq", "purge", "--client", "shop")

    assert ran.code == exitcodes.FAILED
    assert f"Delete the 2 message(s) in {shop.dlq} for good? [y/N]" in ran.out
    assert ran.out.strip().splitlines()[-1] == f"Not purged: {shop.dlq} keeps its 2 message(s)."
    assert shop.counts(shop.dlq_url) == (2, 0)


def test_purge_yes_empties_only_the_dlq(reactive, shop):
    shop.dead_letters("poison a", "poison b")
    shop.sqs.send_message(QueueUrl=shop.url, MessageBody="waiting for the listener")

    ran = reactive("dlq", "purge", "--client", "shop", "--yes")

    assert ran.code == 0, ran.err
    assert ran.out.strip() == f"Purged {shop.dlq}: it held 2 message(s)."
    until(lambda: shop.counts(shop.dlq_url) == (0, 0), what="the DLQ purged")
    assert shop.counts(shop.url) == (1, 0)


@pytest.mark.parametrize(
    "args",
    [("list",), ("redrive", "--all"), ("purge", "--yes")],
    ids=["list", "redrive", "purge"],
)
def test_a_client_never_provisioned_exits_5_with_one_line(reactive, shop, args):
    ran = reactive("dlq", *args, "--client", "blog", COLUMNS=WIDE)  # configured, not provisioned
    assert ran.code == exitcodes.NOT_PROVISIONED
    assert ran.err.splitlines() == [
        f"QueueNotFound: queue {shop.prefix}-blog-dlq does not exist: run `reactive provision`"
    ]


def test_a_client_unknown_to_the_config_names_the_known_ones(reactive, shop):
    ran = reactive("dlq", "list", "--client", "news")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "ConfigError: unknown client 'news' in reactive.toml: known clients: shop, blog"
    ]
