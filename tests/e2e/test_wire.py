"""What leaves the master, checked on messages exactly as they arrive in SQS."""

from __future__ import annotations

import json

import boto3
import pytest

from reactive_cli.contract import DEFAULT_USER_FIELDS, decode_sqs_body
from tests.e2e.conftest import unique
from tests.support import master_ops
from tests.support.processes import until
from tests.support.stack import Stack

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

    def drain(self) -> list[str]:
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not got:
                return self.bodies
            self.bodies += [m["Body"] for m in got]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def for_user(self, user_id: int) -> list[dict]:
        """The user's events received so far, in version order (SQS does not keep order)."""
        events = [json.loads(b) for b in self.drain()]
        mine = [e for e in events if e.get("user_id") == user_id]
        return sorted(mine, key=lambda e: e["version"])


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


def test_noise_and_staff_publish_nothing(stack: Stack, spy: Spy):
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
    # Then, once the marker (saved last) has arrived, nothing else did
    until(lambda: spy.for_user(marker), timeout=20)
    assert [b["action"] for b in spy.for_user(uid)] == ["created"]
    assert spy.for_user(staff) == [] and spy.for_user(root) == []
