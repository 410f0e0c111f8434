"""Comparing master users with a client's replicas (reactive_cli/diffing.py): pure."""

from __future__ import annotations

import json

import pytest

from reactive_cli.diffing import Record, Status, compare, parse_record, parse_records
from reactive_users.core.errors import ContractError


def fields(**changes):
    base = {
        "username": "ana",
        "email": "ana@example.com",
        "first_name": "Ana",
        "last_name": "Silva",
        "is_active": True,
    }
    return {**base, **changes}


def live(master_id=1, version=3, **changes):
    return Record(master_id=master_id, version=version, fields=fields(**changes))


def tombstone(master_id=1, version=4):
    return Record(master_id=master_id, version=version, tombstone=True, fields={})


def staff(master_id=1, version=4):
    """A master user outside the published set (dumped without fields)."""
    return Record(master_id=master_id, version=version, excluded=True, fields={})


def withdrawn(master_id=1, version=4):
    """A client's marker of a user withdrawn from it (no local user)."""
    return Record(master_id=master_id, version=version, withdrawn=True, fields={})


def one(master, client):
    report = compare([m for m in [master] if m], [c for c in [client] if c])
    assert len(report.entries) == 1
    return report.entries[0]


def test_the_same_user_at_the_same_version_is_equal():
    entry = one(live(), live())
    assert entry.status is Status.EQUAL
    assert not entry.status.differs


def test_a_user_the_client_never_got_is_missing():
    entry = one(live(), None)
    assert (entry.status, entry.master_version, entry.client_version) == (Status.MISSING, 3, None)
    assert entry.repairable


def test_a_local_user_deleted_by_hand_is_missing():
    gone = Record(master_id=1, version=3, fields=None)
    entry = one(live(), gone)
    assert (entry.status, entry.reason) == (Status.MISSING, "local user deleted")


def test_other_values_at_the_same_version_are_stale_naming_the_fields():
    entry = one(live(first_name="Bulk", email="b@example.com"), live())
    assert entry.status is Status.STALE
    assert entry.fields == ("email", "first_name")
    assert entry.reason == "email, first_name differ"


def test_an_older_version_with_the_same_values_is_stale():
    entry = one(live(version=5), live(version=4))
    assert (entry.status, entry.fields) == (Status.STALE, ())
    assert entry.reason == "version 4 on the client, 5 in the master"


def test_a_user_deleted_in_the_master_but_live_on_the_client_is_extra():
    entry = one(tombstone(), live())
    assert (entry.status, entry.repairable) == (Status.EXTRA, True)
    entry = one(tombstone(), Record(master_id=1, version=3, fields=None))
    assert entry.status is Status.EXTRA


def test_a_tombstone_held_or_never_seen_by_the_client_is_equal():
    assert one(tombstone(), tombstone()).status is Status.EQUAL
    assert one(tombstone(), None).status is Status.EQUAL


def test_a_client_user_the_master_has_no_record_of_is_extra_and_not_repairable():
    entry = one(None, live(master_id=9))
    assert (entry.status, entry.repairable) == (Status.EXTRA, False)


def test_a_user_the_master_excludes_but_the_client_holds_live_is_extra_and_repairable():
    for client in (live(version=3), live(version=4), Record(master_id=1, version=3, fields=None)):
        entry = one(staff(), client)
        assert (entry.status, entry.repairable, entry.excluded) == (Status.EXTRA, True, True)
        assert entry.reason == "staff or superuser in the master: must be withdrawn"


def test_a_user_the_master_excludes_and_the_client_does_not_hold_is_equal():
    for client, held in [
        (withdrawn(), "withdrawn on the client"),
        (withdrawn(version=2), "withdrawn on the client"),
        (tombstone(), "tombstoned on the client"),
        (None, "not on the client"),
    ]:
        entry = one(staff(), client)
        assert (entry.status, entry.reason) == (
            Status.EQUAL,
            f"staff or superuser in the master: {held}",
        )


def test_a_withdrawn_replica_of_a_visible_master_user_is_missing_and_repairable():
    entry = one(live(version=5), withdrawn(version=4))
    assert (entry.status, entry.reason, entry.repairable) == (
        Status.MISSING,
        "withdrawn on the client",
        True,
    )
    # the same version too (demoted by QuerySet.update(), no event): a snapshot repairs it
    assert one(live(version=4), withdrawn(version=4)).status is Status.MISSING


