"""The users admin: who has an account, where, with how many keys; deactivate, re-verify."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import Count, Model, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User
from accounts.services import user_deactivate, user_reactivate, verification_email_queue
from apikeys.models import ApiKey
from tenants.models import Membership


def confirm_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    question: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    confirm_label: str,
    note: str = "",
) -> TemplateResponse:
    """The intermediate page of a consequential action, as delete_selected has: it lists the
    selection (only the given columns) and posts it back to `action` with post=yes."""
    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": modeladmin.model._meta,
        "queryset": queryset,
        "action": action,
        "question": question,
        "note": note,
        "headers": headers,
        "rows": list(rows),
        "confirm_label": confirm_label,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    return TemplateResponse(request, "admin/action_confirmation.html", context)


def count_of(queryset: QuerySet, field: str) -> Coalesce:
    """A correlated COUNT of `queryset` rows whose `field` is the outer row: one subquery per
    list, not a query per row, and no join that would multiply the outer rows."""
    rows = (
        queryset.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


class MembershipInline(admin.TabularInline):
    """The user's organizations and roles, read-only: roles change on the organization."""

    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["organization", "role", "created_at"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "organizations"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("organization")

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["-created_at"]
    list_display = [
        "email",
        "full_name",
        "is_verified",
        "is_active",
        "last_login",
        "organization_count",
        "key_count",
    ]
    list_filter = ["is_verified", "is_active", "is_staff"]
    search_fields = ["email", "full_name", "handle", "=id"]
    readonly_fields = ["id", "last_login", "verified_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "email", "password"]}),
        ("Profile", {"fields": ["full_name", "handle"]}),
        ("Status", {"fields": ["is_active", "is_verified", "verified_at"]}),
        ("Permissions", {"fields": ["is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "created_at", "updated_at"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]}),
    ]
    inlines = [MembershipInline]
    actions = ["deactivate_selected", "resend_verification"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                organization_count=count_of(Membership.objects.all(), "user"),
                key_count=count_of(ApiKey.objects.active(), "user"),
            )
        )

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list:
        return self.inlines if obj is not None else []

    @admin.display(description="organizations", ordering="organization_count")
    def organization_count(self, user: User) -> int:
        return user.organization_count

    @admin.display(description="active keys", ordering="key_count")
    def key_count(self, user: User) -> str:
        query = urlencode({"user": user.pk, "status": "active"})
        url = f"{reverse('admin:apikeys_apikey_changelist')}?{query}"
        return format_html('<a href="{}">{}</a>', url, user.key_count)

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        # Ticking or unticking "active" on the change page goes through the same services as
        # the action: a deactivation ends sessions and revokes keys, a reactivation restores
        # neither.
        toggled = change and "is_active" in form.changed_data
        if toggled:
            obj.is_active = not obj.is_active  # the service makes the change
        super().save_model(request, obj, form, change)
        if toggled and obj.is_active:
            user_deactivate(user=obj, request=request)
        elif toggled:
            user_reactivate(user=obj, request=request)

    @admin.action(permissions=["change"], description="Deactivate selected users")
    def deactivate_selected(
        self, request: HttpRequest, queryset: QuerySet
    ) -> TemplateResponse | None:
        """Confirm, then deactivate: sign-in and sessions stop, and every key is revoked."""
        selected = list(queryset)
        if any(user.pk == request.user.pk for user in selected):
            self.message_user(
                request, "You cannot deactivate your own account here.", messages.WARNING
            )
        users = [user for user in selected if user.is_active and user.pk != request.user.pk]
        if not users:
            self.message_user(request, "No user to deactivate.", messages.INFO)
            return None
        if request.POST.get("post") != "yes":
            return confirm_action(
                self,
                request,
                queryset.filter(pk__in=[user.pk for user in users]),
                action="deactivate_selected",
                title="Deactivate users",
                question=f"Deactivate {len(users)} user(s)? They are signed out everywhere, "
                "cannot sign in, and their API keys are revoked for good: reactivating the "
                "account later does not bring them back.",
                headers=["email", "name", "active keys", "last login"],
                rows=[
                    (user.email, user.full_name, user.key_count, user.last_login or "-")
                    for user in users
                ],
                confirm_label="Yes, deactivate",
            )
        with transaction.atomic():
            for user in users:
                user_deactivate(user=user, request=request)
        self.message_user(request, f"Deactivated {len(users)} user(s).", messages.SUCCESS)
        return None

    @admin.action(permissions=["change"], description="Resend verification email")
    def resend_verification(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued = skipped = 0
        for user in queryset:
            if user.is_verified or not user.is_active:
                skipped += 1
                continue
            verification_email_queue(request=request, user=user)
            queued += 1
        if queued:
            self.message_user(request, f"Queued {queued} verification email(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} user(s) already verified or inactive.", messages.INFO
            )
