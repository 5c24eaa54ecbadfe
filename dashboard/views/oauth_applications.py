"""Settings → OAuth applications: the clients a developer registers, with the secret of a
confidential one shown once."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import NotFound

from api.errors import RateLimited
from dashboard.pages import form_status, posted, signed_in, too_many
from oauth import services
from oauth.models import Application
from oauth.redirects import MAX_REDIRECT_URIS, redirect_uri_problem
from ratelimits.policies import consume


class ApplicationForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="People see it on the consent page."
    )
    redirect_uris = forms.CharField(
        label="Redirect URIs",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line. https, or http on 127.0.0.1 for a native app (any port).",
    )
    client_type = forms.ChoiceField(
        label="Type",
        choices=[
            ("public", "Public: a native, browser or MCP client, with no secret"),
            ("confidential", "Confidential: a server that keeps a secret"),
        ],
        widget=forms.RadioSelect,
        initial="public",
    )

    def clean_redirect_uris(self) -> list[str]:
        uris = self.cleaned_data["redirect_uris"].split()
        if not uris:
            raise forms.ValidationError("Give at least one redirect URI.")
        if len(uris) > MAX_REDIRECT_URIS:
            raise forms.ValidationError(f"At most {MAX_REDIRECT_URIS} redirect URIs.")
        problems = [problem for uri in uris if (problem := redirect_uri_problem(uri))]
        if problems:
            raise forms.ValidationError(problems)
        return uris


@signed_in
def oauth_applications(request: HttpRequest) -> HttpResponse:
    applications = Application.objects.filter(user=request.user).order_by("-created")
    return render(request, "dashboard/oauth_applications.html", {"applications": applications})


@never_cache
@signed_in
def oauth_application_create(request: HttpRequest) -> HttpResponse:
    form = ApplicationForm(posted(request))
    context = {"form": form}
    if request.method == "POST":
        try:
            consume(request, "OAUTH_APPLICATION_CREATE", per="user")
        except RateLimited as exc:
            return too_many(request, "dashboard/oauth_application_create.html", context, exc)
        if form.is_valid():
            application, secret = services.application_register(
                user=request.user,
                name=form.cleaned_data["name"],
                redirect_uris=form.cleaned_data["redirect_uris"],
                confidential=form.cleaned_data["client_type"] == "confidential",
                request=request,
            )
            # The answer to this POST is the only place the secret is ever shown.
            return render(
                request,
                "dashboard/oauth_application_created.html",
                {"application": application, "secret": secret},
            )
    return render(
        request, "dashboard/oauth_application_create.html", context, status=form_status(form)
    )


@signed_in
def oauth_application_delete(request: HttpRequest, application_id: int) -> HttpResponse:
    if request.method == "POST":
        try:
            application = services.application_delete(
                user=request.user, application_id=application_id, request=request
            )
        except NotFound as exc:
            raise Http404 from exc
        messages.success(request, f"{application.name} deleted: its tokens no longer work.")
    return redirect("dashboard:oauth-applications")
