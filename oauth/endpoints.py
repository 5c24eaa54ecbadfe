"""The authorization server's two endpoints for resource servers: the JWK Set that verifies
its access tokens, and token introspection (RFC 7662)."""

from __future__ import annotations

import calendar
import hashlib
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauthlib.common import Request as OAuthRequest

from oauth import signing
from oauth.models import AccessToken, Application
from oauth.views import limited


class JwksView(View):
    """The public keys that verify access tokens (RFC 7517), each named by its `kid`;
    cacheable for OAUTH_JWKS_MAX_AGE seconds, which is how long a rotated-in key is published
    before it signs."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = JsonResponse(signing.jwk_set())
        response["Cache-Control"] = f"public, max-age={settings.OAUTH_JWKS_MAX_AGE}"
        response["Access-Control-Allow-Origin"] = "*"
        return response


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters(), name="dispatch")
class IntrospectionView(View):
    """RFC 7662, for resource servers that run elsewhere: a confidential client (HTTP Basic,
    or client_id and client_secret in the body) posts `token` and learns whether it is a live
    access token of this server, and its claims. POST only: a token never travels in a URL.
    Limited per client address as the token endpoint is."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = limited(request)
        if refused is not None:
            return refused
        if not self._confidential_client(request):
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="oauth"'
            return _no_store(response)
        raw = request.POST.get("token")
        if not raw:
            return _no_store(
                JsonResponse(
                    {"error": "invalid_request", "error_description": "token is required."},
                    status=400,
                )
            )
        return _no_store(JsonResponse(introspect(raw)))

    @staticmethod
    def _confidential_client(request: HttpRequest) -> bool:
        core = get_oauthlib_core()
        try:
            uri, method, body, headers = core._extract_params(request)
            oauth_request = OAuthRequest(uri, method, body, headers)
        except ValueError:  # a query string or body oauthlib cannot read
            return False
        if not core.server.request_validator.authenticate_client(oauth_request):
            return False
        return oauth_request.client.client_type == Application.CLIENT_CONFIDENTIAL


def introspect(raw: str) -> dict[str, Any]:
    """What RFC 7662 says of the token: `{"active": false}` for anything but a live access
    token (a refresh token included); else its claims."""
    checksum = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    token = (
        AccessToken.objects.select_related("user", "application")
        .filter(token_checksum=checksum)
        .first()
    )
    if (
        token is None
        or token.expires <= timezone.now()
        or token.user is None
        or not token.user.is_active
    ):
        return {"active": False}
    claims: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": token.scope,
        "client_id": token.application.client_id if token.application else None,
        "sub": str(token.user.pk),
        "aud": list(token.resource or [settings.OAUTH_API_RESOURCE]),
        "iss": settings.PUBLIC_URL,
        "iat": calendar.timegm(token.created.utctimetuple()),
        "exp": calendar.timegm(token.expires.utctimetuple()),
        "jti": token.jti,
    }
    if token.organization_id is not None:
        claims["organization_id"] = str(token.organization_id)
    return claims
