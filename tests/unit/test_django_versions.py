"""Django 6.x readiness: the suites turn what Django 6.0 and 6.1 remove into errors, even
where a third party's DeprecationWarnings are ignored, and the README states the versions
pyproject.toml declares."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest
from django.utils.deprecation import RemovedInDjango60Warning, RemovedInDjango61Warning

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("category", [RemovedInDjango60Warning, RemovedInDjango61Warning])
@pytest.mark.parametrize("module", ["reactive_users.master.models", "celery.app.base"])
def test_a_django_6_removal_is_an_error_wherever_it_is_raised(category, module) -> None:
    with pytest.raises(category):
        warnings.warn_explicit("removed in Django 6.x", category, "x.py", 1, module=module)


def test_the_readme_states_the_versions_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    readme = (ROOT / "README.md").read_text()

    assert project["requires-python"] == ">=3.11"
    assert "Django>=5.2,<6" in project["dependencies"]
    assert "Tested: **Django 5.2 LTS on Python 3.11**" in readme
    assert "Not yet tested: **Django 6.0 and\n6.1**" in readme
