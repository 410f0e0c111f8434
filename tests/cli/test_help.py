"""Every command's --help, as an operator reads it: the configuration it uses, no noise."""

from __future__ import annotations

import pytest
import typer

from reactive_cli import config, exitcodes
from reactive_cli.commands.stack import UP_RULE
from reactive_cli.main import app
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


def help_text(reactive: Reactive, path: tuple[str, ...]) -> str:
    ran = reactive(*path, "--help", COLUMNS="100")
    assert ran.code == exitcodes.OK, ran.err
    return flat(ran.out)


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_states_which_configuration_it_uses(reactive: Reactive, path):
    text = help_text(reactive, path)
    rules = [flat(rule) for rule in (config.RULE, UP_RULE, NO_CONFIG)]
    assert sum(rule in text for rule in rules) == 1, text
