"""Each stack error is one line with the fix and its exit code, with no stack running."""

from __future__ import annotations

import socket
from pathlib import Path

from devstack.processes import port_open
from reactive_users.core import exitcodes
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


def test_status_with_no_local_stack_and_no_config_names_the_real_cause(cli: Cli):
    for args in (["status"], ["status", "--json"], ["status", "--state-dir", "/nonexistent"]):
        state_dir = args[-1] if "--state-dir" in args else str(cli.state_dir)
        ran = cli(*args)
        assert (ran.code, ran.out) == (exitcodes.STACK, "")
        assert ran.err.splitlines() == [
            f"StackError: no local stack recorded in {state_dir} and no reactive.toml: run "
            "`reactive up`, or pass --config (or --state-dir of the stack)"
        ]


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


def unusable_state_dirs(cli: Cli) -> list[tuple[list[str], dict[str, str], str, str]]:
    """(args, environment, state dir, expected cause) for state dirs `up` cannot use as root."""
    a_file = cli.state_dir / "a-file"
    a_file.write_text("not a directory")
    long = cli.state_dir / ("x" * (108 - len(str(cli.state_dir))))
    under_a_file = a_file / "st"
    return [
        (
            ["--state-dir", str(under_a_file)],
            {},
            str(under_a_file),
            f"cannot write the state directory {under_a_file}: Not a directory ({under_a_file})",
        ),
        (
            [],
            {"REACTIVE_STATE_DIR": str(a_file)},
            str(a_file),
            f"cannot write the state directory {a_file}: Not a directory ({a_file})",
        ),
        (
            ["--state-dir", "/sys/reactive-test"],
            {},
            "/sys/reactive-test",
            "cannot write the state directory /sys/reactive-test: Operation not permitted "
            "(/sys/reactive-test)",
        ),
        (
            ["--state-dir", str(long)],
            {},
            str(long),
            f"state directory {long}: its path is too long for supervisord's socket "
            f"({len(str(long / 'supervisor.sock'))} bytes, at most 107)",
        ),
    ]


def test_up_with_a_state_dir_it_cannot_use_is_one_line_exit_2_and_leaves_nothing_running(
    cli: Cli,
):
    for args, env, state_dir, cause in unusable_state_dirs(cli):
        ran = cli("up", *args, env=env)
        assert ran.code == exitcodes.USAGE, ran.err
        assert ran.err.splitlines() == [
            f"ConfigError: {cause}: choose a short, writable one with --state-dir or "
            "REACTIVE_STATE_DIR"
        ]
        assert not Path(state_dir, "supervisor.sock").exists()
        assert not any(port_open(port) for port in cli.ports.values())
