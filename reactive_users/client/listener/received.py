"""A received SQS message made into an event: its signature checked, its body decoded.

Only the master's keys speak (``reactive_users.core.signing``): nothing of an unsigned body
is even parsed. A message that is not signed or does not decode is refused for good (it
goes to the dead-letter queue), logged once per receive.

A multi-event message (schema 2, ``reactive_users.core.contract``) becomes one delivery per
event, each carrying the same SQS message. Each event is verified and decoded on its own:
one that fails is refused alone, with ``letter``, the single-event message that goes to the
dead-letter queue for it (its own body, the message's ``action`` and its own signature).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from reactive_users.client.apply import Delivery, Handled
from reactive_users.client.failures import classify
from reactive_users.core import signing
from reactive_users.core.contract import Envelope, MultiEvent, decode_message
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
            decoded = decode_message(message.get("Body", ""))
        except ContractError as exc:
            logger.warning(
                "event ? message %s (receive %s): malformed, for the dead-letter queue: %s",
                message_id(message),
                receives(message),
                exc,
            )
            refused.append(Handled(message, None, failure=classify(exc)))
            continue
        if isinstance(decoded, Envelope):
            deliveries.append(_delivery(message, decoded))
        else:
            _unpack(message, decoded, keys, deliveries, refused)
    return deliveries, refused


def _delivery(message: SQSMessage, event: Envelope, letter: SQSMessage | None = None) -> Delivery:
    return Delivery(
        message,
        event,
        message_id=message_id(message),
        receives=receives(message),
        receive_count=receive_count(message),
        letter=letter,
    )


def _unpack(
    message: SQSMessage,
    decoded: MultiEvent,
    keys: KeyRing,
    deliveries: list[Delivery],
    refused: list[Handled],
) -> None:
    """Each event of a multi-event message: a delivery, or refused alone with its letter."""
    for index, part in enumerate(decoded.parts):
        try:
            signing.verify(part.body, part.signature, keys)
            event = decoded.event(index)
        except (SignatureError, ContractError) as exc:
            logger.warning(
                "event ? (#%d) message %s (receive %s): %s, for the dead-letter queue: %s",
                index,
                message_id(message),
                receives(message),
                "not signed by the master" if isinstance(exc, SignatureError) else "malformed",
                exc,
            )
            letter = part_letter(message, decoded, index)
            refused.append(Handled(message, None, failure=classify(exc), letter=letter))
            continue
        deliveries.append(_delivery(message, event, part_letter(message, decoded, index)))


def part_letter(message: SQSMessage, decoded: MultiEvent, index: int) -> dict[str, Any]:
    """Event ``index`` of a multi-event ``message`` as the single-event message the master
    would have sent: its body, the ``action`` and its own signature; the carrier's system
    attributes, and its id with ``#index`` (also a FIFO letter's deduplication id)."""
    part = decoded.parts[index]
    return {
        "MessageId": f"{message_id(message)}#{index}",
        "Body": part.body,
        "Attributes": dict(message.get("Attributes", {})),
        "MessageAttributes": {
            "action": {"DataType": "String", "StringValue": decoded.action.value},
            signing.ATTRIBUTE: {"DataType": "String", "StringValue": part.signature},
        },
    }


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
