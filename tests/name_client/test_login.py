"""How a replicated user logs in to this client: with a password of their own, set through
the project's password-reset flow (``accounts/forms.py``), end to end at the form level."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.contrib.auth.tokens import default_token_generator

from tests.name_client.test_apply import apply, created, event, person
from tests.projects.name_client.accounts.forms import ReplicaPasswordResetForm

pytestmark = pytest.mark.django_db


def test_a_replicated_user_sets_a_password_through_the_reset_flow_and_logs_in():
    apply(created(1, "ana@example.com", "Ana"))
    user = person(1)
    assert not user.has_usable_password()
    assert authenticate(email="ana@example.com", password="") is None
    # Django's stock form skips users with an unusable password: no email would go out
    assert list(PasswordResetForm().get_users("ana@example.com")) == []
    [found] = ReplicaPasswordResetForm().get_users("ANA@example.com")
    assert found.pk == user.pk

    token = default_token_generator.make_token(found)  # what the reset email carries
    assert default_token_generator.check_token(found, token)
    form = SetPasswordForm(
        found, {"new_password1": "a-new-Passw0rd", "new_password2": "a-new-Passw0rd"}
    )
    assert form.is_valid(), form.errors
    form.save()

    assert authenticate(email="ana@example.com", password="a-new-Passw0rd").pk == user.pk
    assert not default_token_generator.check_token(person(1), token)  # used up
    # Later events from the master leave the password alone
    apply(event(1, email="ana@example.com", name="Ana Souza", is_active=True))
    assert person(1).full_name == "Ana Souza"
    assert authenticate(email="ana@example.com", password="a-new-Passw0rd") is not None
