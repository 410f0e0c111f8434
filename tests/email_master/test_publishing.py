"""The master app in a project of its own: ``accounts.User`` logs in by email, has a ``name``,
a boolean and a choices field of its own, and no username or staff flags. Each change
records the allow-listed fields by their names; the relay publishes them to moto's SNS and
the client's SQS queue receives an envelope the contract decodes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from django.contrib.auth import get_user_model

from reactive_users.core.contract import DEFAULT_USER_FIELDS, Action, decode, decode_sqs_body
from reactive_users.master import fields
from reactive_users.master.models import OutboxEvent, UserVersion
from reactive_users.master.relay.publish import outbox_publish_pending
from reactive_users.master.snapshots import reads

pytestmark = pytest.mark.django_db

PUBLISHED = ("email", "name", "is_active", "newsletter", "plan")


def events() -> list[dict]:
    return [json.loads(row.body) for row in OutboxEvent.objects.order_by("id")]


def make(email: str = "ana@example.com", **extra):
    return get_user_model().objects.create_user(email, "pw", name="Ana", **extra)


def test_a_new_user_travels_with_exactly_the_allow_listed_fields_by_their_names() -> None:
    user = make(plan="pro")

    [event] = events()
    assert event["action"] == "created"
    assert event["user_id"] == user.pk
    assert event["user"] == {
        "email": "ana@example.com",
        "name": "Ana",
        "is_active": True,
        "newsletter": False,
        "plan": "pro",
    }
    assert event["changed"] == sorted(PUBLISHED)
    assert decode(OutboxEvent.objects.get().body).username == ""  # no username field here


def test_rename_email_change_deactivation_and_delete_each_record_what_changed() -> None:
    user = make()
    user.name = "Ana Lima"
    user.save()
    user.email = "ana.lima@example.com"  # the login identity
    user.save()
    user.is_active = False
    user.save()
    user.last_login = user.joined_at  # not published: records nothing
    user.save()
    user_id = user.pk
    user.delete()

    found = events()
    assert [(e["action"], e["changed"], e["version"]) for e in found] == [
        ("created", sorted(PUBLISHED), 1),
        ("updated", ["name"], 2),
        ("updated", ["email"], 3),
        ("updated", ["is_active"], 4),
        ("deleted", [], 5),
    ]
    assert found[2]["user"]["email"] == "ana.lima@example.com"
    assert all(set(e["user"]) == set(PUBLISHED) for e in found)
    assert UserVersion.objects.get(user_id=user_id).version == 5


def test_the_project_rule_withdraws_a_user_and_lets_them_back() -> None:
    user = make()
    user.email = "ana@internal.example"
    user.save()
    user.email = "ana@example.com"
    user.save()

    assert [(e["action"], e["user"] != {}) for e in events()] == [
        ("created", True),
        ("withdrawn", False),
        ("updated", True),
    ]


def test_without_a_rule_or_staff_flags_nobody_is_excluded(settings) -> None:
    settings.REACTIVE_EXCLUDE_USER = None
    make(email="bo@internal.example").delete()

    assert [(e["action"], bool(e["user"])) for e in events()] == [
        ("created", True),
        ("deleted", True),
    ]


def test_unset_fields_default_to_the_login_email_and_is_active(settings) -> None:
    settings.REACTIVE = replace(settings.REACTIVE, user_fields=DEFAULT_USER_FIELDS)

    assert fields.published_fields() == ("email", "is_active")
    make()
    assert events()[0]["user"] == {"email": "ana@example.com", "is_active": True}


def test_snapshot_reads_carry_the_published_fields_by_master_id() -> None:
    ana = make()
    make(email="cy@internal.example")

    states = list(reads.states_dump())

    assert [(s.master_id, s.excluded) for s in states] == [(ana.pk, False), (ana.pk + 1, True)]
    assert states[0].fields["email"] == "ana@example.com"
    assert set(states[0].fields) == set(PUBLISHED)
    assert reads.users_selected(username_regex="^ana@").get() == ana


def test_a_relay_run_publishes_to_sns_and_the_queue_receives_a_valid_envelope(topic) -> None:
    user = make()
    user.name = "Ana Lima"
    user.save()

    assert outbox_publish_pending().published == 2

    received = [decode_sqs_body(m["Body"]) for m in topic.queue.receive(2)]
    by_version = sorted(received, key=lambda e: e.version)
    assert [e.action for e in by_version] == [Action.CREATED, Action.UPDATED]
    assert by_version[1].user["name"] == "Ana Lima"
    assert set(by_version[1].user) == set(PUBLISHED)
    assert by_version[1].user_id == user.pk


def test_user_version_finds_the_user_by_email_and_names_the_login_field() -> None:
    # What `reactive emit-test ana@example.com` reads: its events then carry "email", as
    # this master's own events do, not a "username" this model does not have.
    from io import StringIO

    from django.core.management import call_command

    user = make()
    out = StringIO()
    call_command("user_version", "ana@example.com", stdout=out)
    found = json.loads(out.getvalue())
    assert found["user_id"] == user.pk and found["version"] == 1
    assert found["login_field"] == "email"
