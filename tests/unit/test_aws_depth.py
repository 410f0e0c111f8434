"""A queue's depth is read from GetQueueAttributes' answer in one place
(reactive_users.core.aws)."""

from __future__ import annotations

import pytest

from reactive_users.core.aws.queues import DELAYED, IN_FLIGHT, VISIBLE, QueueDepth


def test_a_depth_is_its_visible_in_flight_and_delayed_messages():
    depth = QueueDepth.parse({VISIBLE: "3", IN_FLIGHT: "2", DELAYED: "1", "QueueArn": "arn"})
    assert (depth.visible, depth.in_flight, depth.delayed, depth.total) == (3, 2, 1, 6)


def test_an_attribute_the_answer_lacks_counts_zero():
    assert QueueDepth.parse({VISIBLE: "4"}) == QueueDepth(visible=4, in_flight=0, delayed=0)
    assert QueueDepth.parse({}).total == 0


def test_an_answer_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError):
        QueueDepth.parse({VISIBLE: "many"})
