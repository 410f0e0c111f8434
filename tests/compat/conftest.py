"""The previous release beside this one: its tree and a virtualenv of its own.

The previous release is the last commit landed before multi-event messages (``OLD_COMMIT``),
exported from the repository these tests run in (``git archive``) into a temporary
directory and installed there into a fresh virtualenv, with the dependency versions this
checkout's own virtualenv holds (``pip freeze`` as constraints; pip reads the machine's
local package index). Its processes (``python -m client``, ``python -m master``) run with
that interpreter and that tree on their path: nothing of this checkout is importable there.

Every test here is marked ``slow`` (tests/conftest.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

#: The last commit landed before schema 2 (multi-event messages): the previous release.
OLD_COMMIT = "7e9bf56"
#: The checkout these tests belong to (a git repository: in CI a fresh clone, full history).
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class OldRelease:
    """The previous release, installed: its tree (the reference projects' root) and python."""

    root: Path
    python: str
    build_seconds: float

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` made to run this release: its tree alone on the path, no settings module."""
        env = dict(base)
        env["PYTHONPATH"] = str(self.root)
        # ``python -m`` puts the working directory first on the path, and it may be this
        # checkout: the old processes would run this release's code.
        env["PYTHONSAFEPATH"] = "1"
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("VIRTUAL_ENV", None)
        return env


def _git(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def export_tree(commit: str, target: Path) -> None:
    """Write ``commit``'s tree into ``target``; fail clearly if the repository lacks it."""
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.fail(
            f"commit {commit} (the previous release) is not in {ROOT}'s history: the "
            "compatibility suite needs a clone with full history (git fetch --unshallow)",
            pytrace=False,
        )
    archive = target.with_suffix(".tar")
    with archive.open("wb") as out:
        done = subprocess.run(["git", "-C", str(ROOT), "archive", commit], stdout=out)
    assert done.returncode == 0, f"git archive {commit} failed"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    archive.unlink()


def install(tree: Path, constraints: Path) -> str:
    """A virtualenv in ``tree/.venv`` with the tree installed (editable); its python."""
    venv = tree / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-c", str(constraints), "-e", str(tree)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if done.returncode != 0:
        pytest.fail(f"installing {OLD_COMMIT} failed:\n{done.stderr[-3000:]}", pytrace=False)
    return python


@pytest.fixture(scope="session")
def old_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldRelease]:
    """The previous release, exported and installed into its own virtualenv."""
    started = time.monotonic()
    base = tmp_path_factory.mktemp("old-release")
    tree = base / "tree"
    tree.mkdir()
    export_tree(OLD_COMMIT, tree)
    # The very versions this checkout runs with: the same pinned dependencies, not newer.
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    constraints = base / "constraints.txt"
    constraints.write_text("\n".join(line for line in frozen.splitlines() if "==" in line) + "\n")
    python = install(tree, constraints)
    release = OldRelease(root=tree, python=python, build_seconds=time.monotonic() - started)
    # Run from this checkout, as the tests run it: the old code is what is imported.
    where = subprocess.run(
        [
            python,
            "-c",
            "import client, reactive_users; print(client.__file__, reactive_users.__file__)",
        ],
        env=release.env(dict(os.environ)),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr
    imported = where.stdout.split()
    assert imported and all(Path(f).is_relative_to(tree) for f in imported), imported
    logger.warning("previous release %s installed in %.1f s", OLD_COMMIT, release.build_seconds)
    yield release
