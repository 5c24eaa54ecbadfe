"""The authorization server's endpoints under /oauth/, and its RFC 8414 metadata document.
The names are django-oauth-toolkit's own: its metadata view finds the endpoints by them."""

from django.urls import path
from oauth2_provider import views as dot

from oauth.endpoints import IntrospectionView, JwksView
from oauth.metadata import McpResourceMetadataView, ServerMetadataView
from oauth.registration import RegistrationManagementView, RegistrationView
from oauth.views import ConsentView, LatchkeyRevokeTokenView, LatchkeyTokenView

app_name = "oauth2_provider"

urlpatterns = [
    path("oauth/authorize", ConsentView.as_view(), name="authorize"),
    path("oauth/token", LatchkeyTokenView.as_view(), name="token"),
    path("oauth/revoke", LatchkeyRevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/introspect", IntrospectionView.as_view(), name="introspect"),
    path("oauth/register", RegistrationView.as_view(), name="dcr-register"),
    path(
        "oauth/register/<str:client_id>",
        RegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
    # RFC 9728: the API is the resource {PUBLIC_URL}/api; its document lives at the path form,
    # and at the root for clients that look there first.
    path(
        ".well-known/oauth-protected-resource/api",
        dot.OAuthProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata-path",
    ),
    path(
        ".well-known/oauth-protected-resource/mcp",
        McpResourceMetadataView.as_view(),
        name="oauth-resource-metadata-mcp",
    ),
    path(
        ".well-known/oauth-protected-resource",
        dot.OAuthProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
    path(".well-known/jwks.json", JwksView.as_view(), name="jwks-info"),
    path(
        ".well-known/oauth-authorization-server",
        ServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
]
