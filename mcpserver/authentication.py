"""Who may call /mcp: an OAuth access token issued for the MCP endpoint, and nothing else (no
API key, no session); and the challenge a 401 there carries."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request

from access.credentials import challenge, presented_key
from api.errors import TokenInvalid
from mcpserver.tools import requested_scopes
from oauth.authentication import OAuthTokenAuthentication


def mcp_challenge(request: Any) -> str:
    """The `WWW-Authenticate` value of a 401 at /mcp: it names the endpoint's protected-resource
    metadata and the scopes to ask for; `error="invalid_token"` when a credential was presented
    (RFC 6750 §3.1: none when the request carried no credential at all)."""
    error = {"error": "invalid_token"} if presented_key(request.META) is not None else {}
    return challenge(
        realm="mcp", resource=settings.OAUTH_MCP_RESOURCE, **error, scope=requested_scopes()
    )


class McpTokenAuthentication(OAuthTokenAuthentication):
    """OAuthTokenAuthentication, for the view's resource (the MCP endpoint), except that any
    other credential is refused rather than left to another class: an API key, whether in
    `X-Api-Key` or as a Bearer value, is an invalid token here."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        identity = super().authenticate(request)
        if identity is None and presented_key(request.META) is not None:
            raise TokenInvalid()
        return identity

    def authenticate_header(self, request: Request) -> str:
        return mcp_challenge(request)
