"""The listener's heartbeat (reactive_users/client/listener/heartbeat.py), with a recording
extend call: a held batch is extended every third of the visibility timeout, and never after it is
dropped. The SQS side is tested on moto in tests/client/test_listener.py."""

from __future__ import annotations

import threading

from devstack.processes import until
from reactive_users.client.listener.heartbeat import Heartbeat, heartbeat_interval


class Recorder:
    """An extend call that records what it was asked, and can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int]] = []
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, messages, seconds: int) -> None:
        with self.lock:
            self.calls.append(([m["ReceiptHandle"] for m in messages], seconds))
        if self.fail:
            raise ConnectionError("SQS away")


def message(handle: str) -> dict[str, str]:
    return {"ReceiptHandle": handle, "MessageId": handle}


def test_the_interval_leaves_room_for_two_late_extensions():
    assert heartbeat_interval(10) == 10 / 3
    assert heartbeat_interval(2) < 1


def test_a_held_batch_is_extended_to_the_full_timeout_until_it_is_dropped():
    extend = Recorder()
    beat = Heartbeat(extend, visibility_seconds=2)
    try:
        beat.hold([message("a"), message("b")])
        until(lambda: len(extend.calls) >= 2, what="two extensions")
        beat.drop([message("a")])
        seen = len(extend.calls)
        until(lambda: len(extend.calls) >= seen + 2, what="two more")
        beat.clear()
        after = len(extend.calls)
        beat.hold([message("c")])  # a new batch: extended after an interval of its own
        until(lambda: len(extend.calls) > after, what="the new batch extended")
    finally:
        beat.close()
    assert extend.calls[0] == (["a", "b"], 2)
    assert all(handles == ["b"] for handles, _ in extend.calls[seen:after])
    assert extend.calls[after:] and all(h == ["c"] for h, _ in extend.calls[after:])


def test_a_failed_extension_is_logged_and_the_next_one_still_comes(caplog):
    extend = Recorder()
    extend.fail = True
    beat = Heartbeat(extend, visibility_seconds=2)
    try:
        beat.hold([message("a")])
        until(lambda: len(extend.calls) >= 2, what="a second attempt after a failure")
    finally:
        beat.close()
    assert "could not extend the visibility of 1 held message(s): ConnectionError" in caplog.text


def test_nothing_is_extended_when_nothing_is_held():
    extend = Recorder()
    beat = Heartbeat(extend, visibility_seconds=2)
    beat.hold([message("a")])
    beat.clear()
    beat.close()
    assert extend.calls == []
