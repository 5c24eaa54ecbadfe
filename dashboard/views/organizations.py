"""Organization pages: the switcher's landing, projects and members."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from access.roles import require_role, role_allows
from dashboard.forms import ProjectForm
from dashboard.pages import (
    current_membership,
    form_status,
    memberships_of,
    organization_page,
    posted,
    signed_in,
)
from tenants import services
from tenants.models import Membership, Project

PAGE_SIZE = 25


def _page(request: HttpRequest, queryset: object) -> object:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _organization_context(membership: Membership) -> dict[str, object]:
    return {"membership": membership, "organization": membership.organization}


@signed_in
def home(request: HttpRequest) -> HttpResponse:
    """The organization last looked at, or the first one joined."""
    current = current_membership(request, memberships_of(request.user))
    if current is None:
        return render(request, "dashboard/no_organization.html")
    return redirect("dashboard:projects", organization_id=current.organization_id)


@organization_page("projects:read")
def projects(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The organization's projects, and a form to add one."""
    form = ProjectForm(posted(request))
    if request.method == "POST":
        require_role(membership.role, "projects:write")
        if form.is_valid():
            project = services.project_create(
                organization=membership.organization,
                created_by=request.user,
                name=form.validated_data["name"],
                description=form.validated_data.get("description", ""),
            )
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("dashboard:projects", organization_id=membership.organization_id)
    listing = Project.objects.filter(organization_id=membership.organization_id)
    context = {
        **_organization_context(membership),
        "form": form,
        "page_obj": _page(request, listing),
        "may_write": role_allows(membership.role, "projects:write"),
    }
    return render(request, "dashboard/projects.html", context, status=form_status(form))


def _project(membership: Membership, project_id: str) -> Project:
    # Confined to the organization the guard admitted: another's project is simply not found.
    return get_object_or_404(Project, organization_id=membership.organization_id, pk=project_id)


@organization_page("projects:write")
def project_edit(request: HttpRequest, membership: Membership, project_id: str) -> HttpResponse:
    project = _project(membership, project_id)
    form = ProjectForm(
        posted(request),
        initial={"name": project.name, "description": project.description},
    )
    if request.method == "POST" and form.is_valid():
        services.project_update(
            project=project,
            name=form.validated_data["name"],
            description=form.validated_data.get("description", ""),
        )
        messages.success(request, f"Project “{project.name}” saved.")
        return redirect("dashboard:projects", organization_id=membership.organization_id)
    context = {
        **_organization_context(membership),
        "project": project,
        "form": form,
    }
    return render(request, "dashboard/project_edit.html", context, status=form_status(form))


@organization_page("projects:write")
def project_delete(request: HttpRequest, membership: Membership, project_id: str) -> HttpResponse:
    project = _project(membership, project_id)
    if request.method == "POST":
        services.project_delete(project=project)
        messages.success(request, f"Project “{project.name}” deleted.")
        return redirect("dashboard:projects", organization_id=membership.organization_id)
    context = {
        **_organization_context(membership),
        "project": project,
    }
    return render(request, "dashboard/project_delete.html", context)


@organization_page("members:read")
def members(request: HttpRequest, membership: Membership) -> HttpResponse:
    listing = Membership.objects.filter(organization_id=membership.organization_id).select_related(
        "user"
    )
    context = {
        **_organization_context(membership),
        "page_obj": _page(request, listing),
    }
    return render(request, "dashboard/members.html", context)
