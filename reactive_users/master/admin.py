"""Read-only admin pages for the outbox, so operators can see what is pending and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from reactive_users.master.models import OutboxEvent

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[OutboxEvent]
else:  # ModelAdmin is generic only in django-stubs
    _ModelAdmin = admin.ModelAdmin


@admin.register(OutboxEvent)
class OutboxEventAdmin(_ModelAdmin):
    """Outbox rows, newest first; written only by the services, never by hand."""

    list_display = [
        "id",
        "action",
        "user_id",
        "version",
        "created_at",
        "sent_at",
        "attempts",
        "claimed_until",
    ]
    list_filter = [("sent_at", admin.EmptyFieldListFilter), "action"]
    search_fields = ["=event_id", "=user_id"]
    ordering = ["-id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False
