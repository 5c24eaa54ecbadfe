"""The audit events admin: a read-only list. Events are never added, changed or deleted here."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from audit.models import AuditEvent

# Target types (model names) the trail links to, and their admin's app.
_TARGET_APPS = {"user": "accounts", "apikey": "apikeys", "organization": "tenants"}


def _change_link(app_label: str, model_name: str, pk: object, text: object) -> str:
    try:
        url = reverse(f"admin:{app_label}_{model_name}_change", args=[quote(pk)])
    except NoReverseMatch:
        return str(text)
    return format_html('<a href="{}">{}</a>', url, text)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "action",
        "actor_link",
        "api_key_link",
        "organization_link",
        "target",
        "ip",
        "request_id",
    ]
    list_select_related = ["actor", "api_key", "organization"]
    list_filter = ["action", "organization", "created_at"]
    # Two queries per page: the first and last dates (indexed), and the distinct years,
    # months or days between them, which scans the events in that range.
    date_hierarchy = "created_at"
    search_fields = ["actor__email", "api_key__id", "ip", "request_id"]
    search_help_text = "Actor email, key id (ak_…), IP address or request id."
    fields = [
        "created_at",
        "action",
        "actor_link",
        "api_key_link",
        "organization_link",
        "target",
        "ip",
        "user_agent",
        "request_id",
        "detail",
    ]
    readonly_fields = fields

    @admin.display(description="actor", ordering="actor__email")
    def actor_link(self, event: AuditEvent) -> str:
        if event.actor is None:
            return "-"
        return _change_link("accounts", "user", event.actor_id, event.actor.email)

    @admin.display(description="API key", ordering="api_key_id")
    def api_key_link(self, event: AuditEvent) -> str:
        if event.api_key is None:
            return "-"
        return _change_link("apikeys", "apikey", event.api_key_id, event.api_key)

    @admin.display(description="organization", ordering="organization__name")
    def organization_link(self, event: AuditEvent) -> str:
        if event.organization is None:
            return "-"
        return _change_link("tenants", "organization", event.organization_id, event.organization)

    @admin.display(description="target")
    def target(self, event: AuditEvent) -> str:
        if not event.target_type:
            return "-"
        text = f"{event.target_type} {event.target_id}"
        app_label = _TARGET_APPS.get(event.target_type)
        if app_label is None:
            return text
        # A link without a query: the target may since have been deleted, and then the
        # admin says so on the page it leads to.
        return _change_link(app_label, event.target_type, event.target_id, text)

    # Append-only: the model refuses changes and deletes; the admin offers none.

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
