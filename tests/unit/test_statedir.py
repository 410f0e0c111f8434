"""The state directory is its owner's alone, whoever creates it; a loose one is tightened."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from reactive_users.core.settings import Settings, database, secret_key
from reactive_users.core.statedir import private_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_state_dir_is_created_private_and_nothing_is_said(tmp_path: Path):
    said: list[str] = []

    private_dir(tmp_path / "a" / ".reactive", say=said.append)

    assert mode(tmp_path / "a" / ".reactive") == 0o700
    assert said == []


def test_an_existing_state_dir_others_may_enter_is_tightened_with_one_line(tmp_path: Path):
    loose = tmp_path / ".reactive"
    loose.mkdir()
    loose.chmod(0o755)
    said: list[str] = []

    private_dir(loose, say=said.append)
    private_dir(loose, say=said.append)  # already private: nothing more to say

    assert mode(loose) == 0o700
    assert said == [
        f"{loose}: was open to other users (mode 0755); made it private (0700): it holds "
        "databases and secrets"
    ]


def test_settings_that_create_the_state_dir_create_it_private(tmp_path: Path):
    for part, make in [
        ("db", lambda s: database({}, s, "m.sqlite3")),
        ("secret", lambda s: secret_key({}, s, "master")),
    ]:
        state_dir = tmp_path / part
        make(Settings.from_env({"REACTIVE_STATE_DIR": str(state_dir)}))
        assert mode(state_dir) == 0o700, part


def test_a_file_where_the_state_dir_should_be_is_not_a_directory(tmp_path: Path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")

    with pytest.raises(NotADirectoryError) as found:
        private_dir(a_file)

    assert (found.value.strerror, found.value.filename) == ("Not a directory", str(a_file))
