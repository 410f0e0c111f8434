"""Only the master speaks on the topic (issue 14, item 1), on every real process.

Crafted messages are published to the session stack's REAL topic (moto's SNS, raw delivery
to every client queue) and read by shop's real listener process; each must reach shop's
dead-letter queue at once with its reason and change nothing in shop's database. Key
rotation and the repair of a replica ahead of the master run on a client of their own.
Each attack is recorded for docs/security.md's probe table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from devstack import master_ops
from devstack.client_app import ClientApp, wait_for_replica
from devstack.processes import until
from devstack.signing import CURRENT_KEY, FOREIGN_KEY, KEYS_TEXT, OLD_KEY, attributes
from devstack.stack import Stack
from reactive_users.core import signing
from reactive_users.core.aws import queues
from reactive_users.core.contract import Action, encode, new_event
from tests.e2e.test_wire import Spy
from tests.support import security

AREA = "topic: who can publish"
FULL = ("username", "email", "first_name", "last_name", "is_active")
#: A key id no component lists, with a secret of its own.
UNKNOWN_KEY = "evil:" + FOREIGN_KEY.split(":", 1)[1]


def crafted(action: Action, user_id: int, version: int, **user: Any) -> str:
    """A well-formed envelope body, as anyone able to publish could write it."""
    changed = tuple(user) if action is not Action.DELETED else ()
    return encode(
        new_event(action=action, user_id=user_id, version=version, user=user, changed=changed)
    )


def full_user(username: str, first_name: str) -> dict[str, Any]:
    return {
        "username": username,
        "email": "",
        "first_name": first_name,
        "last_name": "",
        "is_active": True,
    }


def dead_letters(stack: Stack, client: str, bodies: set[str], timeout: float = 60) -> dict:
    """body -> its dead letter in ``client``'s DLQ, waiting until all of ``bodies`` are there
    (the letters are left visible for other readers)."""
    sqs = boto3.client("sqs", endpoint_url=stack.settings.aws_endpoint_url)
    url, found = stack.provisioned.dlq_urls[client], {}

    def all_there() -> bool:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=1,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        found.update((m["Body"], m) for m in got if m["Body"] in bodies)
        return bodies <= found.keys()

    until(all_there, timeout=timeout, interval=0.1, what=f"{len(bodies)} dead letters")
    return found


def reason(letter: dict) -> str:
    return str(letter["MessageAttributes"]["reactive.dlq.reason"]["StringValue"])


def client_rows(app: ClientApp, but: int) -> tuple[list[tuple], list[tuple]]:
    """Every local user (id, username, active) and every replica (master id, version,
    tombstone, local id) a client holds, but master user ``but``'s replica."""
    users = app.query("SELECT id, username, is_active FROM auth_user ORDER BY id")
    replicas = app.query(
        "SELECT master_id, version, tombstone, user_id FROM replica_replica"
        " WHERE master_id != ? ORDER BY master_id",
        (but,),
    )
    return [tuple(r) for r in users], [tuple(r) for r in replicas]


