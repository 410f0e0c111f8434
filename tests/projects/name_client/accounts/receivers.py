"""Replicated users keep a verified primary email address, as allauth's would be after a
confirmation: the master verified it, so this project need not ask again."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from reactive_users.client import replica_signals
from tests.projects.name_client.accounts.models import EmailAddress


@receiver(replica_signals.user_created, dispatch_uid="accounts.verified_email")
@receiver(replica_signals.user_updated, dispatch_uid="accounts.verified_email")
@receiver(replica_signals.user_linked, dispatch_uid="accounts.verified_email")
def verified_email(sender: Any, user: Any, **kwargs: Any) -> None:
    """The user's email is their one verified primary address."""
    EmailAddress.objects.filter(user=user).exclude(email__iexact=user.email).delete()
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )


@receiver(replica_signals.user_deleted, dispatch_uid="accounts.emails_gone")
@receiver(replica_signals.user_withdrawn, dispatch_uid="accounts.emails_gone")
def emails_gone(sender: Any, user_id: int, **kwargs: Any) -> None:
    """The user is gone: so are their addresses (a foreign key's cascade does it too)."""
    EmailAddress.objects.filter(user_id=user_id).delete()
