"""The previous release beside this one, on real parts (issue 17, item 3): a client of the
previous release against this master, and a master of the previous release against this
client, with batching off and on (README, "Upgrading: multi-event messages").

The previous release runs as its own processes from its own virtualenv (``conftest.py``);
this release's master runs in this process (``devstack.stack``), its clients as processes.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import master_ops
from devstack.client_app import ClientApp
from devstack.convergence import client_state, compare, master_state, wait_converged
from devstack.signing import KEYS
from devstack.stack import Stack, running_stack, start_client
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core.settings import Settings
from tests.compat.conftest import OldRelease
from tests.compat.support import (
    dead_letters,
    depth,
    events_in,
    master_state_of,
    old_client,
    reactive,
    tag,
    unsent,
    wait_until,
)

#: Both clients: a refused message goes to the dead-letter queue at once (the listener's
#: own doing), anything failing for now comes back within seconds.
SPEC = {"max_receive_count": 2, "visibility_timeout": 2}


@pytest.fixture(scope="module")
def stack(
    redis_url: str, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """This release's master (in this process) and worker, and one client of this release."""
    with running_stack(
        redis_url=redis_url,
        endpoint=moto_endpoint,
        prefix="c" + uuid.uuid4().hex[:10],
        workdir=tmp_path_factory.mktemp("compat"),
        clients=[ClientSpec(name="fresh", **SPEC)],  # type: ignore[arg-type]
    ) as running:
        yield running


def some_changes(label: str) -> list[int]:
    """Creates, updates and deletes in the master, each kind in one transaction (its events
    pending at once: what batching packs into one message); the master ids touched."""
    from django.db import transaction

    names = [f"{label}-{n}-{uuid.uuid4().hex[:4]}" for n in range(6)]
    with transaction.atomic():
        ids = [master_ops.create_user(name, password=None) for name in names]
    with transaction.atomic():
        for uid in ids[:4]:
            master_ops.update_user(uid, first_name=f"renamed {uid}")
    with transaction.atomic():
        for uid in ids[4:]:
            master_ops.delete_user(uid)
    return ids