def test_a_withdrawn_replica_of_a_deleted_user_is_stale_until_the_delete_makes_it_final():
    entry = one(tombstone(version=5), withdrawn(version=4))
    assert (entry.status, entry.repairable) == (Status.STALE, True)
    assert entry.reason == "deleted in the master, withdrawn on the client"


def test_a_withdrawn_replica_the_master_has_no_record_of_is_equal():
    assert one(None, withdrawn()).status is Status.EQUAL


def test_only_fields_both_sides_carry_are_compared():
    master = Record(master_id=1, version=3, fields={"username": "ana", "nickname": "A"})
    client = Record(master_id=1, version=3, fields={"username": "ana"})
    assert one(master, client).status is Status.EQUAL


def test_a_master_user_without_a_version_on_the_client_is_stale():
    entry = one(Record(master_id=1, version=None, fields=fields()), live(version=1))
    assert entry.status is Status.STALE


def test_a_report_totals_every_status_and_lists_what_to_repair_in_id_order():
    master = [live(1), live(2, first_name="New"), tombstone(3), live(4), live(6)]
    client = [live(1), live(2), live(3), live(5), Record(master_id=6, version=3, fields=None)]
    report = compare(master, client)

    assert [(e.master_id, e.status) for e in report.entries] == [
        (1, Status.EQUAL),
        (2, Status.STALE),
        (3, Status.EXTRA),
        (4, Status.MISSING),
        (5, Status.EXTRA),
        (6, Status.MISSING),
    ]
    assert report.totals == {
        "missing": 2,
        "extra": 2,
        "stale": 1,
        "equal": 1,
        "truncated": 0,
        "ahead": 0,
    }
    assert report.differs
    assert report.repair_ids() == [2, 3, 4, 6]
    assert [e.master_id for e in report.unrepairable()] == [5]


def test_an_empty_or_identical_pair_does_not_differ():
    assert not compare([], []).differs
    same = [live(1), live(2), tombstone(3)]
    report = compare(same, same)
    assert not report.differs
    assert report.as_json() == {
        "equal": True,
        "totals": {"missing": 0, "extra": 0, "stale": 0, "equal": 3, "truncated": 0, "ahead": 0},
        "users": [],
    }
    assert len(report.as_json(every_user=True)["users"]) == 3


def test_dump_lines_of_both_sides_parse():
    master_line = json.dumps(
        {"master_id": 7, "version": None, "tombstone": False, "excluded": False, "fields": {}}
    )
    client_line = json.dumps({"master_id": 7, "version": 2, "tombstone": False, "fields": None})
    assert parse_record(master_line) == Record(master_id=7, version=None, fields={})
    assert parse_record(client_line) == Record(master_id=7, version=2, fields=None)
    assert len(parse_records(f"{master_line}\n\n{client_line}\n")) == 2


def test_dump_lines_of_an_excluded_user_and_a_withdrawn_replica_parse():
    master_line = (
        '{"master_id": 7, "version": 3, "tombstone": false, "excluded": true, "fields": {}}'
    )
    client_line = (
        '{"master_id": 7, "version": 3, "tombstone": false, "withdrawn": true, "fields": {}}'
    )
    assert parse_record(master_line) == staff(7, 3)
    assert parse_record(client_line) == withdrawn(7, 3)
    assert compare([staff(7, 3)], [withdrawn(7, 3)]).withdrawn == 1


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1]",
        '{"version": 1}',
        '{"master_id": 0, "version": 1}',
        '{"master_id": true, "version": 1}',
        '{"master_id": 1, "version": "1"}',
        '{"master_id": 1, "version": 1, "fields": [1]}',
    ],
)
def test_a_bad_dump_line_is_a_contract_error(line):
    with pytest.raises(ContractError):
        parse_record(line)


def cut(master_id=1, version=3, limits=None, **changes):
    """A client replica that says it stored ``limits``' fields cut."""
    return Record(
        master_id=master_id, version=version, fields=fields(**changes), truncated=limits or {}
    )


