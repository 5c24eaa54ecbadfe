from django import forms
from django.conf import settings
from django.contrib import admin

from tenants.models import Membership, Organization, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


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
    list_display = ["name", "slug", "plan", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "slug", "id"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [MembershipInline]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "id"]
    raw_id_fields = ["organization", "created_by"]
    readonly_fields = ["id", "created_at", "updated_at"]
