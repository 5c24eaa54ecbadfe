from django.contrib import admin

from tenants.models import Membership, Organization, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
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
