"""The organizations admin: plan, members and their roles, key count; and projects."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from accounts.admin import count_of
from apikeys.models import ApiKey
from audit.models import Action
from audit.services import audit_record
from tenants.models import Invitation, Membership, Organization, Project
from tenants.services import membership_remove, membership_role_change


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user")


class OrganizationForm(forms.ModelForm):
    plan = forms.ChoiceField()

    class Meta:
        model = Organization
        fields = ["name", "slug", "plan"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # The plans are settings (RATELIMITS["PLANS"]), read when the form is built.
        self.fields["plan"].choices = [(plan, plan) for plan in settings.RATELIMITS["PLANS"]]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    list_display = ["name", "slug", "plan", "member_count", "key_count", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "slug", "=id"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=count_of(Membership.objects.all(), "organization"),
                key_count=count_of(ApiKey.objects.all(), "organization"),
            )
        )

    @admin.display(description="members", ordering="member_count")
    def member_count(self, organization: Organization) -> int:
        return organization.member_count

    @admin.display(description="keys pinned to it", ordering="key_count")
    def key_count(self, organization: Organization) -> int:
        return organization.key_count

    # The change view runs in one transaction: each event below commits with its change.

    def save_model(
        self, request: HttpRequest, obj: Organization, form: ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            audit_record(
                action=Action.ORGANIZATION_UPDATED,
                request=request,
                actor=request.user,
                organization=obj,
                target=obj,
                detail={
                    **{
                        field: {"from": form.initial.get(field), "to": form.cleaned_data[field]}
                        for field in form.changed_data
                    },
                    "by": "operator",
                },
            )

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        # Role changes and removals go through the same services as everywhere else.
        formset.save(commit=False)
        for membership in formset.deleted_objects:
            membership_remove(membership=membership, request=request)
        for membership, changed in formset.changed_objects:
            if "role" in changed:
                membership_role_change(
                    membership=membership, role=membership.role, request=request
                )
        for membership in formset.new_objects:
            membership.save()


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "id"]
    raw_id_fields = ["organization", "created_by"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Pending invitations, for operators to see. They are sent, re-sent and withdrawn by the
    organization's owners and admins (with the audit events that go with it), not here."""

    list_display = ["email", "organization", "role", "invited_by", "sent_at", "expires_at"]
    list_select_related = ["organization", "invited_by"]
    list_filter = ["role"]
    search_fields = ["email", "=organization__id", "organization__name"]
    fields = [
        "id",
        "organization",
        "email",
        "role",
        "invited_by",
        "created_at",
        "sent_at",
        "expires_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
