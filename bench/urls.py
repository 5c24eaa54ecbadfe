"""Every route of config.urls, plus the no-auth baseline that exists only for the benchmark.

The baseline is the same ProjectListView with no authentication, no permission and no
tenancy gate, so that the difference between it and the real route is what a request pays
to be authenticated by its API key and admitted to the organization.
"""

from __future__ import annotations

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

# Importing config.urls registers the "ulid" converter, used below.
from config import urls as config_urls
from config.urls import handler400, handler403, handler404, handler500
from tenants.models import Organization
from tenants.views import ProjectListView

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class NoAuthProjectListView(ProjectListView):
    """GET /api/bench/noauth/organizations/{organizationId}/projects: the URL organization's
    projects, for anyone.

    ProjectListView.get runs unchanged (same queryset, serializer and pagination); only the
    organization it lists comes straight from the URL instead of through the tenancy gate.
    An Organization carrying just its primary key is all `filter(organization=...)` needs,
    so this costs no query.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    tenant_scoped = False
    http_method_names = ["get"]  # read-only: an anonymous caller must not create projects

    # DRF's own steps: no rate limit either, the floor is a view with nothing on top.
    def perform_authentication(self, request: Request) -> None:
        APIView.perform_authentication(self, request)

    def check_permissions(self, request: Request) -> None:
        APIView.check_permissions(self, request)

    @property
    def organization(self) -> Organization:
        return Organization(pk=self.kwargs["organization_id"])

    @property
    def organization_id(self) -> str:
        return self.kwargs["organization_id"]


# Under /api/ like the real route, so both pass the same middleware (the /api/ request guard
# included), and resolved after the same routes as the real one: it sits just before the
# tenants' routes, so finding it costs what finding the real list costs.
_noauth = path(
    "bench/noauth/organizations/<ulid:organization_id>/projects",
    NoAuthProjectListView.as_view(),
    name="bench-noauth-projects",
)
_tenants = next(
    i
    for i, p in enumerate(config_urls.api_patterns)
    if getattr(getattr(p, "urlconf_name", None), "__name__", None) == "tenants.urls"
)
urlpatterns = [
    path(
        "api/",
        include(
            [
                *config_urls.api_patterns[:_tenants],
                _noauth,
                *config_urls.api_patterns[_tenants:],
            ]
        ),
    ),
    *config_urls.urlpatterns[1:],
]
