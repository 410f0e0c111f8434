"""Each stack error is one line with the fix and its exit code, with no stack running."""

from __future__ import annotations

import socket

from reactive_cli import exitcodes
from tests.stack.conftest import Cli


def test_listeners_and_logs_without_supervisord_say_to_start_the_stack(cli: Cli):
    sock = cli.state_dir / "supervisor.sock"
    for args in (["listeners", "start", "shop"], ["logs", "shop"]):
        ran = cli(*args)
        assert ran.code == exitcodes.STACK
        assert ran.err.splitlines() == [
            f"SupervisorNotRunning: supervisord is not running (nothing answers on {sock}): "
            "start the stack with `reactive up`"
        ]


def test_down_when_nothing_is_up_says_already_down_and_exits_0(cli: Cli):
    for state_dir in (cli.state_dir, cli.state_dir / "never-used"):
        ran = cli("down", "--state-dir", str(state_dir))
        assert (ran.code, ran.err) == (exitcodes.OK, "")
        sock = state_dir / "supervisor.sock"
        assert ran.out == f"The stack is already down (nothing answers on {sock}).\n"


def test_status_without_supervisord_shows_why_instead_of_failing(cli: Cli):
    ran = cli("status", "--json")
    assert ran.code == exitcodes.OK, ran.err
    assert '"listeners_error": "supervisord is not running' in ran.out


def test_up_on_a_port_in_use_names_the_port_and_the_option_that_moves_it(cli: Cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", cli.ports["moto"]))
        taken.listen()
        ran = cli("up")
    assert ran.code == exitcodes.STACK
    assert ran.err.splitlines() == [
        f"PortInUse: port already in use: {cli.ports['moto']} (moto; --moto-port / "
        "REACTIVE_MOTO_PORT): stop what listens there, or choose free ports with the options "
        "named"
    ]
    assert not (cli.state_dir / "supervisor.sock").exists()


def test_manage_an_unknown_component_names_the_known_ones(cli: Cli):
    ran = cli("manage", "news", "--", "check")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "ConfigError: unknown client 'news' in the local defaults (no reactive.toml): "
        "known clients: shop, blog"
    ]
