"""Project-wide views: health, the schema and its reference page, the /api/ catch-all, and
error handlers that speak JSON on /api/."""

from __future__ import annotations

import logging

from csp.decorators import csp_update
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import defaults
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import ApiView
from api.envelope import envelope, error_body
from api.middleware import api_error, is_api_path

logger = logging.getLogger(__name__)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = serializers.DictField(child=serializers.ChoiceField(choices=["ok", "unavailable"]))


class HealthView(APIView):
    """GET /api/health: 200 when the database (and a configured cache) answer, else 503."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="health",
        responses={200: HealthSerializer, 503: HealthSerializer},
    )
    def get(self, request: Request) -> Response:
        checks = {"database": _check_database()}
        if settings.CACHE_CONFIGURED:
            checks["cache"] = _check_cache()
        if all(state == "ok" for state in checks.values()):
            return envelope({"status": "ok", "checks": checks}, message="Service is healthy")
        body = error_body(503, "SERVICE_UNAVAILABLE", "A backing service is unavailable.")
        body["data"] = {"status": "unavailable", "checks": checks}
        return Response(body, status=503)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("Health check: database unavailable", exc_info=True)
        return "unavailable"
    return "ok"


def _check_cache() -> str:
    try:
        cache.set("health:ping", "pong", timeout=10)
        ok = cache.get("health:ping") == "pong"
    except Exception:
        logger.warning("Health check: cache unavailable", exc_info=True)
        return "unavailable"
    return "ok" if ok else "unavailable"


class SchemaView(ApiView, SpectacularAPIView):
    """GET /api/schema: the OpenAPI 3.1 schema, JSON by default; YAML for `?format=yaml` or
    `Accept: application/yaml` (or application/vnd.oai.openapi). Public, and generated once
    per process: the schema changes only with the code."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [
        OpenApiJsonRenderer2,
        OpenApiJsonRenderer,
        OpenApiYamlRenderer2,
        OpenApiYamlRenderer,
    ]
    _generated: dict | None = None

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        if SchemaView._generated is None or settings.DEBUG:
            generator = self.generator_class(urlconf=self.urlconf)
            SchemaView._generated = generator.get_schema(request=None, public=True)
        return Response(SchemaView._generated)


@method_decorator(csp_update({"img-src": ["'self'", "data:"]}), name="dispatch")
class DocsView(ApiView, SpectacularSwaggerSplitView):
    """GET /api/docs: Swagger UI from our own static files, its set-up script served from this
    same URL (`?script`), so no script or style is inline. The one exception to the site's
    Content-Security-Policy, on this page only: Swagger UI's stylesheet draws its icons as
    data: images."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    url_name = "schema"
    template_name = "api/docs.html"
    template_name_js = "api/docs.js"

    def handle_exception(self, exc: Exception) -> HttpResponse:
        """Errors in the error envelope, as everywhere under /api/, not in the page's HTML."""
        response = super().handle_exception(exc)
        answer = JsonResponse(response.data, status=response.status_code)
        for name in ("Retry-After", "Allow", "WWW-Authenticate"):
            if name in response:
                answer[name] = response[name]
        return answer


class ApiNotFoundView(APIView):
    """Any path under /api/ that no route matches: 404 in the envelope, for every method."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        raise exceptions.NotFound()


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error(400, "BAD_REQUEST")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error(403, "FORBIDDEN")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error(404, "NOT_FOUND")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error(500, "INTERNAL_ERROR")
    return defaults.server_error(request)
