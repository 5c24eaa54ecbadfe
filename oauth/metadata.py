"""The protected-resource metadata (RFC 9728) of the MCP endpoint; the API's is
django-oauth-toolkit's view as configured."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from oauth2_provider.views import OAuthProtectedResourceMetadataView


class McpResourceMetadataView(OAuthProtectedResourceMetadataView):
    def get_resource(self, request: Any) -> str:
        return settings.OAUTH_MCP_RESOURCE

    def get_resource_name(self) -> str:
        return "Latchkey MCP"

    def get_resource_documentation(self) -> str:
        return f"{settings.PUBLIC_URL}/docs/mcp"
