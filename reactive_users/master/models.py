"""The transactional outbox and the per-user version counter.

Neither refers to ``auth.User`` by foreign key: both must outlive the user they describe
(a delete is itself an event, and its version must stay above every earlier one).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from reactive_users.core.contract import Action

#: What the outbox records: the actions of live changes (not ``Action.SNAPSHOT``), a user
#: leaving the published set included.
LIVE_ACTIONS = (Action.CREATED, Action.UPDATED, Action.DELETED, Action.WITHDRAWN)


class UserVersion(models.Model):
    """The last version given to a master user's events; strictly increasing in commit order."""

    user_id = models.BigIntegerField(primary_key=True, help_text="The master user's id.")
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        # Fixed, whatever label the project gives the app (labels.py).
        db_table = "reactive_master_userversion"

    def __str__(self) -> str:
        return f"user {self.user_id} v{self.version}"


class OutboxEvent(models.Model):
    """One encoded event, written in the same transaction as the user change it describes."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, editable=False)
    user_id = models.BigIntegerField(db_index=True)
    #: Live events only: snapshots (backfill, repair) go straight to one client's queue.
    action = models.CharField(max_length=16, choices=[(a.value, a.value) for a in LIVE_ACTIONS])
    version = models.PositiveBigIntegerField()
    body = models.TextField(help_text="reactive_users.core.contract.encode(envelope)")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    #: The relay run publishing this row right now, and until when other runs leave it alone.
    claim = models.UUIDField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True)
    #: After a failed attempt, the relay leaves the row alone until then (``retry.py``);
    #: None for a row never tried or never failed, which the relay takes at once.
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Fixed, whatever label the project gives the app (labels.py).
        db_table = "reactive_master_outboxevent"
        indexes = [
            # The relay's query: pending rows in id order (claimed ones are still pending; rows
            # in flight or waiting to retry are filtered out by claimed_until and retry_at on
            # this index's rows, which are only the unsent ones).
            models.Index(
                fields=["id"],
                condition=Q(sent_at__isnull=True),
                name="reactive_master_outbox_pending",
            ),
            # The same query while many rows wait out a backoff (an SNS outage): PostgreSQL
            # finds the few due ones here (retry_at IS NULL OR <= now) instead of reading every
            # pending row.
            models.Index(
                fields=["retry_at"],
                condition=Q(sent_at__isnull=True),
                name="reactive_master_outbox_retry",
            ),
            # The retention sweep's query (``retention.py``): sent rows oldest first,
            # so that a sweep with nothing to delete reads one index entry, not the table.
            models.Index(
                fields=["created_at"],
                condition=Q(sent_at__isnull=False),
                name="reactive_master_outbox_sent",
            ),
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else "claimed" if self.claim else "pending"
        return f"{self.action} user {self.user_id} v{self.version} ({self.event_id}, {state})"
