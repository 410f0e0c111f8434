"""How a replicated user logs in to this client: with a password of their own, set through
the project's password-reset flow (``accounts/forms.py``): at the form level, and through the
project's reset pages with Django's test client (in Chromium on real parts:
``tests/custom_pair/test_live_page.py``)."""

from __future__ import annotations

import re

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


def test_the_projects_reset_pages_mail_a_replicated_user_a_link_that_sets_the_password(
    client, mailoutbox
):
    apply(created(2, "bea@example.com", "Bea"))
    page = client.post("/password-reset/", {"email": "BEA@example.com"})
    assert page.status_code == 302 and page["Location"] == "/password-reset/sent/"
    [mail] = mailoutbox
    assert mail.to == ["bea@example.com"]
    [link] = re.findall(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", mail.body)

    form = client.get(link)  # the token moves into the session; the form is at set-password/
    assert form.status_code == 302
    done = client.post(
        form["Location"], {"new_password1": "bea-Passw0rd", "new_password2": "bea-Passw0rd"}
    )
    assert done["Location"] == "/password-reset/done/"
    assert client.login(email="bea@example.com", password="bea-Passw0rd")


def test_a_reset_link_mailed_before_the_master_changes_the_email_no_longer_works():
    apply(created(3, "cid@example.com", "Cid"))
    user = person(3)
    token = default_token_generator.make_token(user)  # mailed to cid@example.com
    apply(event(3, email="cid@new.example.com", name="Cid", is_active=True))
    assert not default_token_generator.check_token(person(3), token)
