"""Replicated users set their own password here through the reset flow.

They are created with an unusable password, and Django's stock ``PasswordResetForm`` skips
such users silently (only users with a usable password get the email): this form lets
replicated users through too, so a first reset is how they get a password on this client.
Other users with an unusable password (none here) stay skipped, as Django does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm


class ReplicaPasswordResetForm(PasswordResetForm):
    def get_users(self, email: str) -> Iterator[Any]:
        users = get_user_model().objects.filter(email__iexact=email, is_active=True)
        replicated = users.select_related("replica")
        return (u for u in replicated if u.has_usable_password() or hasattr(u, "replica"))
