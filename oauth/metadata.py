"""The authorization server's metadata (RFC 8414), and the protected-resource metadata
(RFC 9728) of the MCP endpoint; the API's is django-oauth-toolkit's view as configured."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from oauth2_provider.views import OAuthProtectedResourceMetadataView, OAuthServerMetadataView


class McpResourceMetadataView(OAuthProtectedResourceMetadataView):
    def get_resource(self, request: Any) -> str:
        return settings.OAUTH_MCP_RESOURCE

    def get_resource_name(self) -> str:
        return "Latchkey MCP"


class ServerMetadataView(OAuthServerMetadataView):
    """django-oauth-toolkit's RFC 8414 document, with what it leaves to OpenID Connect: the
    JWKS that verifies access tokens; and introspection as it is served, for confidential
    clients only."""

    def get(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data["jwks_uri"] = self._get_endpoint_url(request, "jwks-info")
        data["introspection_endpoint_auth_methods_supported"] = [
            "client_secret_basic",
            "client_secret_post",
        ]
        data["resource_indicators_supported"] = True
        answer = JsonResponse(data)
        answer["Access-Control-Allow-Origin"] = "*"
        return answer
