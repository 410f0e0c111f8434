"""The outbox in the admin: operators can see what is pending and why, and change nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from reactive_users.master.models import OutboxEvent

pytestmark = pytest.mark.django_db


def test_an_operator_sees_pending_events_and_their_last_error(admin_client) -> None:
    User.objects.create_user("ana")
    event = OutboxEvent.objects.get()
    OutboxEvent.objects.filter(pk=event.pk).update(attempts=3, last_error="EndpointUnreachable")

    listing = admin_client.get("/admin/reactive_master/outboxevent/?sent_at__isempty=1")
    detail = admin_client.get(f"/admin/reactive_master/outboxevent/{event.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    assert str(event.event_id) in detail.content.decode()
    assert "EndpointUnreachable" in detail.content.decode()
    assert b'name="_save"' not in detail.content  # read-only


def test_nobody_adds_or_deletes_outbox_rows_by_hand(admin_client) -> None:
    User.objects.create_user("ana")
    event = OutboxEvent.objects.get()

    assert admin_client.get("/admin/reactive_master/outboxevent/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/reactive_master/outboxevent/{event.pk}/delete/").status_code
        == 403
    )
    assert OutboxEvent.objects.count() == 1
