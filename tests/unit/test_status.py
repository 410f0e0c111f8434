"""The status model is built from raw readings; a part that cannot be read says why."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from reactive_cli.commands.status import PACKED_NOTE, render
from reactive_cli.status import (
    NOT_OURS,
    OLDEST_AGE_NOTE,
    AliveListeners,
    ReplicaCounts,
    build_status,
    outbox_reading,
    problems,
)
from reactive_cli.supervisor import Process
from reactive_users.core.aws.queues import QueueDepth
from reactive_users.core.metrics import OutboxReading

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SHOP = [
    Process(
        group="shop-listener", name="shop-listener-00", state="RUNNING", pid=7, start=10, now=70
    ),
    Process(group="shop-listener", name="shop-listener-01", state="STOPPED", pid=0),
    Process(group="shop-web", name="shop-web", state="RUNNING", pid=8),
]
DEPTHS = QueueDepth(visible=3, in_flight=1)
DLQ = QueueDepth(visible=2, in_flight=0)


def test_each_client_shows_its_listeners_queue_depths_and_dead_letters():
    found = build_status(
        clients=["shop"],
        processes=SHOP,
        queues={"shop": DEPTHS},
        dead_letter_queues={"shop": DLQ},
        outbox=OutboxReading(backlog=4, oldest_age_seconds=90.04, waiting_retry=1),
        now=NOW,
    )
    shop = found.as_json()["clients"][0]
    assert shop["listeners"] == [
        {"name": "shop-listener-00", "state": "RUNNING", "pid": 7, "uptime_seconds": 60},
        {"name": "shop-listener-01", "state": "STOPPED", "pid": None, "uptime_seconds": None},
    ]
    assert (shop["visible"], shop["in_flight"], shop["dead_letters"]) == (3, 1, 2)
    assert (shop["oldest_message_age_seconds"], shop["oldest_message_age_note"]) == (
        None,
        OLDEST_AGE_NOTE,
    )
    assert found.as_json()["outbox"] == {
        "backlog": 4,
        "oldest_pending_age_seconds": 90.0,
        "error": "",
        "waiting_retry": 1,
        "rows": None,
        "oldest_sent_age_seconds": None,
        "retention_seconds": None,
        "publish_batch": None,
    }


def test_unreadable_parts_show_their_reason_instead_of_numbers():
    found = build_status(
        clients=["shop"],
        processes="supervisord is not running",
        queues={"shop": "QueueNotFound: run `reactive provision`"},
        dead_letter_queues={"shop": DLQ},
        outbox="unknown: OperationalError: no such table",
        now=NOW,
    )
    shop = found.clients[0]
    assert (shop.listeners, shop.listeners_error) == ([], "supervisord is not running")
    assert (shop.visible, shop.dead_letters) == (None, 2)
    assert shop.queue_error == "queue: QueueNotFound: run `reactive provision`"
    assert found.outbox.backlog is None
    assert found.outbox.error == "unknown: OperationalError: no such table"


def test_an_empty_outbox_has_no_oldest_event():
    empty = OutboxReading(backlog=0, oldest_age_seconds=0.0)
    found = build_status(
        clients=[], processes=[], queues={}, dead_letter_queues={}, outbox=empty, now=NOW
    )
    assert (found.outbox.backlog, found.outbox.oldest_pending_age_seconds) == (0, None)


def test_the_outbox_shows_its_size_and_oldest_sent_row_in_json_and_text():
    reading = OutboxReading(
        backlog=0,
        oldest_age_seconds=0.0,
        rows=1234,
        oldest_sent_age_seconds=2.04 * 86400,
        retention_seconds=7 * 86400,
    )
    found = build_status(
        clients=[], processes=[], queues={}, dead_letter_queues={}, outbox=reading, now=NOW
    )

    outbox = found.as_json()["outbox"]
    assert (outbox["rows"], outbox["oldest_sent_age_seconds"], outbox["retention_seconds"]) == (
        1234,
        176256.0,
        604800,
    )
    console = Console(record=True, width=200)
    console.print(render(found))
    text = console.export_text()
    assert "master outbox: 0 pending\n" in text
    assert "master outbox: 1234 row(s), oldest sent 2 d old (sent rows kept 7 d)" in text


def test_a_packing_master_says_the_queues_count_messages_and_the_outbox_events():
    answer = {"backlog": 5, "oldest_age_seconds": 1.0, "waiting_retry": 0, "rows": 9}
    answer |= {"oldest_sent_age_seconds": None, "retention_seconds": 60.0}

    def shown(reading) -> str:
        found = build_status(
            clients=[], processes=[], queues={}, dead_letter_queues={}, outbox=reading, now=NOW
        )
        console = Console(record=True, width=400)
        console.print(render(found))
        return console.export_text()

    # A master that packs says so, and status says what each count is counted in
    packing = outbox_reading(answer | {"publish_batch": True})
    assert not isinstance(packing, str) and packing.publish_batch is True
    assert PACKED_NOTE in shown(packing)
    # One that does not, or an earlier release that does not say (still read), shows no note
    for reading in (outbox_reading(answer | {"publish_batch": False}), outbox_reading(answer)):
        assert not isinstance(reading, str) and reading.backlog == 5
        assert PACKED_NOTE not in shown(reading)


def test_a_client_holding_cut_values_says_how_many_users_per_field():
    counts = ReplicaCounts(replicas=10, truncated_users=3, truncated_fields={"first_name": 3})
    found = build_status(
        clients=["shop", "blog"],
        processes=[],
        queues={},
        dead_letter_queues={},
        outbox="unknown: x",
        now=NOW,
        replicas={"shop": counts, "blog": "unknown: no such table"},
    )

    shop, blog = found.as_json()["clients"]
    assert (shop["truncated_users"], shop["truncated_fields"], shop["replicas_error"]) == (
        3,
        {"first_name": 3},
        "",
    )
    assert (blog["truncated_users"], blog["replicas_error"]) == (None, "unknown: no such table")
    console = Console(record=True, width=200)
    console.print(render(found))
    text = console.export_text()
    assert (
        "shop: 3 user(s) hold values cut to the client's limits (first_name 3): "
        "`reactive diff --client shop` lists them"
    ) in text
    assert "| 10 " in text.replace("│", "|")  # shop's live replicas
    assert "blog: replicas not read: unknown: no such table" in problems(found)


def test_listeners_no_supervisord_of_ours_runs_are_one_plain_line_each_not_a_problem():
    # Given the operator's own process manager runs the listeners (no readings of ours)
    found = build_status(
        clients=["shop", "blog"],
        processes=None,
        queues={"shop": DEPTHS, "blog": DEPTHS},
        dead_letter_queues={"shop": DLQ, "blog": DLQ},
        outbox=OutboxReading(backlog=0, oldest_age_seconds=0.0),
        now=NOW,
        replicas={"shop": ReplicaCounts(replicas=4, truncated_users=0)},
    )

    # Then each client says who runs them, nothing is a problem, and no listener column shows
    shop = found.as_json()["clients"][0]
    assert (shop["listeners"], shop["listeners_error"], shop["listeners_note"]) == (
        [],
        "",
        NOT_OURS,
    )
    assert problems(found) == ["blog: replicas not read: not read"]
    console = Console(record=True, width=200)
    console.print(render(found))
    text = console.export_text()
    assert f"shop: listeners {NOT_OURS}\n" in text and f"blog: listeners {NOT_OURS}\n" in text
    assert "listener" not in text.splitlines()[1] and "replicas" in text.splitlines()[1]


def test_listeners_alive_by_their_keys_in_redis_show_beside_who_runs_them():
    found = build_status(
        clients=["shop", "blog", "news"],
        processes=None,
        queues={},
        dead_letter_queues={},
        outbox="unknown: x",
        now=NOW,
        alive={
            "shop": AliveListeners(identities=("h:2", "h:1"), last_seen_seconds=3.14),
            "blog": AliveListeners(identities=()),
            "news": "Redis at redis://r:6379/0: ConnectionError: refused (REDIS_URL)",
        },
    )

    shop = found.as_json()["clients"][0]
    assert (shop["alive"], shop["alive_last_seen_seconds"]) == (["h:1", "h:2"], 3.1)
    assert "news: listeners' liveness not read: Redis at redis://r:6379/0: " in "\n".join(
        problems(found)
    )
    console = Console(record=True, width=200)
    console.print(render(found))
    text = console.export_text()
    assert f"shop: listeners {NOT_OURS}: 2 alive, last seen 3.1 s ago\n" in text
    assert f"blog: listeners {NOT_OURS}: none seen alive in the last 60 s\n" in text
    assert f"news: listeners {NOT_OURS}: alive ones not read\n" in text
