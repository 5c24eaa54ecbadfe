"""Routes: the JSON API under /api/, the admin, and the few pages."""

from django.contrib import admin
from django.urls import include, path, re_path, register_converter

from api import views
from api.converters import UlidConverter
from mcpserver.views import McpView

register_converter(UlidConverter, "ulid")

api_patterns = [
    path("health", views.HealthView.as_view(), name="health"),
    path("schema", views.SchemaView.as_view(), name="schema"),
    path("docs", views.DocsView.as_view(), name="docs"),
    path("", include("accounts.urls")),
    path("", include("tenants.urls")),
    path("", include("apikeys.urls")),
    path("", include("leaks.urls")),
    path("", include("audit.urls")),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    re_path(r"^api(?:/.*)?$", views.ApiNotFoundView.as_view()),
    path("admin/", admin.site.urls),
    path("mcp", McpView.as_view(), name="mcp"),
    path("", include("oauth.urls")),
    path("", include("dashboard.urls")),
]

handler400 = "api.views.bad_request"
handler403 = "api.views.permission_denied"
handler404 = "api.views.page_not_found"
handler500 = "api.views.server_error"
