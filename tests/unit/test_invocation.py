"""How `up` names the command in its hints: as the operator can type it."""

from __future__ import annotations

from pathlib import Path

from reactive_cli.commands.invocation import typed_command

PY = "/repo/.venv/bin/python"


def test_reactive_when_that_name_on_path_is_the_running_script():
    script = "/repo/.venv/bin/reactive"
    assert typed_command(script, script, Path("/repo"), PY) == "reactive"


def test_the_scripts_path_relative_to_the_working_directory_when_not_on_path():
    assert typed_command("/repo/.venv/bin/reactive", None, Path("/repo"), PY) == (
        ".venv/bin/reactive"
    )
    assert typed_command(".venv/bin/reactive", "/usr/bin/reactive", Path("/repo"), PY) == (
        ".venv/bin/reactive"
    )


def test_an_absolute_path_outside_the_working_directory():
    assert typed_command("/repo/.venv/bin/reactive", None, Path("/tmp"), PY) == (
        "/repo/.venv/bin/reactive"
    )


def test_python_dash_m_for_a_module_run():
    main = "/repo/reactive_cli/__main__.py"
    assert typed_command(main, None, Path("/repo"), PY) == ".venv/bin/python -m reactive_cli"
