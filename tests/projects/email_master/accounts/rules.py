"""Who the fleet's clients must not hold: the company's own accounts."""

from __future__ import annotations

from typing import Any


def is_internal(user: Any) -> bool:
    return str(user.email).endswith("@internal.example")
