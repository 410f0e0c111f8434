"""The client's record of each master user: its local User and version, a tombstone, or a
withdrawn marker."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

#: How the placeholder of a parked user's unique value starts (``apply/uniques.py``): '!' is
#: allowed neither by Django's username validator nor in an email address a form accepts,
#: so no local user can own one.
PLACEHOLDER = "!replica-"


class Replica(models.Model):
    """One master user as this client holds it; matched by master id, never by username."""

    #: The user's primary key in the master: the stable identity of a replicated user.
    master_id = models.PositiveBigIntegerField(unique=True)
    #: The local user; None once deleted (tombstone), withdrawn, or if removed locally.
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
    #: while parked (``apply.placeholder_username``): another replicated user still held
    #: it when this version arrived, and gives it back when it moves on. Indexed: every
    #: rename and delete looks up who waits for the name it frees.
    username = models.CharField(max_length=150, blank=True, default="", db_index=True)
    #: The same for the other unique fields the mapping writes (a unique email): {field:
    #: value} as the master gave them at ``version`` (``fieldmap.unique_fields``).
    wanted = models.JSONField(default=dict, blank=True)
    #: True once the master deleted the user: late creates/updates are then ignored.
    tombstone = models.BooleanField(default=False)
    #: True while the user is outside the master's published set (staff or superuser not
    #: published): no local user; a newer full state brings it back (``decide.py``).
    withdrawn = models.BooleanField(default=False)
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
            models.CheckConstraint(
                condition=models.Q(withdrawn=False) | models.Q(user__isnull=True),
                name="replica_withdrawn_has_no_user",
            ),
            models.CheckConstraint(
                condition=models.Q(tombstone=False) | models.Q(withdrawn=False),
                name="replica_not_tombstone_and_withdrawn",
            ),
        ]

    #: Declared so that type checking works under any settings module.
    objects: ClassVar[models.Manager[Replica]] = models.Manager()

    def __str__(self) -> str:
        held = " (tombstone)" if self.tombstone else " (withdrawn)" if self.withdrawn else ""
        return f"master user {self.master_id} v{self.version}{held}"


class TokenGeneration(models.Model):
    """How many times a user logged out on this client: a stream token carries the value it
    was issued at, and stops opening (and holding) sockets once a logout moves it on."""

    #: The local user's id: a plain number, not a foreign key, so that deleting a user (the
    #: listener applying a delete) costs no query here. A row left behind is harmless: a
    #: user with that id would only start counting from its value.
    user_id = models.PositiveBigIntegerField(primary_key=True)
    value = models.PositiveBigIntegerField(default=0)

    #: Declared so that type checking works under any settings module.
    objects: ClassVar[models.Manager[TokenGeneration]] = models.Manager()

    def __str__(self) -> str:
        return f"user {self.pk} token generation {self.value}"
