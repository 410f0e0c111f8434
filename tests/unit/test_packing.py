"""Packing outbox rows into multi-event messages (reactive_users/master/relay/packing.py)."""

from __future__ import annotations

import pytest

from reactive_users.master.relay.packing import MESSAGE_OVERHEAD_BYTES, Item, pack, part_size


def items(*rows: tuple[int, str], size: int = 10) -> list[Item]:
    return [Item(user_id=u, key=k, size=size) for u, k in rows]


def test_events_of_one_key_share_a_message_in_row_order():
    assert pack(items((1, "u"), (2, "u"), (3, "u")), budget=1000) == [[0, 1, 2]]


def test_events_whose_attributes_differ_never_share_a_message():
    got = pack(items((1, "created"), (2, "updated"), (3, "created")), budget=1000)
    assert sorted(got) == [[0, 2], [1]]


def test_a_users_events_never_interleave_across_messages():
    # user 1: created, updated, updated; user 2: updated. User 1's updates may share a
    # message with user 2's, but only after the message holding user 1's create is closed.
    got = pack(
        items((2, "updated"), (1, "created"), (1, "updated"), (3, "created"), (1, "created")),
        budget=1000,
    )
    assert got == [[1], [0, 2], [3, 4]]
    order = [i for message in got for i in message if i in (1, 2, 4)]
    assert order == [1, 2, 4]  # user 1's events in row (version) order


def test_a_message_stays_within_the_budget_and_the_event_count():
    budget = MESSAGE_OVERHEAD_BYTES + 25
    assert pack(items(*[(i, "u") for i in range(5)]), budget=budget) == [[0, 1], [2, 3], [4]]
    assert pack(items(*[(i, "u") for i in range(5)]), budget=10**6, max_events=3) == [
        [0, 1, 2],
        [3, 4],
    ]


def test_an_event_larger_than_the_budget_goes_alone():
    got = pack([Item(1, "u", 10), Item(2, "u", 10**6), Item(3, "u", 10)], budget=1000)
    assert got == [[0], [1], [2]]


def test_fifo_keys_keep_one_group_per_message():
    rows = [(u, ("updated", u)) for u in (1, 2, 1, 2)]
    got = pack([Item(u, k, 10) for u, k in rows], budget=1000)
    assert got == [[0, 2], [1, 3]]


@pytest.mark.parametrize("body", ['{"a":"é"}', '{"a":"\\"q\\""}'])
def test_part_size_is_what_the_event_takes_in_the_message(body):
    from reactive_users.core.contract import Action, Part, encode_multi

    one = len(encode_multi(Action.UPDATED, [Part(body, "s")]).encode())
    two = len(encode_multi(Action.UPDATED, [Part(body, "s")] * 2).encode())
    assert two - one == part_size(body, "s")
    assert one <= MESSAGE_OVERHEAD_BYTES + part_size(body, "s")
