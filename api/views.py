"""Project-wide views: health, the /api/ catch-all, and error handlers that speak JSON on /api/."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.envelope import envelope, error_body
from api.middleware import api_error, is_api_path

logger = logging.getLogger(__name__)


class HealthView(APIView):
    """GET /api/health: 200 when the database (and a configured cache) answer, else 503."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

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