def test_crafted_messages_published_to_the_topic_are_dead_lettered_and_change_nothing(
    stack: Stack,
):
    # Given a live user "victim" replicated to shop at version 1, and a marker user
    shop = stack.clients["shop"]
    victim_name = f"victim-{uuid.uuid4().hex[:6]}"
    victim = master_ops.create_user(victim_name, password=None, first_name="Real")
    wait_for_replica(shop, victim, version=1, first_name="Real")
    newcomer = 990_000 + uuid.uuid4().int % 9_000
    before = client_rows(shop, but=victim)
    honest = crafted(Action.UPDATED, victim, 2, **full_user(victim_name, "Honest"))
    signed_honest = attributes(honest)

    # When anyone who can publish to the topic publishes, unsigned or with the wrong key:
    attacks: dict[str, tuple[str, dict[str, Any] | None, str]] = {
        "an unsigned update of a user's first name": (
            crafted(Action.UPDATED, victim, 2, first_name="Forged"),
            None,
            "SignatureError: unsigned",
        ),
        "an update signed with another secret under the master's key id": (
            (body := crafted(Action.UPDATED, victim, 2, first_name="Forged")),
            attributes(body, keys=FOREIGN_KEY),
            "SignatureError: signature does not match",
        ),
        "an update signed with a key id no client lists": (
            (body := crafted(Action.UPDATED, victim, 2, first_name="Forged")),
            attributes(body, keys=UNKNOWN_KEY),
            "SignatureError: signed with key 'evil'",
        ),
        "the master's signed update with its body tampered (first name changed)": (
            honest.replace('"Honest"', '"Tampered"'),
            signed_honest,
            "SignatureError: signature does not match",
        ),
        "an unsigned update at version 2**63-1 (would freeze the user)": (
            crafted(Action.UPDATED, victim, 2**63 - 1, first_name="Frozen"),
            None,
            "SignatureError: unsigned",
        ),
        "an unsigned created event for a new id taking the user's username": (
            crafted(Action.CREATED, newcomer, 1, **full_user(victim_name, "Thief")),
            None,
            "SignatureError: unsigned",
        ),
        "an unsigned delete of the user (a permanent tombstone)": (
            crafted(Action.DELETED, victim, 2),
            None,
            "SignatureError: unsigned",
        ),
        "a signed update at version 2**63-1 (a leaked key, or a master bug)": (
            (body := crafted(Action.UPDATED, victim, 2**63 - 1, first_name="Frozen")),
            attributes(body),
            "ImplausibleVersion",
        ),
    }
    sns = boto3.client("sns", endpoint_url=stack.settings.aws_endpoint_url)
    for body, tags, _ in attacks.values():
        sns.publish(
            TopicArn=stack.provisioned.topic_arn,
            Message=body,
            **({"MessageAttributes": tags} if tags else {}),
        )

    # Then each is in shop's dead-letter queue, after one receive, with its reason...
    letters = dead_letters(stack, "shop", {body for body, _, _ in attacks.values()})
    # ...and a real change made after them is applied over the untouched version 1
    master_ops.update_user(victim, first_name="Real Two")
    wait_for_replica(shop, victim, version=2, first_name="Real Two", tombstone=0)
    users_after, replicas_after = client_rows(shop, but=victim)
    for attack, (body, _, expected) in attacks.items():
        letter = letters[body]
        seen = reason(letter)
        receives = letter["MessageAttributes"]["reactive.dlq.receives"]["StringValue"]
        observed = (
            f"dead-lettered after {receives} receive: {seen.split(':')[0]}"
            if seen.startswith(expected)
            else f"dead-lettered: {seen[:80]}"
        )
        security.record(
            area=AREA,
            attack=f"{attack}, published to the topic",
            observed=observed,
            expected=f"dead-lettered after 1 receive: {expected.split(':')[0]}",
        )
        assert seen.startswith(expected), (attack, seen)
        assert receives == "1", attack
    # nothing but the real change reached shop's database: the victim holds its name and
    # the real state, no user or replica appeared, none was renamed, parked or tombstoned
    held = shop.replica(victim)
    assert held is not None and (held["username"], held["tombstone"]) == (victim_name, 0)
    assert shop.replica(newcomer) is None
    users_before, replicas_before = before
    assert users_after == users_before and replicas_after == replicas_before
    assert shop.listener is not None and shop.listener.alive()


# --- Rotation and repair: a client of their own ---------------------------------------------


@contextlib.contextmanager
def added_client(stack: Stack, name: str, keys: str) -> Iterator[ClientApp]:
    from reactive_cli.provision import ClientSpec

    app = stack.add_client(
        ClientSpec(name=name, max_receive_count=5, visibility_timeout=10),
        env={"REACTIVE_SIGNING_KEYS": keys},
    )
    try:
        yield app
    finally:
        stack.remove_client(name)


@contextlib.contextmanager
def master_signing_with(keys: str, current: str) -> Iterator[None]:
    """The master in this process signs with ``current`` of ``keys`` (its relay reads the
    settings per call), as after switching REACTIVE_SIGNING_KEY_ID."""
    from django.conf import settings

    saved = settings.REACTIVE
    settings.REACTIVE = dataclasses.replace(saved, signing=signing.parse_keys(keys, current))
    try:
        yield
    finally:
        settings.REACTIVE = saved


def key_of(spy: Spy, user_id: int, version: int) -> str:
    """The key id the master signed the user's event ``version`` with, as published."""

    def found() -> str | None:
        for body, attrs in spy.raw_for(user_id):
            if json.loads(body)["version"] == version:
                return str(attrs[signing.ATTRIBUTE]["StringValue"]).split(":")[1]
        return None

    return until(found, timeout=20, what=f"user {user_id} v{version} on the spy queue")


def test_rotation_with_two_keys_loses_nothing_and_a_removed_key_is_refused(stack: Stack):
    # Given client "rot" listing the old and the new key; shop lists only the new one
    spy = Spy(stack)
    with added_client(stack, "rot", f"{OLD_KEY},{CURRENT_KEY}") as rot:
        shop = stack.clients["shop"]
        name = f"rotate-{uuid.uuid4().hex[:6]}"
        uid = master_ops.create_user(name, password=None, first_name="v1")
        wait_for_replica(rot, uid, version=1)
        # When the master signs one change with the old key, the next with the new one
        with master_signing_with(f"{OLD_KEY},{CURRENT_KEY}", current="test-k1"):
            master_ops.update_user(uid, first_name="by old key")
            wait_for_replica(rot, uid, version=2, first_name="by old key", timeout=30)
        master_ops.update_user(uid, first_name="by new key")
        # Then the client listing both applied both, in order: nothing lost
        wait_for_replica(rot, uid, version=3, first_name="by new key", timeout=30)
        assert (key_of(spy, uid, 2), key_of(spy, uid, 3)) == ("test-k1", "test-k2")
        # and shop, which no longer lists the old key, refused that one (dead-lettered)
        (old_body,) = [b for b, _ in spy.raw_for(uid) if json.loads(b)["version"] == 2]
        refused = reason(dead_letters(stack, "shop", {old_body})[old_body])
        observed = "dead-lettered" if "does not accept" in refused else refused[:80]
        security.record(
            area=AREA,
            attack="an event signed with a key removed from the client's list",
            expected="dead-lettered",
            observed=observed,
        )
        assert "signed with key 'test-k1', which this client does not accept" in refused
        wait_for_replica(shop, uid, version=3, first_name="by new key", timeout=30)


