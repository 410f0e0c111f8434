"""The master app's models under the label ``users`` (frozen: tables and indexes named
after that label, as its migrations here created them)."""

from django.db import models
from django.db.models import Q


class UserVersion(models.Model):
    user_id = models.BigIntegerField(primary_key=True, help_text="The master user's id.")
    version = models.PositiveBigIntegerField(default=0)


class OutboxEvent(models.Model):
    ACTIONS = [(a, a) for a in ("created", "updated", "deleted", "withdrawn")]

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, editable=False)
    user_id = models.BigIntegerField(db_index=True)
    action = models.CharField(max_length=16, choices=ACTIONS)
    version = models.PositiveBigIntegerField()
    body = models.TextField(help_text="reactive_users.core.contract.encode(envelope)")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    claim = models.UUIDField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"], condition=Q(sent_at__isnull=True), name="users_outbox_pending"
            ),
            models.Index(
                fields=["retry_at"], condition=Q(sent_at__isnull=True), name="users_outbox_retry"
            ),
            models.Index(
                fields=["created_at"], condition=Q(sent_at__isnull=False), name="users_outbox_sent"
            ),
        ]
