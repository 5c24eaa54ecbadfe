"""Settings → Authorized applications: the OAuth applications a person has let into their
account, and revoking one."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from rest_framework.exceptions import NotFound

from dashboard.pages import signed_in
from oauth import services


@signed_in
def authorized_applications(request: HttpRequest) -> HttpResponse:
    context = {"authorizations": services.authorizations_of(request.user)}
    return render(request, "dashboard/authorized_applications.html", context)


@signed_in
def authorized_application_revoke(request: HttpRequest, application_id: int) -> HttpResponse:
    """POST only: the application loses every token it holds for this person, at once."""
    if request.method == "POST":
        try:
            application = services.authorization_revoke(
                user=request.user, application_id=application_id, request=request
            )
        except NotFound as exc:
            raise Http404 from exc
        messages.success(request, f"{application.name or 'The application'} no longer has access.")
    return redirect("dashboard:authorized-applications")
