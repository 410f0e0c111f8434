"""CPU cost of signing (the master, per event published) and verifying (a listener, per
message received) an envelope, beside decoding it: ``python -m bench.signing``."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from reactive_users.core import signing
from reactive_users.core.contract import decode_sqs_body

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "unit" / "data" / "signed_envelope_v1.json"


def per_call_us(fn: Callable[[], object], count: int, rounds: int = 3) -> float:
    """The best of ``rounds`` process-CPU microseconds per call, over ``count`` calls."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            fn()
        best = min(best, (time.process_time() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    golden = json.loads(GOLDEN.read_text())
    ring, body = signing.parse_keys(golden["key"]), golden["body"]
    message = {"Body": body, "MessageAttributes": golden["message_attributes"]}
    print(f"one {len(body)}-byte envelope, CPU microseconds per event (best of 3):")
    for name, fn in (
        ("sign (the master)", lambda: signing.attributes(body, ring, action="updated")),
        ("verify (a listener)", lambda: signing.verify_message(message, ring)),
        ("decode, for scale", lambda: decode_sqs_body(body)),
    ):
        print(f"  {name:22} {per_call_us(fn, args.count):6.2f}")


if __name__ == "__main__":
    main()
