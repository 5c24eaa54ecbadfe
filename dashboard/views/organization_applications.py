"""Organization → Applications: the OAuth applications that can act in the organization, for
its owners and admins, who may revoke those pinned to it."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from rest_framework.exceptions import NotFound

from dashboard.pages import organization_page
from oauth import services
from tenants.models import Membership


@organization_page("members:write")
def organization_applications(request: HttpRequest, membership: Membership) -> HttpResponse:
    context = {
        "membership": membership,
        "organization": membership.organization,
        "authorizations": services.organization_authorizations(membership.organization_id),
    }
    return render(request, "dashboard/organization_applications.html", context)


@organization_page("members:write")
def organization_application_revoke(
    request: HttpRequest, membership: Membership, application_id: int
) -> HttpResponse:
    if request.method == "POST":
        try:
            application = services.organization_authorization_revoke(
                organization_id=membership.organization_id,
                application_id=application_id,
                request=request,
            )
        except NotFound as exc:
            raise Http404 from exc
        messages.success(
            request, f"{application.name} no longer acts in {membership.organization.name}."
        )
    return redirect(
        "dashboard:organization-applications", organization_id=membership.organization_id
    )
