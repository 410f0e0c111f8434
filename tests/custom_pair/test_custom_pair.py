"""The custom pair end to end: a master on an ``AbstractBaseUser`` logging in by email
(``email_master``) and a client whose ``AbstractUser`` logs in by email and keeps one
``full_name`` (``name_client``), on moto's server, a redis-server and the client's listener
as ``reactive listen --client NAME`` runs it from ``reactive.toml``. The operator's commands
(``diff``, ``backfill``, ``status``, ``emit-test``, ``dlq list``) run as subprocesses against
the same ``reactive.toml``, as on the operator's host.

Run with ``-p no:django`` (``conftest.py`` sets Django up as the master).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess

from devstack.processes import python, until
from reactive_cli.status import NOT_OURS
from tests.custom_pair.conftest import ROOT, Pair, create, delete, new_email, update

#: What the master's backfill prints when it is done.
SUMMARY = re.compile(r"sent (\d+) in ([\d.]+) s, ([\d.]+) users/s")
#: Users the master held before the client joined.
EXISTING_USERS = 2000


def converged(pair: Pair, client: str, timeout: float = 120) -> dict:
    """Wait until ``reactive diff --client CLIENT`` exits 0; its report."""
    last: list[str] = []

    def equal() -> dict | None:
        ran = pair.diff(client)
        assert ran.returncode in (0, 1), ran.stderr[-2000:]
        last[:] = [ran.stdout]
        return json.loads(ran.stdout) if ran.returncode == 0 else None

    try:
        return until(equal, timeout=timeout, interval=0.5, what=f"{client} to converge")
    except AssertionError as e:
        raise AssertionError(f"{e}: last diff: {last[0][-3000:] if last else ''}") from None


def local_users(pair: Pair, client: str, email: str) -> list[dict]:
    return pair.query(
        client, "SELECT id, full_name, is_staff FROM accounts_user WHERE email = ?", (email,)
    )


def test_create_rename_email_changes_swap_deactivate_delete_and_recreate(pair: Pair) -> None:
    ana_email, bob_email = new_email("ana"), new_email("bob")
    ana = create(ana_email, "Ana Silva", plan="pro")
    first = pair.wait_user("names", ana, email=ana_email, full_name="Ana Silva", is_active=1)

    update(ana, name="Ana Souza")  # the master's name is the client's full_name
    pair.wait_user("names", ana, full_name="Ana Souza", id=first["id"])

    work_email = new_email("ana.work")
    update(ana, email=work_email)  # the login identity changes: the same local user follows
    pair.wait_user("names", ana, email=work_email, id=first["id"])

    bob = create(bob_email, "Bob")
    bob_row = pair.wait_user("names", bob, email=bob_email)
    # Two users swap emails: through a spare address, as the master's unique email demands
    update(ana, email=new_email("spare"))
    update(bob, email=work_email)
    update(ana, email=bob_email)
    pair.wait_user("names", ana, email=bob_email, id=first["id"])
    pair.wait_user("names", bob, email=work_email, id=bob_row["id"])

    update(bob, is_active=False)
    pair.wait_user("names", bob, is_active=0)

    # Deleted, then signed up again with the same email: a new master id, a new local user
    delete(ana)
    pair.wait_user("names", ana, tombstone=1, id=None)
    again = create(bob_email, "Ana again")
    assert again != ana
    reborn = pair.wait_user("names", again, email=bob_email, full_name="Ana again")
    assert reborn["id"] != first["id"]
    assert [u["id"] for u in local_users(pair, "names", bob_email)] == [reborn["id"]]

    report = converged(pair, "names")
    assert report["totals"]["missing"] == report["totals"]["stale"] == 0


def test_backfill_of_existing_master_users_converges(pair: Pair) -> None:
    from django.contrib.auth import get_user_model

    # Users the master held before reactive-users was installed: written without signals
    model = get_user_model()
    tag = new_email("bulk").split("@")[0]
    model.objects.bulk_create(
        [
            model(email=f"{tag}-{i}@example.com", name=f"Bulk {i}", password="!")
            for i in range(EXISTING_USERS)
        ],
        batch_size=500,
    )
    ran = pair.reactive("backfill", "--client", "names", "--batch", "500", "--restart")
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    summary = SUMMARY.findall(ran.stdout + ran.stderr)
    assert summary, ran.stderr[-2000:]
    sent, seconds, rate = summary[-1]
    assert int(sent) >= EXISTING_USERS
    report = converged(pair, "names", timeout=300)
    print(f"\nbackfill of {sent} users: {seconds} s, {rate} users/s (the master's figure)")
    assert report["totals"]["equal"] >= EXISTING_USERS
    some = pair.query(
        "names",
        "SELECT email, full_name FROM accounts_user WHERE email = ?",
        (f"{tag}-1999@example.com",),
    )
    assert some == [{"email": f"{tag}-1999@example.com", "full_name": "Bulk 1999"}]


def test_existing_local_users_are_linked_by_email_and_an_admin_is_refused(pair: Pair) -> None:
    from django.contrib.auth import get_user_model

    carol_email, admin_email = new_email("Carol"), new_email("admin")
    # The client had users before it joined: Carol, and its own admin
    script = (
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        f"U.objects.create_user({carol_email!r}, 'carol-password', full_name='Carol (local)'); "
        f"U.objects.create_superuser({admin_email!r}, 'admin-password', full_name='Admin')"
    )
    pair.ok("manage", "linked", "--", "shell", "-c", script, client="linked")
    carol_local = local_users(pair, "linked", carol_email)[0]["id"]
    admin_local = local_users(pair, "linked", admin_email)[0]["id"]
    # ...and the master has both addresses: Carol's, and one someone registered there
    model = get_user_model()
    rows = [
        model(email=carol_email.lower(), name="Carol Lima", password="!"),
        model(email=admin_email, name="Mallory", password="!"),
    ]
    model.objects.bulk_create(rows)
    carol, mallory = (model.objects.get(email=r.email).pk for r in rows)

    users_before = _count(pair, "linked")
    ids = f"{carol},{mallory}"
    ran = pair.reactive("backfill", "--client", "linked", "--ids", ids, "--restart")
    assert ran.returncode == 0, ran.stderr[-3000:]

    # Carol is linked: her local user, the master's name and spelling, one verified address
    linked = pair.wait_user("linked", carol, full_name="Carol Lima")
    assert linked["id"] == carol_local and linked["email"] == carol_email.lower()
    assert local_users(pair, "linked", carol_email.lower())[0]["id"] == carol_local
    addresses = 'SELECT email, verified, "primary" FROM accounts_emailaddress WHERE user_id = ?'
    assert pair.query("linked", addresses, (carol_local,)) == [
        {"email": carol_email.lower(), "verified": 1, "primary": 1}
    ]
    # The admin is not: Mallory's snapshot went to the dead-letter queue, saying why
    letters = until(lambda: _letters(pair, "linked"), timeout=30, what="a dead letter")
    [reason] = [m["reason"] for m in letters if f"master user {mallory} " in m["reason"]]
    assert f"local user {admin_local} is privileged (staff, superuser)" in reason
    assert "link by hand" in reason
    assert pair.user("linked", mallory) is None
    admin = local_users(pair, "linked", admin_email)
    assert admin == [{"id": admin_local, "full_name": "Admin", "is_staff": 1}]

    # Carol's next change on the master reaches her linked user and her verified address
    moved = new_email("carol.moved")
    update(carol, email=moved)
    pair.wait_user("linked", carol, email=moved, id=carol_local)
    until(
        lambda: (
            pair.query("linked", addresses, (carol_local,))
            == [{"email": moved, "verified": 1, "primary": 1}]
        ),
        timeout=30,
        what="the verified address to follow",
    )
    assert _count(pair, "linked") == users_before  # linked or refused: nobody added


def _count(pair: Pair, client: str) -> int:
    return int(pair.query(client, "SELECT count(*) AS n FROM accounts_user")[0]["n"])


def _letters(pair: Pair, client: str) -> list[dict] | None:
    ran = pair.reactive("dlq", "list", "--client", client, "--json")
    assert ran.returncode == 0, ran.stderr[-2000:]
    return json.loads(ran.stdout)["messages"] or None


def test_status_reads_the_configured_projects_and_writes_nothing(pair: Pair) -> None:
    before = sorted(p.name for p in pair.state_dir.iterdir())
    master_db = pair.workdir / "master.sqlite3"
    stamp = master_db.stat().st_mtime_ns
    ran = until(lambda: _listeners_alive(pair), timeout=60, what="each listener alive")
    data = json.loads(ran.stdout)
    # The listeners are the operator's own processes, not a local stack's supervisord: said
    # so, not a problem, each alive by its key in Redis; everything else is read from the
    # pair, and all of it is healthy.
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr
    assert data["problems"] == []
    assert data["outbox"]["error"] == "" and data["outbox"]["backlog"] is not None
    clients = {c["name"]: c for c in data["clients"]}
    assert set(clients) == {"names", "linked"}
    for client in clients.values():
        assert client["queue_error"] == "" and client["replicas_error"] == "", client
        assert (client["listeners"], client["listeners_error"]) == ([], "")
        assert client["listeners_note"] == NOT_OURS
        assert client["alive"] == [f"{socket.gethostname()}:{pair.listeners[client['name']].pid}"]
        assert client["replicas"] is not None
    shown = pair.reactive("status")
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr
    for name in clients:
        assert f"{name}: listeners {NOT_OURS}: 1 alive, last seen " in shown.stdout
    assert sorted(p.name for p in pair.state_dir.iterdir()) == before
    assert not (ROOT / "tests" / "projects" / "name_client" / "db.sqlite3").exists()
    assert master_db.stat().st_mtime_ns == stamp


def _listeners_alive(pair: Pair) -> subprocess.CompletedProcess[str] | None:
    """``reactive status --json`` once every client shows a listener alive, else None."""
    ran = pair.reactive("status", "--json")
    clients = json.loads(ran.stdout)["clients"] if ran.stdout else []
    return ran if clients and all(c["alive"] for c in clients) else None


def test_emit_test_reaches_both_listeners_for_a_user_given_by_email(pair: Pair) -> None:
    email = new_email("emit")
    user = create(email, "Emma")
    pair.wait_user("names", user, email=email)
    ran = pair.reactive("emit-test", email, "--count", "2", "--json", "--timeout", "30")
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    report = json.loads(ran.stdout)
    assert report["ok"] and report["user_id"] == user
    assert (report["username"], report["login_field"]) == (email, "email")
    assert {c["client"] for c in report["clients"]} == {"names", "linked"}
    # Synthetic: nothing written on the client
    assert pair.wait_user("names", user)["full_name"] == "Emma"


def test_read_only_commands_report_databases_not_made_yet_and_create_none(
    pair: Pair,
) -> None:
    # Given a client and a master whose databases (plain SQLite NAMEs) were never migrated
    missing, master = pair.workdir / "never-migrated.sqlite3", pair.workdir / "no-master.sqlite3"
    env = {"NAMES_DATABASE_URL": f"sqlite:///{missing}", "EMAIL_MASTER_DB": str(master)}

    ran = _reactive(pair, env, "status", "--json")

    # Then status says so, one line each, reads the rest, and neither file is created
    assert ran.returncode == 6, ran.stdout[-2000:] + ran.stderr
    refusal = f"database {missing} does not exist yet: run migrate"
    problems = [
        f"names: replicas not read: {refusal}",
        f"master outbox: unknown: database {master} does not exist yet: run migrate",
    ]
    assert json.loads(ran.stdout)["problems"] == problems
    assert ran.stderr.splitlines() == problems
    # And diff and emit-test, which read the same databases, stop on one line
    for args in (["diff", "--client", "names"], ["emit-test", "nobody@example.com"]):
        ran = _reactive(pair, env, *args)
        assert ran.returncode != 0 and len(ran.stderr.strip().splitlines()) == 1, ran.stderr
        assert f"database {master} does not exist yet: run migrate" in ran.stderr
    assert not missing.exists() and not master.exists()


def _reactive(pair: Pair, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``reactive ARGS --config reactive.toml`` with ``env`` over the pair's environment."""
    argv = [args[0], "--config", str(pair.config), *args[1:]]
    return subprocess.run(
        python("-m", "reactive_cli", *argv),
        env={**pair.env, **env},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=pair.workdir,
    )
