"""Every route of config.urls, plus the no-auth baselines that exist only for the benchmark.

The baseline is the same ProjectListView with no authentication, no permission and no
tenancy gate, so that the difference between it and the real route is what a request pays
to be authenticated by its API key and admitted to the organization. The limited baseline
adds what every anonymous request pays on top: the per-IP rate limit.
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


class LimitedProjectListView(NoAuthProjectListView):
    """GET /api/bench/limited/organizations/{organizationId}/projects: the baseline, counted
    by the rate limiter as every anonymous /api/ request is (per client IP: one Redis round
    trip, and the RateLimit headers on the answer).

    Between the baseline and the real route, it shows what the shared counters cost a request
    that presents no credential, apart from what authenticating a key and admitting it to the
    organization cost."""

    # ApiView's own steps again: the anonymous caller's limit, then DRF's permissions.
    def perform_authentication(self, request: Request) -> None:
        ProjectListView.perform_authentication(self, request)

    def check_permissions(self, request: Request) -> None:
        ProjectListView.check_permissions(self, request)


# Under /api/ like the real route, so both pass the same middleware (the /api/ request guard
# included), and tried right after the same patterns as the real one: they take the real
# route's place in the tenants' patterns, just before it, so that finding them costs what
# finding the real list costs (the same patterns tried and failed first; the limited one
# also passes the no-auth one, one more pattern, about a microsecond).
_baselines = [
    path(
        "bench/noauth/organizations/<ulid:organization_id>/projects",
        NoAuthProjectListView.as_view(),
        name="bench-noauth-projects",
    ),
    path(
        "bench/limited/organizations/<ulid:organization_id>/projects",
        LimitedProjectListView.as_view(),
        name="bench-limited-projects",
    ),
]


def _is_include_of(pattern: object, module: str) -> bool:
    return getattr(getattr(pattern, "urlconf_name", None), "__name__", None) == module


_tenants = next(
    i for i, p in enumerate(config_urls.api_patterns) if _is_include_of(p, "tenants.urls")
)
_tenant_patterns = list(config_urls.api_patterns[_tenants].url_patterns)
_projects = next(i for i, p in enumerate(_tenant_patterns) if p.name == "projects")
urlpatterns = [
    path(
        "api/",
        include(
            [
                *config_urls.api_patterns[:_tenants],
                path(
                    "",
                    include(
                        [
                            *_tenant_patterns[:_projects],
                            *_baselines,
                            *_tenant_patterns[_projects:],
                        ]
                    ),
                ),
                *config_urls.api_patterns[_tenants + 1 :],
            ]
        ),
    ),
    *config_urls.urlpatterns[1:],
]
