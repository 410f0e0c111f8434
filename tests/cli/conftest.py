"""Running ``reactive`` as an operator would: through ``main()``'s error handling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reactive_cli.main import main


@dataclass(frozen=True)
class Ran:
    """What one ``reactive`` run printed and its exit code."""

    code: int
    out: str
    err: str


Reactive = Callable[..., Ran]


@pytest.fixture
def reactive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> Reactive:
    """``reactive(*args, **env)`` in an empty working directory, against the private moto."""
    monkeypatch.chdir(tmp_path)
    base = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REACTIVE_STATE_DIR": str(tmp_path / "state"),
        "REACTIVE_CONFIG": None,
        "REACTIVE_PREFIX": None,
        "REACTIVE_TOPIC_ARN": None,
        "COLUMNS": "120",
    }

    def run(*args: str, **env: str | None) -> Ran:
        with CliRunner().isolation(env={**base, **env}) as (out, err, _):
            code = main(list(args))
            return Ran(code, out.getvalue().decode(), err.getvalue().decode())

    return run


def write_config(directory: Path, text: str) -> Path:
    """A reactive.toml in ``directory``."""
    path = directory / "reactive.toml"
    path.write_text(text)
    return path
