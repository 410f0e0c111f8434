"""devstack's helpers for stopping the test pipeline's processes side by side."""

from __future__ import annotations

import threading

import pytest

from devstack.processes import concurrently


def test_concurrently_runs_every_call_at_the_same_time_and_waits_for_all():
    # Given three calls that each wait until all three have started (sequential calls could not)
    meeting = threading.Barrier(3, timeout=30)
    done: list[int] = []

    def call(n: int) -> None:
        meeting.wait()
        done.append(n)

    # When they run concurrently, Then all three met and finished before it returned
    concurrently([lambda n=n: call(n) for n in range(3)])
    assert sorted(done) == [0, 1, 2]


def test_concurrently_raises_a_calls_error_after_the_others_finished():
    finished = threading.Event()

    def fails() -> None:
        raise ValueError("this process would not stop")

    def slow() -> None:
        finished.wait(0.2)
        finished.set()

    with pytest.raises(ValueError, match="would not stop"):
        concurrently([fails, slow])
    assert finished.is_set()
