"""What leaves the master, checked on messages exactly as they arrive in SQS."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from devstack import master_ops
from devstack.processes import until
from devstack.stack import Stack
from reactive_users.core.contract import (
    DEFAULT_USER_FIELDS,
    SCHEMA_VERSION,
    Envelope,
    decode_sqs_body,
)
from tests.e2e.conftest import unique

#: Substrings that must never appear in a message body.
FORBIDDEN = (
    "pbkdf2",
    "master-secret-password",
    "last_login",
    "is_superuser",
    "is_staff",
    "groups",
    "user_permissions",
    "date_joined",
    "password",
)


class Spy:
    """Reads everything the master published from a subscribed queue nobody else reads."""

    def __init__(self, stack: Stack) -> None:
        self.sqs = boto3.client("sqs", endpoint_url=stack.settings.aws_endpoint_url)
        self.url = stack.provisioned.queue_urls["spy"]
        self.bodies: list[str] = []
        #: The SQS message attributes of each body, in the same order.
        self.attributes: list[dict[str, Any]] = []

    def drain(self) -> list[str]:
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return self.bodies
            self.bodies += [m["Body"] for m in got]
            self.attributes += [m.get("MessageAttributes", {}) for m in got]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def for_user(self, user_id: int) -> list[dict]:
        """The user's events received so far, in version order (SQS does not keep order)."""
        events = [json.loads(b) for b in self.drain()]
        mine = [e for e in events if e.get("user_id") == user_id]
        return sorted(mine, key=lambda e: e["version"])

    def raw_for(self, user_id: int) -> list[tuple[str, dict[str, Any]]]:
        """The user's (body exactly as received, message attributes), in version order."""
        self.drain()
        mine = [
            (body, json.loads(body), attrs)
            for body, attrs in zip(self.bodies, self.attributes, strict=True)
            if json.loads(body).get("user_id") == user_id
        ]
        mine.sort(key=lambda m: m[1]["version"])
        return [(body, attrs) for body, _event, attrs in mine]


@pytest.fixture(scope="module")
def spy(stack: Stack) -> Spy:
    return Spy(stack)


def test_messages_in_sqs_carry_only_allow_listed_fields(stack: Stack, spy: Spy):
    from django.contrib.auth.models import Group, Permission
    from django.utils import timezone

    # Given a user with every field set: password, groups, permissions, last_login
    uid = master_ops.create_user(unique("full"), first_name="F", last_name="L", email="f@x.io")
    from django.contrib.auth.models import User

    user = User.objects.get(pk=uid)
    user.groups.add(Group.objects.get_or_create(name="editors")[0])
    user.user_permissions.add(Permission.objects.first())
    master_ops.update_user(uid, last_login=timezone.now(), first_name="F2")
    master_ops.delete_user(uid)

    bodies = until(lambda: len(spy.for_user(uid)) >= 3 and spy.for_user(uid), timeout=20)
    assert [b["action"] for b in bodies] == ["created", "updated", "deleted"]
    for raw in (json.dumps(b) for b in bodies):
        assert not [word for word in FORBIDDEN if word in raw], raw
        event = decode_sqs_body(raw)
        assert tuple(event.user) == DEFAULT_USER_FIELDS


def test_noise_publishes_nothing_and_staff_only_their_delete_with_no_field(stack: Stack, spy: Spy):
    from django.utils import timezone

    # Given a regular user, a staff user and a superuser
    uid = master_ops.create_user(unique("quiet"))
    staff = master_ops.create_user(unique("staff"), is_staff=True)
    root = master_ops.create_user(unique("root"), is_superuser=True)
    # When only last_login and the password change, and the staff users change and go
    master_ops.update_user(uid, last_login=timezone.now())
    master_ops.update_user(uid, password="pbkdf2_sha256$fake$other")
    for excluded in (staff, root):
        master_ops.update_user(excluded, first_name="Changed")
        master_ops.delete_user(excluded)
    marker = master_ops.create_user(unique("marker"))
    # Then, once the marker (saved last) has arrived, nothing else did but the staff users'
    # deletes (a client may hold a user promoted without signals), with nothing of theirs
    until(lambda: spy.for_user(marker), timeout=20)
    assert [b["action"] for b in spy.for_user(uid)] == ["created"]
    for excluded in (staff, root):
        assert [(b["action"], b["user"], b["changed"]) for b in spy.for_user(excluded)] == [
            ("deleted", {}, [])
        ]


