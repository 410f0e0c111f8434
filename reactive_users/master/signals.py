"""Thin receivers on the project's user model (``AUTH_USER_MODEL``, whatever it is): each
only calls a service (see services.py, changes.py).

They are connected to ``settings.AUTH_USER_MODEL`` by its label, so Django binds them to the
model once it is loaded (a model signal's lazy sender), never to ``auth.User`` behind a swap.

``post_init`` snapshots the tracked fields as loaded, so a save detects its changes without
a SELECT and a rename never looks up the old row by username. ``pre_save`` refuses a
tracked value beyond the model's limits before anything is written (``limits.py``).
``post_delete`` runs inside the deletion's atomic block, so the delete and its outbox row
commit together.
Bulk ``QuerySet.update()`` sends no signals and so publishes nothing, as anywhere in Django.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.db.models.signals import post_delete, post_init, post_save, pre_save

from reactive_users.master import services

User = Model  # an instance of the project's user model


def user_initialised(sender: type[User], instance: User, **kwargs: Any) -> None:
    """A User was built or loaded: remember its tracked values."""
    services.user_snapshot_take(user=instance)


def user_saving(
    sender: type[User], instance: User, update_fields: Collection[str] | None = None, **kwargs: Any
) -> None:
    """A User is about to be saved: refuse published values beyond the model's limits."""
    services.user_limits_check(user=instance, update_fields=update_fields)


def user_saved(
    sender: type[User],
    instance: User,
    created: bool,
    update_fields: Collection[str] | None = None,
    **kwargs: Any,
) -> None:
    """A User was saved: record an event if a published field changed."""
    services.user_saved(user=instance, created=created, update_fields=update_fields)


def user_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    """A User was deleted: record the delete."""
    services.user_deleted(user=instance)


def connect() -> None:
    """Connect the receivers to ``AUTH_USER_MODEL`` (called from ``ReactiveMasterConfig.ready``);
    idempotent."""
    model = settings.AUTH_USER_MODEL
    post_init.connect(user_initialised, sender=model, dispatch_uid="reactive-user-init")
    pre_save.connect(user_saving, sender=model, dispatch_uid="reactive-user-limits")
    post_save.connect(user_saved, sender=model, dispatch_uid="reactive-user-save")
    post_delete.connect(user_deleted, sender=model, dispatch_uid="reactive-user-delete")
