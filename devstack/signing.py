"""The signing keys every test process uses, and signing for messages tests craft.

``tests/conftest.py`` puts ``KEYS_TEXT`` in the environment, so the master in the test
process and every client, worker and CLI subprocess sign and verify with the same keys,
as a deployment configures them. Fixed, test-only secrets: never a real key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from reactive_users.core import signing
from reactive_users.core.contract import Envelope, encode

#: Two keys: the current one first; ``OLD_KEY`` stands for a key being rotated out.
CURRENT_KEY = "test-k2:" + base64.urlsafe_b64encode(b"reactive-users test key two 32by").decode()
OLD_KEY = "test-k1:" + base64.urlsafe_b64encode(b"reactive-users test key one 32by").decode()
#: A key no component accepts (an attacker's).
FOREIGN_KEY = "test-k2:" + base64.urlsafe_b64encode(b"an attacker's key, 32 bytes long").decode()
KEYS_TEXT = CURRENT_KEY
KEYS = signing.parse_keys(KEYS_TEXT)


def attributes(body: str, *, action: str = "updated", keys: str = KEYS_TEXT) -> dict[str, Any]:
    """The message attributes that sign ``body`` as the master does (with ``keys``' first)."""
    return signing.attributes(body, signing.parse_keys(keys), action=action)


def sqs_messages(events: Iterable[Envelope]) -> list[dict[str, Any]]:
    """The messages one ReceiveMessage would hand the listener for ``events``, signed."""
    return [
        {
            "MessageId": str(event.event_id),
            "ReceiptHandle": f"handle-{i}",
            "Body": (body := encode(event)),
            "Attributes": {"ApproximateReceiveCount": "1"},
            "MessageAttributes": attributes(body, action=event.action.value),
        }
        for i, event in enumerate(events)
    ]