def test_a_user_who_becomes_staff_is_withdrawn_with_nothing_of_theirs_on_the_wire(
    stack: Stack, spy: Spy
):
    # Given a published user, then promoted, changed while staff, and deleted
    name = unique("wire-promoted")
    uid = master_ops.create_user(name, first_name="Visible")
    master_ops.update_user(uid, is_superuser=True)
    master_ops.update_user(uid, first_name="Secret", email="secret@example.com")
    master_ops.delete_user(uid)

    # Then the wire carries the create, then a withdrawal and a delete with no field at all
    until(lambda: len(spy.for_user(uid)) >= 3, timeout=20)
    received = spy.raw_for(uid)
    events = [json.loads(body) for body, _ in received]
    assert [(e["action"], e["version"]) for e in events] == [
        ("created", 1),
        ("withdrawn", 2),
        ("deleted", 3),
    ]
    assert [(e["user"], e["changed"]) for e in events[1:]] == [({}, []), ({}, [])]
    assert [attrs["action"]["StringValue"] for _, attrs in received] == [
        "created",
        "withdrawn",
        "deleted",
    ]
    later = "".join(body for body, _ in received[1:])
    assert name not in later and "Secret" not in later and "Visible" not in later


#: The keys of a live event on the wire: the contract's fields, nothing more (``replaces``
#: is carried by an operator's reset only, never by a live event).
CONTRACT_KEYS = {f.name for f in dataclasses.fields(Envelope)} - {"replaces"}


def test_only_the_contracts_envelope_and_allow_listed_fields_leave_the_master(
    stack: Stack, spy: Spy
):
    from django.conf import settings
    from django.contrib.auth.models import Group, Permission, User
    from django.utils import timezone

    assert settings.REACTIVE.user_fields == DEFAULT_USER_FIELDS  # the stack's configuration
    assert settings.REACTIVE_PUBLISH_STAFF is False
    now = timezone.now()
    every_field: dict[str, Any] = {
        "password": "master-secret-password",
        "first_name": "Every",
        "last_name": "Field",
        "email": "every@example.com",
        "is_active": True,
        "last_login": now - timedelta(hours=1),
        "date_joined": now - timedelta(days=30),
    }
    group, _ = Group.objects.get_or_create(name="wire-editors")
    permissions = list(Permission.objects.order_by("id")[:3])

    def saved(name: str, **privileges: Any) -> int:
        """A user with every field set, groups and permissions, then changed and saved."""
        uid = master_ops.create_user(name, **every_field, **privileges)
        user = User.objects.get(pk=uid)
        user.groups.add(group)
        user.user_permissions.add(*permissions)
        master_ops.update_user(uid, first_name="Every Two", last_login=now)
        return uid

    # Given a regular user with every field set (not staff, not superuser), a staff user and
    # a superuser, each saved with groups, permissions, login and join times
    uid = saved(unique("every"), is_staff=False, is_superuser=False)
    staff = saved(unique("every-staff"), is_staff=True, is_superuser=False)
    root = saved(unique("every-root"), is_staff=True, is_superuser=True)
    secret_hash = User.objects.get(pk=uid).password
    marker = master_ops.create_user(unique("marker"))

    # When their messages arrive in SQS (the marker, saved last, arrives after them)
    until(lambda: spy.for_user(marker), timeout=20)
    until(lambda: len(spy.raw_for(uid)) >= 2, timeout=20)
    received = spy.raw_for(uid)

    # Then the regular user's two events carry the contract's envelope and only the allow-list
    assert [json.loads(body)["action"] for body, _ in received] == ["created", "updated"]
    for body, attributes in received:
        event = json.loads(body)
        assert set(event) == CONTRACT_KEYS, sorted(event)
        assert list(event["user"]) == list(DEFAULT_USER_FIELDS)
        assert set(event["changed"]) <= set(DEFAULT_USER_FIELDS)
        assert event["synthetic"] is False and event["schema"] == SCHEMA_VERSION
        assert set(attributes) == {"action", "reactive.signature"}  # and nothing else
        assert secret_hash not in body and "master-secret-password" not in body
        assert not [word for word in FORBIDDEN if word in body], body
    assert json.loads(received[-1][0])["user"] == {
        "username": User.objects.get(pk=uid).username,
        "email": "every@example.com",
        "first_name": "Every Two",
        "last_name": "Field",
        "is_active": True,
    }
    # And the staff user and the superuser published nothing at all
    assert spy.for_user(staff) == [] and spy.for_user(root) == []
