"""The apps' migrations name their own app by its installed label, never a literal one, so
that a project can relabel either app (a subclass of its AppConfig) and still migrate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "reactive_users"
OWN_LABELS = ("users", "reactive_master", "replica")
# ("label", "0001_...") in dependencies, or apps.get_model("label", ...) in RunPython code.
LABELS = "|".join(OWN_LABELS)
LITERAL = re.compile(r"""\(\s*["'](""" + LABELS + r""")["']\s*,""")


@pytest.mark.parametrize("app", ["master", "client"])
def test_no_migration_names_its_own_app_by_a_literal_label(app: str) -> None:
    files = sorted((ROOT / app / "migrations").glob("[0-9]*.py"))
    assert files
    literal = [
        f"{path.name}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0)}"
        for path in files
        for text in [path.read_text()]
        for m in LITERAL.finditer(text)
    ]
    assert literal == [], "use installed_label() (labels.py) instead of the literal label"
