"""Signed envelopes: only a holder of a signing key can speak on the topic. Stdlib only.

Every envelope the master publishes (the relay), sends to one queue (backfill, repair) or
the operator publishes (``reactive emit-test``) carries an HMAC-SHA256 of its exact body,
made with a key that master, clients and the operator's CLI are configured with
(``REACTIVE_SIGNING_KEYS``; never Django's SECRET_KEY). A listener verifies it before it
decodes anything (``reactive_users/client/listener/received.py``); an unsigned or wrongly
signed message is refused for good (``SignatureError``) and dead-lettered with that reason.

Where it travels: one SNS/SQS message attribute, so the body's wire format (and every
golden envelope) is unchanged::

    reactive.signature (String) = "v1:<key id>:<64 hex digits>"

``v1`` names the scheme: HMAC-SHA256 over the body's UTF-8 bytes, hex digest. The key id
selects the key, so keys rotate without downtime: the master signs with one current key,
clients accept every key they list. Golden form: ``tests/unit/data/signed_envelope_v1.json``.

The attribute survives every path a message takes: raw delivery (an SQS message attribute),
PublishBatch and SendMessageBatch (set per entry), the listener's own dead-lettering and
``reactive dlq redrive`` (both keep the original attributes; they only add and strip
``reactive.dlq.*``). Without raw delivery SNS wraps the body in a JSON notification and
moves the attributes into it (``"MessageAttributes": {"reactive.signature": {"Type":
"String", "Value": ...}}``); ``signed_part`` reads either form, and the signature covers the
wrapped ``Message``, which is what the decoder then reads. A listener older than signing
ignores the attribute.

Keys are written ``key id:secret``, comma-separated; the secret is base64 (standard or
URL-safe, padding optional) of at least ``MIN_KEY_BYTES`` random bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reactive_users.core.errors import ConfigError, SignatureError

#: The message attribute that carries the signature.
ATTRIBUTE = "reactive.signature"
#: The signing scheme written first in the attribute: HMAC-SHA256 of the body, hex.
SCHEME = "v1"
#: Fewest secret bytes a key may have (HMAC-SHA256's block of security: 256 bits).
MIN_KEY_BYTES = 32
#: Bytes of a generated key's secret.
GENERATED_KEY_BYTES = 32
#: What a key id may be: it travels in every message and names the key in logs.
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
#: How to make a key, for error messages and docs.
HOW_TO_MAKE = (
    "make one with: python -c \"import secrets; print('k1:' + secrets.token_urlsafe(32))\""
)
_DIGEST_HEX = re.compile(r"^[0-9a-f]{64}$")
#: Longest attribute value considered: anything longer is no signature of ours.
_MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class SigningKey:
    """One key: its id (public, in every message) and its secret (never shown)."""

    key_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyRing:
    """The keys a component holds: every one is accepted; ``current`` is the one it signs
    with (the master's; clients only verify)."""

    keys: tuple[SigningKey, ...]
    current: str

    def __post_init__(self) -> None:
        ids = [k.key_id for k in self.keys]
        if not ids:
            raise ConfigError("no signing key given")
        if len(set(ids)) != len(ids):
            raise ConfigError(f"a signing key id is listed twice: {', '.join(ids)}")
        if self.current not in ids:
            raise ConfigError(
                f"REACTIVE_SIGNING_KEY_ID={self.current!r} is not among REACTIVE_SIGNING_KEYS' "
                f"ids ({', '.join(ids)}): name one of them"
            )

    @property
    def signer(self) -> SigningKey:
        """The key this component signs with."""
        return next(k for k in self.keys if k.key_id == self.current)

    def key(self, key_id: str) -> SigningKey | None:
        """The accepted key of that id, if any."""
        return next((k for k in self.keys if k.key_id == key_id), None)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self.keys)


def parse_keys(text: str, current: str | None = None) -> KeyRing:
    """``REACTIVE_SIGNING_KEYS`` (``id:secret,id:secret``) and the id the component signs
    with (``REACTIVE_SIGNING_KEY_ID``; default the first); ``ConfigError`` saying what is
    wrong and how to fix it."""
    keys = tuple(_parse_key(item.strip()) for item in text.split(",") if item.strip())
    if not keys:
        raise ConfigError(f"REACTIVE_SIGNING_KEYS is empty: give id:secret pairs ({HOW_TO_MAKE})")
    return KeyRing(keys, current.strip() if current and current.strip() else keys[0].key_id)


