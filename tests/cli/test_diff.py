"""What ``reactive diff`` prints for a report (reactive_cli/commands/diff.py): totals line."""

from __future__ import annotations

from reactive_cli.commands.diff import totals_line
from reactive_cli.diffing import Record, compare


def live(master_id: int) -> Record:
    return Record(master_id=master_id, version=1, fields={"username": f"u{master_id}"})


def staff(master_id: int) -> Record:
    return Record(master_id=master_id, version=2, excluded=True, fields={})


def withdrawn(master_id: int) -> Record:
    return Record(master_id=master_id, version=2, withdrawn=True, fields={})


def test_a_staff_user_the_client_holds_live_is_counted_extra_not_skipped():
    report = compare([live(1), staff(2)], [live(1), live(2)])

    assert totals_line("shop", report) == "shop: 1 differ: 0 missing, 1 extra, 0 stale; 1 equal."


def test_withdrawn_staff_users_count_as_equal_and_are_named_in_the_totals():
    report = compare([live(1), staff(2), staff(3)], [live(1), withdrawn(2)])

    assert totals_line("shop", report) == (
        "shop: no differences: 3 equal (2 of them withdrawn: staff or superusers in the master)."
    )
