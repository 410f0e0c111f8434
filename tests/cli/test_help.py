"""Every command's --help, as an operator reads it: the configuration it uses, no noise."""

from __future__ import annotations

import re

import pytest
import typer

from reactive_cli import config, localstack
from reactive_cli.commands.stack import UP_RULE
from reactive_cli.main import app
from reactive_users.core import exitcodes
from tests.cli.conftest import Reactive

#: What the commands that read no configuration say instead of ``config.RULE``.
NO_CONFIG = "Configuration: none; only the supervisord of STATE_DIR (no reactive.toml)."


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of ``reactive``."""
    root = typer.main.get_command(app)  # typer's own click: groups have .commands
    paths: list[tuple[str, ...]] = []
    for name, command in getattr(root, "commands", {}).items():
        subcommands = getattr(command, "commands", None)
        paths += [(name, sub) for sub in subcommands] if subcommands else [(name,)]
    assert len(paths) > 10
    return paths


def flat(text: str) -> str:
    """Help text without rich's box drawing, markdown backticks and line breaks."""
    for mark in "│╭╮╰╯─`":
        text = text.replace(mark, " ")
    return " ".join(text.split())


def help_text(reactive: Reactive, path: tuple[str, ...], *, raw: bool = False) -> str:
    ran = reactive(*path, "--help", COLUMNS="100")
    assert ran.code == exitcodes.OK, ran.err
    return ran.out if raw else flat(ran.out)


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_states_which_configuration_it_uses(reactive: Reactive, path):
    text = help_text(reactive, path)
    rules = [flat(rule) for rule in (config.RULE, UP_RULE, NO_CONFIG)]
    assert sum(rule in text for rule in rules) == 1, text


@pytest.mark.parametrize("path", [(), ("dlq",), *command_paths()], ids=lambda p: " ".join(p))
def test_no_option_shows_a_bool_placeholder(reactive: Reactive, path):
    assert "<bool>" not in help_text(reactive, path)


def default_stack_names(tmp_path) -> set[str]:
    """The process and group names of the stack a plain `reactive up` runs, and its clients."""
    layout = localstack.Layout(state_dir=tmp_path)
    programs = localstack.programs(layout, "redis-server")
    assert all(p.numprocs == 1 for p in programs)  # one process per program: name = program
    return {p.name for p in programs} | set(layout.clients)


@pytest.mark.parametrize("path", [("logs",), ("listeners",)], ids=" ".join)
def test_examples_name_processes_a_default_stack_has(reactive: Reactive, path, tmp_path):
    text = help_text(reactive, path)
    example = re.search(r"Example: reactive ([^\n│]*)", help_text(reactive, path, raw=True))
    assert example is not None, text
    words = example.group(1).split()
    actions = {"start", "stop", "restart"}
    named = [
        w
        for w in words[len(path) :]
        if not w.startswith("-") and not w.isdigit() and w not in actions
    ]
    assert named and set(named) <= default_stack_names(tmp_path), named
    first_process = re.search(r"a process \(\s*([\w-]+)", text)
    assert first_process is not None and first_process.group(1) in default_stack_names(tmp_path)
