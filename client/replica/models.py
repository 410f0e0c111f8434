"""The client's record of each master user: its local User and version, or a tombstone."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class Replica(models.Model):
    """One master user as this client holds it; matched by master id, never by username."""

    #: The user's primary key in the master: the stable identity of a replicated user.
    master_id = models.PositiveBigIntegerField(unique=True)
    #: The local user; None once deleted (tombstone) or if removed locally.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replica",
    )
    #: The master's per-user version of the last event applied.
    version = models.PositiveBigIntegerField()
    #: The username the master gave this user at ``version``. The local user's differs only
    #: while parked (``services.placeholder_username``): another replicated user still held
    #: it when this version arrived, and gives it back when it moves on. Indexed: every
    #: rename and delete looks up who waits for the name it frees.
    username = models.CharField(max_length=150, blank=True, default="", db_index=True)
    #: True once the master deleted the user: late creates/updates are then ignored.
    tombstone = models.BooleanField(default=False)
    #: Replicated fields this client stores cut to its limit (REACTIVE_OVERSIZE_POLICY=truncate)
    #: and that limit, as ``first_name=30,last_name=30``; "" when every value is whole
    #: (``limits.py``). Set by every upsert: ``reactive diff`` reads it, whatever the limits
    #: of the environment it runs in.
    truncated = models.CharField(max_length=200, blank=True, default="")
    #: The event that produced this state (for logs and support).
    last_event_id = models.UUIDField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(master_id__gte=1), name="replica_master_id_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="replica_version_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(tombstone=False) | models.Q(user__isnull=True),
                name="replica_tombstone_has_no_user",
            ),
        ]

    #: Declared so that type checking works under any settings module.
    objects: ClassVar[models.Manager[Replica]] = models.Manager()

    def __str__(self) -> str:
        return f"master user {self.master_id} v{self.version}" + (
            " (tombstone)" if self.tombstone else ""
        )
