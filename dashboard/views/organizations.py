"""Organization pages: the switcher's landing, projects, members and settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from rest_framework.exceptions import NotFound

from access.roles import require_role, role_allows
from api.errors import InsufficientRole, LastOwner, RateLimited
from dashboard.forms import (
    InvitationForm,
    OrganizationDeleteForm,
    OrganizationForm,
    ProjectForm,
)
from dashboard.pages import (
    CURRENT_ORGANIZATION,
    current_membership,
    duration,
    form_status,
    memberships_of,
    organization_page,
    posted,
    signed_in,
    too_many,
)
from ratelimits.policies import consume
from tenants import services
from tenants.models import ROLE_RANK, Invitation, Membership, Project, Role

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


@signed_in
def organization_create(request: HttpRequest) -> HttpResponse:
    """A new organization, with the signed-in person as its owner (the switcher's last entry)."""
    form = OrganizationForm(posted(request))
    context = {"form": form}
    if request.method == "POST":
        try:
            consume(request, "ORGANIZATION_CREATE", per="user")
        except RateLimited as exc:
            return too_many(request, "dashboard/organization_create.html", context, exc)
        if form.is_valid():
            created = services.organization_create(
                owner=request.user, name=form.validated_data["name"]
            )
            messages.success(request, f"Organization “{created.organization.name}” created.")
            return redirect("dashboard:projects", organization_id=created.organization_id)
    return render(request, "dashboard/organization_create.html", context, status=form_status(form))


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


# --- Members and the organization's settings ---------------------------------------------------
#
# The same services as the API (tenants/services.py), so the same rules: owners manage
# everyone, admins never owners, and an organization keeps at least one owner.


def _member(membership: Membership, user_id: str) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"),
        organization_id=membership.organization_id,
        user_id=user_id,
    )


def _name(member: Membership) -> str:
    return member.user.full_name or member.user.email


def _apply(request: HttpRequest, membership: Membership, change: Any, done: str) -> HttpResponse:
    """Run a membership change; a refusal the person can act on comes back as a message."""
    try:
        change()
    except LastOwner as exc:
        messages.error(request, str(exc.detail))
        return redirect("dashboard:members", organization_id=membership.organization_id)
    except NotFound as exc:
        raise Http404 from exc
    messages.success(request, done)
    return None  # type: ignore[return-value]