def test_a_client_of_the_previous_release_against_this_master(
    stack: Stack, old_release: OldRelease, moto_endpoint: str
):
    # Given this release's master, a client of this release ("fresh") and one of the
    # previous release ("old", its own queue, database and virtualenv)
    from django.conf import settings as django_settings

    fresh = stack.clients["fresh"]
    spec = ClientSpec(name="old", **SPEC)  # type: ignore[arg-type]
    provisioned = ensure(stack.settings, [spec])
    stack.provisioned.queue_urls.update(provisioned.queue_urls)
    old_db = stack.workdir / "client-old.sqlite3"
    old: ClientApp = old_client(
        old_release, fresh, name="old", queue_url=provisioned.queue_urls["old"], db_path=old_db
    )
    old.manage("migrate", "--verbosity", "0")
    old.start_listener()
    dlq = provisioned.dlq_urls["old"]
    try:
        # When the master makes changes with batching off (the default)
        plain = some_changes("plain")

        # Then both clients converge
        for app in (fresh, old):
            comparison = wait_converged(app, plain, timeout=60)
            assert comparison.converged, f"{app.name}: {comparison.summary()}"
        assert depth(moto_endpoint, dlq) == 0

        # When the master packs what is pending (REACTIVE_PUBLISH_BATCH on)
        django_settings.REACTIVE_PUBLISH_BATCH = True
        try:
            packed = some_changes("packed")
            comparison = wait_converged(fresh, packed, timeout=60)
        finally:
            django_settings.REACTIVE_PUBLISH_BATCH = False

        # Then this release's client converges, with nothing dead-lettered ...
        assert comparison.converged, comparison.summary()
        assert depth(moto_endpoint, stack.provisioned.dlq_urls["fresh"]) == 0
        # ... and the old one dead-letters every multi-event message with its reason,
        # having applied the single-event ones, with nothing left in its queue
        wait_until(lambda: depth(moto_endpoint, old.queue_url) == 0, "the old queue to drain")
        letters = wait_until(lambda: dead_letters(moto_endpoint, dlq), "dead letters")
        bodies = [json.loads(m["Body"]) for m in letters]
        reasons = {tag(m, "reactive.dlq.reason") or "" for m in letters}
        assert {b["schema"] for b in bodies} == {2}, bodies
        # (the reason README's upgrade notes quote)
        assert reasons == {"ContractError: unknown schema version 2 (this code reads 1)"}
        assert {tag(m, "reactive.dlq.source_queue") for m in letters} == {old.queue_url}
        behind = compare(master_state(packed), client_state(old, packed))
        assert behind.missing, "the old client applied what only a newer client can read"
        held = sum(events_in(m["Body"]) for m in letters)
        assert held >= len(behind.missing)

        # When the old client is upgraded (this release's listener on its queue and
        # database, migrated first) and its dead letters are sent back
        old.stop()
        upgraded = ClientApp(
            name="old",
            env={
                **fresh.env,
                **{
                    k: old.env[k] for k in ("REACTIVE_CLIENT", "DATABASE_URL", "REACTIVE_QUEUE_URL")
                },
            },
            db_path=old_db,
            log_dir=fresh.log_dir,
            queue_url=old.queue_url,
        )
        upgraded.manage("migrate", "--verbosity", "0")
        upgraded.start_listener()
        old = upgraded  # stopped below
        config = write_config(stack.workdir, stack.settings.prefix)
        ran = reactive(
            "dlq", "redrive", "--client", "old", "--all", "--config", str(config), env=fresh.env
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr

        # Then it converges on everything, and nothing waits in its dead-letter queue
        comparison = wait_converged(upgraded, plain + packed, timeout=60)
        assert comparison.converged, comparison.summary()
        assert depth(moto_endpoint, dlq) == 0
    finally:
        old.stop()


def write_config(workdir: Path, prefix: str) -> Path:
    """A reactive.toml naming the stack's prefix and the upgraded client, for the CLI."""
    path = workdir / "reactive.toml"
    path.write_text(f'prefix = "{prefix}"\n\n[clients.old]\n\n[clients.fresh]\n')
    return path


def test_a_master_of_the_previous_release_against_this_client(
    old_release: OldRelease, redis_url: str, moto_endpoint: str, tmp_path: Path
):
    # Given a master of the previous release (its own process, database and virtualenv)
    # publishing to a topic that a client of this release listens to
    settings = Settings(
        prefix="o" + uuid.uuid4().hex[:10],
        redis_url=redis_url,
        aws_endpoint_url=moto_endpoint,
        signing=KEYS,
    )
    provisioned = ensure(settings, [ClientSpec(name="fresh", **SPEC)])  # type: ignore[arg-type]
    app = start_client("fresh", settings, provisioned, tmp_path)
    master_db = tmp_path / "old-master.sqlite3"
    env = old_release.env(app.env)
    for name in ("REACTIVE_CLIENT", "REACTIVE_QUEUE_URL", "REACTIVE_ALLOWED_ORIGINS"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="master.settings",
        DATABASE_URL=f"sqlite:///{master_db}",
        REACTIVE_TOPIC_ARN=provisioned.topic_arn,
    )
    try:
        old_master(old_release, env, "migrate", "--verbosity", "0")

        # When it creates, updates and deletes users (its publisher thread publishes each
        # commit's events before the command exits)
        printed = old_master(old_release, env, "shell", "-c", OLD_MASTER_CHANGES)
        (line,) = [line for line in printed.splitlines() if line.startswith("ids:")]
        ids = [int(i) for i in line.split()[1:]]
        assert len(ids) == 6 and unsent(master_db) == 0

        # Then this release's client holds exactly what the old master holds
        def converged() -> bool:
            return compare(master_state_of(master_db, ids), client_state(app, ids)).converged

        wait_until(converged, "this client to converge on the old master", timeout=60)
        final = compare(master_state_of(master_db, ids), client_state(app, ids))
        assert len(final.equal) == 6, final.summary()
    finally:
        app.stop()


#: What the old master does, in its own ``shell``: each kind of change in one transaction
#: (what a batching master would pack; the previous release publishes them one by one).
OLD_MASTER_CHANGES = """
import uuid
from django.contrib.auth.models import User
from django.db import transaction
with transaction.atomic():
    users = [User.objects.create(username=f"old-{n}-{uuid.uuid4().hex[:4]}") for n in range(6)]
with transaction.atomic():
    for u in users[:4]:
        u.first_name = f"renamed {u.pk}"
        u.save()
ids = " ".join(str(u.pk) for u in users)
for u in users[4:]:
    u.delete()
print("ids:", ids)
"""


def old_master(release: OldRelease, env: dict[str, str], *args: str) -> str:
    """Run the previous release's ``python -m master ARGS``; its stdout."""
    done = subprocess.run(
        [release.python, "-m", "master", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"old master {args}: {done.stderr[-3000:]}"
    return done.stdout
