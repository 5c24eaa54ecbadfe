"""Dynamic client registration (RFC 7591), for public clients only: an MCP client or a native
app registers itself, anonymously, limited per address, and the registration is audited.
A confidential client is registered by a person in the dashboard."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth2_provider.views import (
    DynamicClientRegistrationManagementView,
    DynamicClientRegistrationView,
)

from audit.models import Action
from audit.services import audit_record
from oauth.redirects import MAX_REDIRECT_URIS, redirect_uri_problem
from oauth.views import limited


def refusal(error: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=400)
    response["Cache-Control"] = "no-store"
    return response


def metadata_problem(data: Any) -> JsonResponse | None:
    """Why the client metadata cannot be registered here, or None."""
    if not isinstance(data, dict):
        return None  # django-oauth-toolkit answers malformed metadata itself
    if data.get("token_endpoint_auth_method", "client_secret_basic") != "none":
        return refusal(
            "invalid_client_metadata",
            'Only public clients (token_endpoint_auth_method "none") register themselves; a '
            "confidential client is registered in the dashboard.",
        )
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
        return refusal("invalid_redirect_uri", f"Give 1 to {MAX_REDIRECT_URIS} redirect_uris.")
    for uri in uris:
        problem = redirect_uri_problem(uri) if isinstance(uri, str) else "not a string"
        if problem:
            return refusal("invalid_redirect_uri", problem)
    return None


class RegistrationView(DynamicClientRegistrationView):
    """POST /oauth/register"""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = limited(request, "OAUTH_REGISTRATION")
        if refused is not None:
            return refused
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            data = None
        problem = metadata_problem(data)
        if problem is not None:
            return problem
        response = super().post(request, *args, **kwargs)
        if response.status_code == 201:
            registered = json.loads(response.content)
            audit_record(
                action=Action.OAUTH_APPLICATION_REGISTERED,
                request=request,
                detail={
                    "clientId": registered.get("client_id"),
                    "application": registered.get("client_name", ""),
                    "clientType": "public",
                    "redirectUris": registered.get("redirect_uris", []),
                    "by": "dcr",
                },
            )
        response["Cache-Control"] = "no-store"
        return response


class RegistrationManagementView(DynamicClientRegistrationManagementView):
    """GET, DELETE /oauth/register/{client_id} with the registration access token (RFC 7592).
    A registration is not changed afterwards: a client registers anew instead."""

    http_method_names = ["get", "delete"]
