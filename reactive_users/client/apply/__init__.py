"""Applying events to this client's users: one event (``event``), a received batch in one
transaction (``batch``), what a batch reads once (``reads``), unique values (usernames,
unique emails) passing between users (``uniques``) and the payload as stored (``values``)."""

from reactive_users.client.apply.batch import (
    BatchApplied,
    Delivery,
    Handled,
    StopRequest,
    apply_batch,
)
from reactive_users.client.apply.event import ApplyResult, event_apply
from reactive_users.client.apply.reads import BatchReads, batch_reads
from reactive_users.client.apply.uniques import placeholder_username

__all__ = [
    "ApplyResult",
    "BatchApplied",
    "BatchReads",
    "Delivery",
    "Handled",
    "StopRequest",
    "apply_batch",
    "batch_reads",
    "event_apply",
    "placeholder_username",
]
