"""The master's pure rules load neither boto3 nor Django: the relay's pacing, backoff and
claim rules, the change decisions and the snapshot text, each imported alone in a fresh
interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "reactive_users.master.relay.pacing",
    "reactive_users.master.relay.retry",
    "reactive_users.master.relay.claims",
    "reactive_users.master.changes",
    "reactive_users.master.snapshots.text",
]


@pytest.mark.parametrize("module", PURE)
def test_a_pure_master_module_imports_no_boto3_and_no_django(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "print(' '.join(m for m in ('boto3', 'botocore', 'django') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == ""
