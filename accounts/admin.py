"""The users admin: who has an account, where, with how many keys; deactivate, re-verify."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import import_module
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Count, Model, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import User
from accounts.services import verification_email_send
from apikeys.models import ApiKey
from audit.models import Action
from audit.services import audit_record
from config.errors import EmailDeliveryFailed
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


def end_sessions(user_ids: Iterable[Any]) -> int:
    """Delete every live session of these users; return how many there were."""
    wanted = {str(pk) for pk in user_ids}
    if not wanted:
        return 0
    # Sessions are not indexed by user, so each live one is decoded. Each is deleted through
    # the session store rather than the queryset, so a cached_db engine forgets it as well.
    store = import_module(settings.SESSION_ENGINE).SessionStore
    live = Session.objects.filter(expire_date__gt=timezone.now())
    ended = 0
    for session in live.iterator():
        if session.get_decoded().get(SESSION_KEY) in wanted:
            store(session_key=session.session_key).delete()
            ended += 1
    return ended


def record_deactivations(request: HttpRequest, users: Sequence[User]) -> None:
    """What follows a deactivation, in its transaction: the sessions end and the trail says
    who did it. The keys stop by themselves: authentication refuses an inactive owner, and
    saving the user withdrew the keys from the warm-key cache (apikeys/cache.py)."""
    end_sessions(user.pk for user in users)
    for user in users:
        audit_record(
            action=Action.USER_DEACTIVATED,
            request=request,
            actor=request.user,
            target=user,
            detail={"by": "operator"},
        )


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
        super().save_model(request, obj, form, change)
        # Unticking "active" on the change page is a deactivation like the action's.
        if change and "is_active" in form.changed_data and not obj.is_active:
            record_deactivations(request, [obj])

    @admin.action(permissions=["change"], description="Deactivate selected users")
    def deactivate_selected(
        self, request: HttpRequest, queryset: QuerySet
    ) -> TemplateResponse | None:
        """Confirm, then deactivate: sign-in, sessions and keys all stop at once."""
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
                "cannot sign in, and their API keys stop working on the next request.",
                headers=["email", "name", "active keys", "last login"],
                rows=[
                    (user.email, user.full_name, user.key_count, user.last_login or "-")
                    for user in users
                ],
                confirm_label="Yes, deactivate",
            )
        with transaction.atomic():
            for user in users:
                user.is_active = False
                # save(), not a bulk update: its signals withdraw the user's cached keys.
                user.save(update_fields=["is_active", "updated_at"])
            record_deactivations(request, users)
        self.message_user(request, f"Deactivated {len(users)} user(s).", messages.SUCCESS)
        return None

    @admin.action(permissions=["change"], description="Resend verification email")
    def resend_verification(self, request: HttpRequest, queryset: QuerySet) -> None:
        sent = skipped = 0
        for user in queryset:
            if user.is_verified or not user.is_active:
                skipped += 1
                continue
            try:
                verification_email_send(request=request, user=user)
            except EmailDeliveryFailed:
                self.message_user(
                    request, f"The email to {user.email} could not be sent.", messages.ERROR
                )
            else:
                sent += 1
        if sent:
            self.message_user(request, f"Sent {sent} verification email(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} user(s) already verified or inactive.", messages.INFO
            )
