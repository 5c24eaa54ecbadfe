"""The consent page: django-oauth-toolkit's authorization endpoint, with the choice of the one
organization the token may act in (or every one, when the person allows it), and the resources
(RFC 8707) the token may reach: those of OAUTH_RESOURCES the client names, else the API."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.forms import AllowForm
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView, RevokeTokenView, TokenView
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error, InvalidClientIdError

from api.errors import RateLimited
from oauth.cimd import document_host, is_loopback_document, resolve_loopback_document
from oauth.models import Application, Consent
from ratelimits.policies import consume
from tenants.models import Membership

EVERY_ORGANIZATION = "*"
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def resource_names() -> dict[str, str]:
    """What the consent page calls each resource a token may be for (RFC 8707)."""
    return {
        settings.OAUTH_API_RESOURCE: "the Latchkey API",
        settings.OAUTH_MCP_RESOURCE: "the MCP endpoint",
    }


def serves(resources: list[str]) -> bool:
    """Whether each of `resources` is one of OAUTH_RESOURCES, compared exactly."""
    return all(uri in settings.OAUTH_RESOURCES for uri in resources)


class ConsentForm(AllowForm):
    organization = forms.ChoiceField(
        label="Organization",
        error_messages={"required": "Choose the organization the application may act in."},
    )

    def __init__(self, *args: Any, organizations: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [
            *organizations,
            (EVERY_ORGANIZATION, "Every organization I belong to"),
        ]


@method_decorator(never_cache, name="dispatch")
class ConsentView(AuthorizationView):
    """GET shows what the application asks for; POST with `allow` grants it, pinned to the
    chosen organization. Signed-out visitors sign in first and come back. Never cached."""

    form_class = ConsentForm
    template_name = "oauth/consent.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """A malformed request is a 400 page, never an error of ours: a port out of range, bad
        percent-encoding, an unknown client in the posted form, a PKCE challenge or nonce that
        no client could have made (RFC 7636: 43 to 128 unreserved characters)."""
        params = request.POST if request.method == "POST" else request.GET
        challenge, nonce = params.get("code_challenge", ""), params.get("nonce", "")
        if (challenge and not PKCE_CHALLENGE.fullmatch(challenge)) or len(nonce) > 255:
            return self._malformed(request)
        client_id = params.get("client_id", "")
        if request.user.is_authenticated and is_loopback_document(client_id):
            resolve_loopback_document(client_id)  # development only: see oauth/cimd.py
        try:
            return super().dispatch(request, *args, **kwargs)
        except (ValueError, Application.DoesNotExist):
            return self._malformed(request)

    def _malformed(self, request: HttpRequest) -> HttpResponse:
        error = {"description": "The application sent a request that is not valid OAuth."}
        return render(request, self.template_name, {"error": error}, status=400)

    def error_response(self, error: OAuthToolkitError, application: Any, **kwargs: Any) -> Any:
        client_id = self.request.GET.get("client_id", "")
        if isinstance(error.oauthlib_error, InvalidClientIdError) and client_id[:4] == "http":
            # A client named by a metadata document that could not be fetched or was refused:
            # the page says whose document, never why (that would map the network for anyone
            # who asks).
            kwargs["document_host"] = urlsplit(client_id).netloc
        return super().error_response(error, application, **kwargs)

    def validate_authorization_request(self, request: HttpRequest) -> tuple[list[str], dict]:
        """The request as django-oauth-toolkit validates it, and then the resources it names
        (RFC 8707): any that is not one of OAUTH_RESOURCES is `invalid_target`, sent back to
        the (by now validated) redirect URI with the client's state."""
        scopes, credentials = super().validate_authorization_request(request)
        if not serves(request.GET.getlist("resource")):
            raise OAuthToolkitError(
                error=CustomOAuth2Error(
                    error="invalid_target",
                    # Not echoed: a client's value is not fit for an error_description.
                    description="A resource is neither the Latchkey API nor the MCP endpoint.",
                    state=credentials.get("state"),
                ),
                redirect_uri=credentials["redirect_uri"],
            )
        return scopes, credentials

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The consent page is never skipped: it is where the organization is chosen. A client's
        # `approval_prompt` cannot turn it off.
        if "approval_prompt" in request.GET:
            query = request.GET.copy()
            del query["approval_prompt"]
            request.GET = query
        return super().get(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        memberships = Membership.objects.for_user(self.request.user.pk).order_by(
            "organization__name"
        )
        kwargs["organizations"] = [(m.organization_id, m.organization.name) for m in memberships]
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        redirect_uri = context.get("redirect_uri") or ""
        context["redirect_host"] = urlsplit(redirect_uri).netloc
        scopes = context.get("scopes") or []
        context["scope_rows"] = list(
            zip(scopes, context.get("scopes_descriptions") or [], strict=False)
        )
        resources = (context.get("resource") or "").split() or [settings.OAUTH_API_RESOURCE]
        names = resource_names()
        context["resource_names"] = [names[uri] for uri in dict.fromkeys(resources)]
        application = context.get("application")
        # Who vouches for a document-described client's name: the host that publishes it.
        context["document_host"] = document_host(application) if application else None
        return context

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        remembered = self._remembered(context)
        if remembered is not None:
            return remembered
        response = super().render_to_response(context, **kwargs)
        # The form's answer redirects to the client, and a browser holds that redirect to the
        # page's form-action: the (already validated) redirect URI's origin is added to it.
        target = urlsplit(context.get("redirect_uri") or "")
        if target.scheme in ("http", "https") and target.netloc:
            response._csp_update = {"form-action": [f"{target.scheme}://{target.netloc}"]}
        return response

    def _remembered(self, context: dict[str, Any]) -> HttpResponse | None:
        """On a GET the person already answered for no more than these scopes, while they are
        still in the organization they chose: the same answer again, without asking."""
        application = context.get("application")
        if self.request.method != "GET" or application is None or "form" not in context:
            return None
        if "consent" in self.request.GET.get("prompt", "").split():
            return None  # the client asks for the page itself (OpenID Connect's prompt)
        consent = Consent.objects.filter(user=self.request.user, application=application).first()
        resources = (context.get("resource") or "").split() or [settings.OAUTH_API_RESOURCE]
        if consent is None or not consent.covers(context.get("scopes") or [], resources):
            return None
        if (
            consent.organization_id is not None
            and not Membership.objects.filter(
                user=self.request.user, organization_id=consent.organization_id
            ).exists()
        ):
            return None
        data = self.oauth2_data
        credentials = {
            name: data[name]
            for name in ("client_id", "redirect_uri", "response_type", "state")
            if name in data
        }
        for name in ("code_challenge", "code_challenge_method", "nonce"):
            if data.get(name):
                credentials[name] = data[name]
        if data.get("resource"):
            credentials["resource"] = data["resource"].split()
        self.organization_id = consent.organization_id
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=self.request,
                scopes=" ".join(context["scopes"]),
                credentials=credentials,
                allow=True,
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

    def redirect(self, redirect_to: str, application: Any) -> HttpResponse:
        """Every answer sent back to the client names the issuer (RFC 9207), its errors
        (access_denied, say) as well as its codes."""
        parts = urlsplit(redirect_to)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(name == "iss" for name, _value in query):
            query.append(("iss", oauth2_settings.OIDC_ISS_ENDPOINT))
            redirect_to = urlunsplit(parts._replace(query=urlencode(query)))
        return super().redirect(redirect_to, application)

    def form_valid(self, form: ConsentForm) -> HttpResponse:
        if not serves(form.cleaned_data.get("resource", "").split()):
            # Only a tampered form gets here (the page was shown for known ones), and its
            # redirect URI is not validated yet: a 400 page, not a redirect to it.
            return self._malformed(self.request)
        choice = form.cleaned_data["organization"]
        self.organization_id = None if choice == EVERY_ORGANIZATION else choice
        response = super().form_valid(form)
        granted = response.status_code == 302 and "code" in dict(
            parse_qsl(urlsplit(response["Location"]).query)
        )
        if form.cleaned_data.get("allow") and granted:
            # Remembered for the next time this application asks for no more than this.
            Consent.objects.update_or_create(
                user=self.request.user,
                application=Application.objects.get(client_id=form.cleaned_data["client_id"]),
                defaults={
                    "scope": " ".join(sorted(form.cleaned_data["scope"].split())),
                    "resource": sorted(
                        set(form.cleaned_data.get("resource", "").split())
                        or {settings.OAUTH_API_RESOURCE}
                    ),
                    "organization_id": self.organization_id,
                },
            )
        return response

    def create_authorization_response(
        self, request: Any, scopes: str, credentials: dict[str, Any], allow: bool
    ) -> Any:
        if not hasattr(self, "organization_id"):
            # Not from the consent form (an application marked to skip it): nothing chose the
            # organization, so nothing is granted.
            allow = False
        credentials["organization_id"] = getattr(self, "organization_id", None)
        # Every grant names its audience: the resources asked for, once each, else the API.
        # django-oauth-toolkit stores them on the Grant (and its tokens) as `resource`.
        resources = credentials.get("resource") or [settings.OAUTH_API_RESOURCE]
        credentials["resource"] = list(dict.fromkeys(resources))
        return super().create_authorization_response(request, scopes, credentials, allow)


def limited(request: HttpRequest, policy: str = "OAUTH_TOKEN") -> HttpResponse | None:
    """429 once the client's address has spent RATELIMIT_<policy>, else None."""
    try:
        consume(request, policy)
    except RateLimited as exc:
        response = JsonResponse(
            {"error": "rate_limited", "error_description": "Too many requests."}, status=429
        )
        response["Retry-After"] = str(max(1, int(exc.wait)))
        response["Cache-Control"] = "no-store"
        return response
    return None


# Error reports never carry a code, verifier, refresh token, secret or token from a form.
@method_decorator(sensitive_post_parameters(), name="dispatch")
class LatchkeyTokenView(TokenView):
    """The token endpoint, for the two grants this server has: any other is refused before
    django-oauth-toolkit reads the request. Limited per client address."""

    GRANTS = frozenset({"authorization_code", "refresh_token"})

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = limited(request)
        if refused is not None:
            return refused
        if request.POST.get("grant_type") not in self.GRANTS:
            response = JsonResponse({"error": "unsupported_grant_type"}, status=400)
            response["Cache-Control"] = "no-store"
            return response
        response = super().post(request, *args, **kwargs)
        # Every answer of this endpoint is JSON, an error raised while saving the tokens too.
        response["Content-Type"] = "application/json"
        response["Cache-Control"] = "no-store"
        return response


@method_decorator(sensitive_post_parameters(), name="dispatch")
class LatchkeyRevokeTokenView(RevokeTokenView):
    """Token revocation (RFC 7009), limited per client address as the token endpoint is."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return limited(request) or super().post(request, *args, **kwargs)
