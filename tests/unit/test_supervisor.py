"""supervisord's Faults become our errors once, and names resolve to the processes meant."""

from __future__ import annotations

import xmlrpc.client

import pytest
from supervisor.xmlrpc import Faults

from reactive_cli import supervisor
from reactive_cli.supervisor import FAULTS, NO_OP_FAULTS, Process, fault_error, select
from reactive_users.core import errors


def process(group: str, name: str | None = None, state: str = "RUNNING") -> Process:
    return Process(group=group, name=name or group, state=state, pid=42, start=100, now=130)


STACK = [
    process("moto"),
    process("master-web"),
    process("shop-web"),
    process("shop-listener", "shop-listener-00"),
    process("shop-listener", "shop-listener-01", state="STOPPED"),
    process("blog-listener"),
]


def test_our_fault_codes_are_supervisors():
    handled = {**FAULTS, **NO_OP_FAULTS}
    names = {code: name for name, code in vars(Faults).items() if not name.startswith("_")}
    assert all(code in names for code in handled)
    assert names[supervisor.BAD_NAME] == "BAD_NAME"
    assert names[supervisor.SPAWN_ERROR] == "SPAWN_ERROR"
    assert NO_OP_FAULTS == {
        Faults.ALREADY_STARTED: "already running",
        Faults.NOT_RUNNING: "not running",
    }


@pytest.mark.parametrize(("code", "cls"), sorted(FAULTS.items()))
def test_every_handled_fault_is_mapped_to_its_error(code, cls):
    error = fault_error(xmlrpc.client.Fault(code, "RAW"), "start shop-web", detail="more")
    assert type(error) is cls
    assert str(error).startswith("start shop-web: ") and str(error).endswith(": more")
    assert str(error) != "start shop-web: RAW: more"  # each handled fault has its own words


def test_an_unknown_process_is_a_usage_error_and_a_spawn_error_carries_the_log():
    assert issubclass(errors.UnknownProcess, errors.UsageError)
    fault = xmlrpc.client.Fault(Faults.SPAWN_ERROR, "SPAWN_ERROR: shop-web")
    spawn = fault_error(fault, "start shop-web", detail="log ends: Traceback | ImportError: x")
    assert str(spawn) == (
        "start shop-web: it exited before it counted as started: log ends: Traceback | "
        "ImportError: x"
    )


def test_an_unhandled_fault_keeps_supervisors_words():
    error = fault_error(xmlrpc.client.Fault(Faults.CANT_REREAD, "CANT_REREAD: bad"), "reload")
    assert type(error) is errors.SupervisorError and str(error) == "reload: CANT_REREAD: bad"


def test_a_client_name_means_all_its_listener_processes():
    assert [p.name for p in select(STACK, "shop")] == ["shop-listener-00", "shop-listener-01"]
    assert [p.name for p in select(STACK, "blog")] == ["blog-listener"]


def test_a_process_group_or_full_name_means_exactly_that():
    assert [p.name for p in select(STACK, "shop-listener-01")] == ["shop-listener-01"]
    assert [p.name for p in select(STACK, "shop-listener:shop-listener-00")] == ["shop-listener-00"]
    assert [p.name for p in select(STACK, "shop-web")] == ["shop-web"]
    assert len(select(STACK, "shop-listener")) == 2


def test_an_unknown_name_lists_the_clients_and_processes():
    with pytest.raises(errors.UnknownProcess) as info:
        select(STACK, "news")
    assert str(info.value) == (
        "no process or client named 'news': clients: blog, shop; processes: blog-listener, "
        "master-web, moto, shop-listener-00, shop-listener-01, shop-web"
    )


def test_uptime_is_known_only_while_running():
    assert STACK[3].uptime_seconds == 30
    assert STACK[4].uptime_seconds is None
    assert (STACK[3].client, STACK[2].client) == ("shop", None)
