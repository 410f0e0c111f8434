"""What each security probe tried and what came of it, for docs/security.md's table.

A probe test calls ``record(...)`` with what it observed BEFORE asserting it, so that a
failing run shows the failure in the report too. Records are JSON lines appended to
``$REACTIVE_SECURITY_LOG`` (``scripts/test`` sets it; default ``build/security.jsonl``);
``scripts/security-report`` renders them between the markers of docs/security.md. Write
ports and generated names as placeholders (``{shop}``), so the table does not change with
every run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

#: Where records go when ``REACTIVE_SECURITY_LOG`` is not set.
DEFAULT_LOG = Path(__file__).resolve().parents[2] / "build" / "security.jsonl"


@dataclass(frozen=True, kw_only=True)
class Probe:
    """One attack tried against real processes, what should happen and what did.

    ``area`` groups the table ("websocket: credentials", "websocket: origin", ...);
    ``test`` is the pytest node id of the test that tried it.
    """

    area: str
    attack: str
    expected: str
    observed: str
    test: str
    at: float = 0.0


def log_path() -> Path:
    """The JSON-lines file records are appended to."""
    return Path(os.environ.get("REACTIVE_SECURITY_LOG") or DEFAULT_LOG)


def record(*, area: str, attack: str, expected: str, observed: str) -> Probe:
    """Append one probe's outcome to the log (the current test named); returns it."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "unknown").rsplit(" ", 1)[0]
    entry = Probe(
        area=area,
        attack=attack,
        expected=expected,
        observed=observed,
        test=current,
        at=time.time(),
    )
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(entry)) + "\n")
    return entry