def test_a_value_the_client_stored_cut_to_its_limit_is_truncated_not_stale():
    master = live(first_name="Maximilianus")
    entry = one(master, cut(first_name="Maximilia", limits={"first_name": 9}))

    assert entry.status is Status.TRUNCATED
    assert entry.fields == ("first_name",)
    assert entry.reason.startswith("first_name stored cut to 9 characters")
    assert not entry.repairable and not entry.status.differs
    report = compare([master], [cut(first_name="Maximilia", limits={"first_name": 9})])
    assert not report.differs and report.repair_ids() == []
    assert [e.status for e in report.listed] == [Status.TRUNCATED]
    assert report.as_json()["totals"]["truncated"] == 1


def test_a_cut_value_beside_another_difference_or_another_version_is_stale():
    master = live(first_name="Maximilianus")
    other_too = cut(first_name="Maximilia", last_name="Smith", limits={"first_name": 9})
    assert one(master, other_too).status is Status.STALE
    older = cut(version=2, first_name="Maximilia", limits={"first_name": 9})
    assert one(master, older).status is Status.STALE
    not_the_cut_value = cut(first_name="Maxi", limits={"first_name": 9})
    assert one(master, not_the_cut_value).status is Status.STALE
    not_marked = cut(first_name="Maximilia")
    assert one(master, not_marked).status is Status.STALE


def test_a_dump_line_carries_what_the_client_cut():
    line = json.dumps(
        {
            "master_id": 1,
            "version": 2,
            "tombstone": False,
            "fields": {},
            "truncated": {"first_name": 30},
        }
    )
    assert parse_record(line).truncated == {"first_name": 30}
    with pytest.raises(ContractError, match="bad truncated"):
        parse_record(line.replace("30", '"x"'))


# --- A client ahead of the master, and a tombstone the master never made ----------------------

FORGED = "d1b8e2a4-3c5f-4e6a-8b7c-9d0e1f2a3b4c"


@pytest.mark.parametrize(
    "client",
    [
        Record(master_id=1, version=2**63 - 1, fields=fields(first_name="Frozen"), event_id=FORGED),
        Record(master_id=1, version=9, fields=fields(), event_id=FORGED),  # fields equal
        Record(master_id=1, version=9, tombstone=True, fields={}, event_id=FORGED),
        Record(master_id=1, version=9, withdrawn=True, fields={}, event_id=FORGED),
        Record(master_id=1, version=9, fields=None, event_id=FORGED),  # local user gone
    ],
)
def test_a_client_version_above_a_live_master_user_is_ahead_and_repaired_by_a_reset(client):
    report = compare([live(version=3)], [client])
    (entry,) = report.entries
    assert (entry.status, entry.repairable, entry.reset) == (Status.AHEAD, True, True)
    assert (entry.client_version, entry.client_event_id) == (client.version, FORGED)
    assert "above the master's 3" in entry.reason
    assert report.differs and report.repair_ids() == [] and report.resets() == [entry]
    assert report.totals["ahead"] == 1 and entry.as_json()["status"] == "ahead"


@pytest.mark.parametrize("master", [tombstone(version=4), staff(version=4)])
def test_a_live_client_ahead_of_a_master_delete_or_exclusion_is_ahead(master):
    client = Record(master_id=1, version=9, fields=fields(), event_id=FORGED)
    entry = one(master, client)
    assert (entry.status, entry.reset) == (Status.AHEAD, True)


@pytest.mark.parametrize("client", [tombstone(version=9), withdrawn(version=9)])
def test_no_user_on_either_side_is_equal_whatever_the_client_version(client):
    assert one(staff(version=4), client).status is Status.EQUAL
    if client.tombstone:
        assert one(tombstone(version=4), client).status is Status.EQUAL


def test_a_tombstone_on_the_client_of_a_live_master_user_is_stale_and_repaired_by_a_reset():
    client = Record(master_id=1, version=2, tombstone=True, fields={}, event_id=FORGED)
    report = compare([live(version=3)], [client])
    (entry,) = report.entries
    assert (entry.status, entry.repairable, entry.reset) == (Status.STALE, True, True)
    assert entry.client_event_id == FORGED and "a reset repairs it" in entry.reason
    assert report.resets() == [entry] and report.repair_ids() == []


def test_a_dump_line_carries_the_client_event_id():
    line = json.dumps({"master_id": 1, "version": 2, "fields": {}, "event_id": FORGED})
    assert parse_record(line).event_id == FORGED
    with pytest.raises(ContractError, match="bad event_id"):
        parse_record(json.dumps({"master_id": 1, "version": 2, "event_id": 5}))
