"""Receivers that end the sockets whose credentials ended; each only calls ``signouts.py``.

A logout (``user_logged_out``), a session row deleted (a logout's flush, a session removed
by the ORM, ``clearsessions`` of unexpired rows) and a password saved with ``set_password``.
Changes that send no signal (raw SQL, ``QuerySet.update``) are caught by the sockets'
periodic check.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.models import Session
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from reactive_users.client import signouts


@receiver(user_logged_out, dispatch_uid="replica.logout_ends_sockets")
def logout_ends_sockets(sender: Any, user: Any = None, **kwargs: Any) -> None:
    """A logout voids the user's stream tokens and makes their sockets check at once."""
    if user is None or not user.pk:
        return
    signouts.token_generation_advance(user_id=user.pk)
    signouts.sockets_recheck(user_id=user.pk)


@receiver(post_delete, sender=Session, dispatch_uid="replica.session_deleted_ends_sockets")
def session_deleted_ends_sockets(sender: Any, instance: Session, **kwargs: Any) -> None:
    """A deleted session row ends the sockets it opened (an expired one's ended already)."""
    if instance.expire_date <= timezone.now():
        return
    user_id = instance.get_decoded().get(SESSION_KEY)
    if isinstance(user_id, str) and user_id.isdigit():
        signouts.sockets_recheck(user_id=int(user_id))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="replica.password_ends")
def password_change_ends_sockets(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A password saved through ``set_password`` ends the sessions and tokens made before."""
    # AbstractBaseUser.save() holds the new raw password in _password until after post_save:
    # the one sign that this save changed it (the listener's saves never do).
    if getattr(instance, "_password", None) is not None:
        signouts.sockets_recheck(user_id=instance.pk)