def _parse_key(item: str) -> SigningKey:
    key_id, sep, secret = item.partition(":")
    key_id = key_id.strip()
    if not sep or not _KEY_ID.match(key_id):
        raise ConfigError(
            f"REACTIVE_SIGNING_KEYS entry {key_id[:40]!r} is not id:secret with an id of "
            "1-32 letters, digits, '.', '_' or '-'"
        )
    raw = _b64decode(secret.strip())
    if raw is None:
        raise ConfigError(f"REACTIVE_SIGNING_KEYS: the secret of key {key_id!r} is not base64")
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigError(
            f"REACTIVE_SIGNING_KEYS: key {key_id!r} is {len(raw)} bytes, fewer than "
            f"{MIN_KEY_BYTES}: {HOW_TO_MAKE}"
        )
    return SigningKey(key_id, raw)


def _b64decode(text: str) -> bytes | None:
    normal = text.replace("-", "+").replace("_", "/")
    normal += "=" * (-len(normal) % 4)
    try:
        return base64.b64decode(normal, validate=True)
    except (binascii.Error, ValueError):
        return None


def generate_key(key_id: str) -> str:
    """A new ``id:secret`` entry of GENERATED_KEY_BYTES random bytes (URL-safe base64)."""
    if not _KEY_ID.match(key_id):
        raise ValueError(f"bad key id {key_id!r}")
    return f"{key_id}:{secrets.token_urlsafe(GENERATED_KEY_BYTES)}"


def digest(body: str, key: SigningKey) -> str:
    """The hex HMAC-SHA256 of ``body``'s UTF-8 bytes under ``key``."""
    return hmac.new(key.secret, body.encode(), hashlib.sha256).hexdigest()


def signature(body: str, ring: KeyRing) -> str:
    """The attribute value that signs ``body`` with the ring's current key."""
    key = ring.signer
    return f"{SCHEME}:{key.key_id}:{digest(body, key)}"


def attributes(body: str, ring: KeyRing, *, action: str) -> dict[str, dict[str, str]]:
    """The message attributes (SNS and SQS take the same shape) every envelope travels
    with: its ``action`` (for subscription filter policies) and the signature of ``body``."""
    return {
        "action": {"DataType": "String", "StringValue": action},
        ATTRIBUTE: {"DataType": "String", "StringValue": signature(body, ring)},
    }


def verify(body: str, value: str | None, ring: KeyRing) -> str:
    """Check that ``value`` signs ``body`` with a key of ``ring``; the key id, else
    ``SignatureError`` saying why (no signature, unknown key, does not match)."""
    if value is None:
        raise SignatureError(f"unsigned: no {ATTRIBUTE} attribute; only the master can publish")
    scheme, _, rest = value[:_MAX_VALUE_CHARS].partition(":")
    key_id, _, given = rest.partition(":")
    if scheme != SCHEME or not _KEY_ID.match(key_id) or not _DIGEST_HEX.match(given):
        raise SignatureError(f"malformed {ATTRIBUTE} attribute (expected {SCHEME}:<key id>:<hex>)")
    key = ring.key(key_id)
    if key is None:
        raise SignatureError(
            f"signed with key {key_id!r}, which this client does not accept "
            f"(accepted: {', '.join(ring.key_ids)})"
        )
    if not hmac.compare_digest(digest(body, key), given):
        raise SignatureError(f"signature does not match the body (key {key_id!r})")
    return key_id


def signed_part(message: Mapping[str, Any]) -> tuple[str, str | None]:
    """The signed text of a received SQS message and its signature (None: none).

    Raw delivery: the body, and the SQS message attribute. An SNS notification (no raw
    delivery) carries no SQS attribute: its ``Message`` and the attribute SNS put in it.
    """
    body = str(message.get("Body", ""))
    sqs_attribute = message.get("MessageAttributes", {}).get(ATTRIBUTE)
    if sqs_attribute is not None:
        return body, _text(sqs_attribute.get("StringValue"))
    wrapped = _notification(body)
    if wrapped is None:
        return body, None
    inner, tags = wrapped
    value = tags.get(ATTRIBUTE) if isinstance(tags, dict) else None
    return inner, _text(value.get("Value")) if isinstance(value, dict) else None


def verify_message(message: Mapping[str, Any], ring: KeyRing) -> str:
    """``verify`` a received SQS message (raw or SNS-wrapped); the key id."""
    body, value = signed_part(message)
    return verify(body, value, ring)


def _notification(body: str) -> tuple[str, Any] | None:
    """(Message, MessageAttributes) of an SNS notification body, else None."""
    if '"Notification"' not in body:  # cheap: raw envelopes never parse twice
        return None
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not (isinstance(obj, dict) and obj.get("Type") == "Notification"):
        return None
    inner = obj.get("Message")
    return (inner, obj.get("MessageAttributes", {})) if isinstance(inner, str) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