@organization_page("members:read")
def members(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render_members(request, membership)


def lifetime(seconds: int) -> str:
    """A link's lifetime in words, in the largest whole unit: "7 days", "12 hours"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def roles_up_to(role: str) -> list[tuple[str, str]]:
    """The roles someone with `role` may give (their own and below), for a select."""
    return [(value, label) for value, label in Role.choices if ROLE_RANK[value] <= ROLE_RANK[role]]


def render_members(
    request: HttpRequest,
    membership: Membership,
    invite_form: InvitationForm | None = None,
    limited: RateLimited | None = None,
) -> HttpResponse:
    """The Members page: members, pending invitations and (for owners and admins) the invite
    form, sent back with its errors when `invite_form` is given."""
    listing = Membership.objects.filter(organization_id=membership.organization_id).select_related(
        "user"
    )
    page_obj = _page(request, listing)
    rank = ROLE_RANK[membership.role]
    may_manage = role_allows(membership.role, "members:write")
    owners = Membership.objects.filter(
        organization_id=membership.organization_id, role=Role.OWNER
    ).count()
    for member in page_obj:
        # The only owner can be neither demoted nor removed: no control offers it.
        sole_owner = member.role == Role.OWNER and owners == 1
        member.manageable = may_manage and ROLE_RANK[member.role] <= rank and not sole_owner
        member.transferable = (
            membership.role == Role.OWNER and member.user_id != membership.user_id
        )
    pending = list(
        Invitation.objects.filter(organization_id=membership.organization_id).select_related(
            "invited_by"
        )
    )
    now = timezone.now()
    for invitation in pending:
        invitation.manageable = may_manage and ROLE_RANK[invitation.role] <= rank
        invitation.expired = invitation.expires_at <= now
    roles = roles_up_to(membership.role)
    context = {
        **_organization_context(membership),
        "page_obj": page_obj,
        "roles": roles,
        "may_invite": may_manage,
        "invitations": pending,
        "invite_form": invite_form or InvitationForm(roles=roles),
        "invitation_lifetime": lifetime(settings.ACCOUNTS["INVITATION_MAX_AGE"]),
    }
    status = 200
    if limited is not None:
        status = 429
        context["rate_limited"] = (
            f"Too many invitations sent. Please wait {duration(limited.wait)} and try again."
        )
    elif invite_form is not None and invite_form.errors:
        status = 400
    response = render(request, "dashboard/members.html", context, status=status)
    if limited is not None:
        response["Retry-After"] = str(max(1, int(limited.wait)))
    return response


@organization_page("members:write")
def member_role(request: HttpRequest, membership: Membership, user_id: str) -> HttpResponse:
    if request.method != "POST":
        return redirect("dashboard:members", organization_id=membership.organization_id)
    member = _member(membership, user_id)
    role = request.POST.get("role", "")
    if role not in Role.values:
        messages.error(request, "Choose a role: owner, admin or member.")
        return redirect("dashboard:members", organization_id=membership.organization_id)
    refused = _apply(
        request,
        membership,
        lambda: services.member_role_set(
            actor=membership, user_id=member.user_id, role=role, request=request
        ),
        f"{_name(member)} is now {Role(role).label.lower()}.",
    )
    return refused or redirect("dashboard:members", organization_id=membership.organization_id)


@organization_page("members:write")
def member_remove(request: HttpRequest, membership: Membership, user_id: str) -> HttpResponse:
    member = _member(membership, user_id)
    if ROLE_RANK[member.role] > ROLE_RANK[membership.role]:
        raise InsufficientRole()
    if request.method == "POST":
        refused = _apply(
            request,
            membership,
            lambda: services.member_remove(
                actor=membership, user_id=member.user_id, request=request
            ),
            f"{_name(member)} was removed from {membership.organization.name}.",
        )
        if refused:
            return refused
        if member.user_id == membership.user_id:  # they removed themselves: nothing to see
            request.session.pop(CURRENT_ORGANIZATION, None)
            return redirect("dashboard:home")
        return redirect("dashboard:members", organization_id=membership.organization_id)
    context = {**_organization_context(membership), "member": member}
    return render(request, "dashboard/member_remove.html", context)


@organization_page("members:write")
def member_transfer(request: HttpRequest, membership: Membership, user_id: str) -> HttpResponse:
    if membership.role != Role.OWNER:
        raise InsufficientRole()
    member = _member(membership, user_id)
    if member.user_id == membership.user_id:
        raise Http404
    if request.method == "POST":
        refused = _apply(
            request,
            membership,
            lambda: services.ownership_transfer(
                actor=membership, user_id=member.user_id, request=request
            ),
            f"{_name(member)} is now an owner; you are an admin.",
        )
        return refused or redirect("dashboard:members", organization_id=membership.organization_id)
    context = {**_organization_context(membership), "member": member}
    return render(request, "dashboard/member_transfer.html", context)


@organization_page("members:read")
def leave(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.method == "POST":
        name = membership.organization.name
        refused = _apply(
            request,
            membership,
            lambda: services.membership_leave(membership=membership, request=request),
            f"You left {name}.",
        )
        if refused:
            return refused
        request.session.pop(CURRENT_ORGANIZATION, None)
        return redirect("dashboard:home")
    return render(request, "dashboard/leave.html", _organization_context(membership))


@organization_page("organizations:write")
def organization_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    organization = membership.organization
    form = OrganizationForm(posted(request), initial={"name": organization.name})
    if request.method == "POST" and form.is_valid():
        services.organization_update(
            organization=organization, name=form.validated_data["name"], actor=request.user
        )
        messages.success(request, "Organization renamed.")
        return redirect("dashboard:organization-settings", organization_id=organization.pk)
    delete_form = OrganizationDeleteForm(organization_name=organization.name)
    return _settings_page(request, membership, form, delete_form)


@organization_page("organizations:write")
def organization_delete(request: HttpRequest, membership: Membership) -> HttpResponse:
    if membership.role != Role.OWNER:
        raise InsufficientRole()
    organization = membership.organization
    if request.method != "POST":
        return redirect("dashboard:organization-settings", organization_id=organization.pk)
    delete_form = OrganizationDeleteForm(request.POST, organization_name=organization.name)
    if not delete_form.is_valid():
        form = OrganizationForm(initial={"name": organization.name})
        return _settings_page(request, membership, form, delete_form)
    services.organization_delete(actor=membership, request=request)
    request.session.pop(CURRENT_ORGANIZATION, None)
    messages.success(request, f"Organization “{organization.name}” deleted.")
    return redirect("dashboard:home")


def _settings_page(
    request: HttpRequest, membership: Membership, form: Any, delete_form: Any
) -> HttpResponse:
    context = {
        **_organization_context(membership),
        "form": form,
        "delete_form": delete_form,
        "is_owner": membership.role == Role.OWNER,
    }
    status = 400 if form.errors or delete_form.errors else 200
    return render(request, "dashboard/organization_settings.html", context, status=status)
