"""What each fault test tried and what came through, for docs/reliability.md.

A fault test calls ``record(...)`` once with its counts BEFORE asserting them, so that a
failing run shows its losses in the report too. Records are JSON lines appended to
``$REACTIVE_RELIABILITY_LOG`` (``scripts/test`` sets it; default
``build/reliability.jsonl``); ``scripts/reliability-report`` turns them into the table.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

#: Where records go when ``REACTIVE_RELIABILITY_LOG`` is not set.
DEFAULT_LOG = Path(__file__).resolve().parents[2] / "build" / "reliability.jsonl"


@dataclass(frozen=True, kw_only=True)
class Record:
    """One fault test's outcome.

    ``fault`` is the issue's number and name of the fault ("1. listener SIGKILLed
    mid-stream"); ``sent`` the events the test made; ``checked`` the deliveries it verified
    (events x clients, sockets x frames, ...); ``lost`` those that never arrived;
    ``diverged`` users (or sockets) whose final state differs from the master's.
    """

    fault: str
    test: str
    sent: int
    checked: int
    lost: int
    diverged: int
    detail: str = ""
    at: float = 0.0


def log_path() -> Path:
    """The JSON-lines file records are appended to."""
    return Path(os.environ.get("REACTIVE_RELIABILITY_LOG") or DEFAULT_LOG)


def record(
    *,
    fault: str,
    test: str,
    sent: int,
    checked: int,
    lost: int,
    diverged: int,
    detail: str = "",
) -> Record:
    """Append one outcome to the log; returns it."""
    entry = Record(
        fault=fault,
        test=test,
        sent=sent,
        checked=checked,
        lost=lost,
        diverged=diverged,
        detail=detail,
        at=time.time(),
    )
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(entry)) + "\n")
    return entry
