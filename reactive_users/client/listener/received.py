"""A received SQS message made into an event: its signature checked, its body decoded.

Only the master's keys speak (``reactive_users.core.signing``): nothing of an unsigned body
is even parsed. A message that is not signed or does not decode is refused for good (it
goes to the dead-letter queue), logged once per receive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from reactive_users.client.apply import Delivery, Handled
from reactive_users.client.failures import classify
from reactive_users.core import signing
from reactive_users.core.contract import decode_sqs_body
from reactive_users.core.errors import ContractError, SignatureError
from reactive_users.core.signing import KeyRing

logger = logging.getLogger(__name__)

SQSMessage = Mapping[str, Any]


def decode(messages: Iterable[SQSMessage], keys: KeyRing) -> tuple[list[Delivery], list[Handled]]:
    """The events of ``messages`` whose signature holds and body decodes, each with its
    message; and the others, refused (``Handled`` with a permanent failure)."""
    deliveries: list[Delivery] = []
    refused: list[Handled] = []
    for message in messages:
        try:
            signing.verify_message(message, keys)
        except SignatureError as exc:
            logger.warning(
                "event ? message %s (receive %s): not signed by the master, for the "
                "dead-letter queue: %s",
                message_id(message),
                receives(message),
                exc,
            )
            refused.append(Handled(message, None, failure=classify(exc)))
            continue
        try:
            event = decode_sqs_body(message.get("Body", ""))
        except ContractError as exc:
            logger.warning(
                "event ? message %s (receive %s): malformed, for the dead-letter queue: %s",
                message_id(message),
                receives(message),
                exc,
            )
            refused.append(Handled(message, None, failure=classify(exc)))
            continue
        deliveries.append(
            Delivery(
                message,
                event,
                message_id=message_id(message),
                receives=receives(message),
                receive_count=receive_count(message),
            )
        )
    return deliveries, refused


def message_id(message: SQSMessage) -> str:
    """The message's id, for logs ("?" if absent)."""
    return str(message.get("MessageId", "?"))


def receives(message: SQSMessage) -> str:
    """The message's receive count as SQS reported it, for logs ("?" if absent)."""
    return str(message.get("Attributes", {}).get("ApproximateReceiveCount", "?"))


def receive_count(message: SQSMessage) -> int:
    """The message's receive count (0 if absent)."""
    raw = receives(message)
    return int(raw) if raw.isdigit() else 0