def reactive(stack: Stack, config: Path, app: ClientApp, *args: str) -> subprocess.CompletedProcess:
    env = {
        **stack.master_env,
        "REACTIVE_CONFIG": str(config),
        "COLUMNS": "200",
        f"{app.name.upper()}_DATABASE_URL": app.env["DATABASE_URL"],
    }
    return subprocess.run(
        [sys.executable, "-m", "reactive_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_diff_reports_a_replica_ahead_and_a_forged_tombstone_and_repair_resets_both(
    stack: Stack, tmp_path: Path
):
    config = tmp_path / "reactive.toml"
    config.write_text(f'prefix = "{stack.settings.prefix}"\n[clients.ahead]\n')
    sqs = boto3.client("sqs", endpoint_url=stack.settings.aws_endpoint_url)
    with added_client(stack, "ahead", KEYS_TEXT) as app:
        # Given two users replicated at version 1
        frozen_name, gone_name = f"frozen-{uuid.uuid4().hex[:6]}", f"gone-{uuid.uuid4().hex[:6]}"
        frozen = master_ops.create_user(frozen_name, password=None, first_name="Real")
        gone = master_ops.create_user(gone_name, password=None, first_name="Alive")
        for uid in (frozen, gone):
            wait_for_replica(app, uid, version=1)
        # and events the master never made, sent to the client's queue (signed, as before
        # signing existed): an update far ahead, and a delete
        for body in (
            crafted(Action.UPDATED, frozen, 900_001, **full_user(frozen_name, "Frozen")),
            crafted(Action.DELETED, gone, 2),
        ):
            sqs.send_message(
                QueueUrl=app.queue_url, MessageBody=body, MessageAttributes=attributes(body)
            )
        wait_for_replica(app, frozen, version=900_001, first_name="Frozen")
        wait_for_replica(app, gone, tombstone=1)
        # and a real change of each, which the client ignores (older; tombstoned)
        master_ops.update_user(frozen, first_name="Real Two")
        master_ops.update_user(gone, first_name="Alive Two")

        # When diff runs: exit 1, the first ahead, the second tombstoned on the client only
        ran = reactive(stack, config, app, "diff", "--client", "ahead", "--json")
        assert ran.returncode == 1, ran.stderr[-2000:]
        users = {u["master_id"]: u for u in json.loads(ran.stdout)["users"]}
        assert (users[frozen]["status"], users[frozen]["reset"]) == ("ahead", True)
        assert (users[frozen]["client_version"], users[frozen]["master_version"]) == (900_001, 2)
        assert (users[gone]["status"], users[gone]["reset"]) == ("stale", True)
        # and --repair sends resets, after which diff exits 0
        repaired = reactive(stack, config, app, "diff", "--client", "ahead", "--repair")
        assert repaired.returncode == 0, repaired.stdout[-2000:] + repaired.stderr[-2000:]
        assert "Resetting 2 user(s) of ahead" in repaired.stderr
        last: list[str] = []

        def diff_equal() -> bool:
            ran = reactive(stack, config, app, "diff", "--client", "ahead")
            last[:] = [ran.stdout[-3000:] + ran.stderr[-1000:]]
            return ran.returncode == 0

        # (users other tests made before this client joined are missing on it and repaired
        # too: a late client of a shared stack may have many to take in, hence the time)
        differing = sum(1 for u in users.values() if u["status"] != "equal")
        # (each diff is a process comparing every user: none while the queue still holds some)
        until(
            lambda: queues.queue_depth(sqs, app.queue_url).total == 0,
            timeout=60 + differing / 10,
            interval=0.2,
            what="the repair to be taken in",
        )
        try:
            until(
                diff_equal,
                timeout=60 + differing / 10,
                interval=1,
                what="diff to exit 0 after the repair",
            )
        except AssertionError as failed:
            raise AssertionError(f"{failed}; the last diff said:\n{''.join(last)}") from None
        wait_for_replica(app, frozen, version=2, first_name="Real Two")
        wait_for_replica(app, gone, version=2, tombstone=0, username=gone_name)
        assert app.replica(gone)["first_name"] == "Alive Two"
        # Then the user is no longer frozen: the next real change applies
        master_ops.update_user(frozen, first_name="Real Three")
        wait_for_replica(app, frozen, version=3, first_name="Real Three", timeout=30)
        security.record(
            area=AREA,
            attack="a user frozen ahead of the master, and one tombstoned by a forged delete: "
            "`reactive diff --repair`",
            expected="reset to the master's state and version; diff exits 0",
            observed="reset to the master's state and version; diff exits 0",
        )
