"""Request guards for /api/: body size, cross-origin protection and JSON-only writes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apikeys.authentication import presented_key
from audit.models import Action
from audit.services import audit_record_once
from config.clientip import client_ip
from config.envelope import error_body
from config.errors import MESSAGES
from config.throttling import rate_limit_headers

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# What an HTML form can send without a preflight. (An empty text/plain body is let through:
# some WSGI servers report text/plain for a request that declared no type at all.)
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def api_error(status: int, code: str) -> JsonResponse:
    return JsonResponse(
        error_body(status, code, MESSAGES[code]),
        status=status,
        json_dumps_params={"separators": (",", ":")},
    )


def is_cross_origin(request: HttpRequest) -> bool:
    """Decide as Go 1.25's net/http CrossOriginProtection does.

    Browsers attach cookies to cross-site requests, so a cookie alone cannot prove that the
    user meant a write. Browsers also say where a request comes from and cannot be made to lie:
      - Sec-Fetch-Site `same-origin` or `none` (typed URL, bookmark): ours, allow.
      - Sec-Fetch-Site `cross-site` or `same-site`: refuse, unless Origin is in TRUSTED_ORIGINS.
        `same-site` is refused too: a sibling subdomain is not necessarily ours.
      - No Sec-Fetch-Site (older browsers, non-browser clients): an Origin that is our own
        host or trusted is allowed; a request with no Origin at all is not from a browser
        (every browser sends Origin on cross-origin writes), so it carries no victim's cookies
        and is allowed; any other Origin, `null` included (sandboxed frames, data: URLs), is
        refused.
    """
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None and origin in settings.TRUSTED_ORIGINS:
        return False
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    if origin is None:
        return False
    try:
        return urlsplit(origin).netloc.lower() != request.get_host().lower()
    except ValueError:
        return True


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class ApiRequestGuardMiddleware:
    """Guards every request under /api/ before any view runs.

    - A declared body larger than DATA_UPLOAD_MAX_MEMORY_SIZE gets 413.
    - Unsafe methods not authenticated by an API key header pass the cross-origin check
      (403 CROSS_ORIGIN_REQUEST) and must send JSON (415): form-encoded, multipart and
      text/plain bodies are exactly what a cross-site HTML form can send without a preflight.
      A request carrying X-Api-Key or `Authorization: Bearer` brings its own credential, not
      an ambient one, so no other site can forge it; the authentication class never falls
      back to the session when such a header is present. (Authorization with another scheme,
      such as Basic, can be ambient in a browser, so it does not skip the check.)
    - Django's CSRF token check stays on for HTML forms (dashboard, admin); DRF views are
      exempt from it because this guard covers them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            return self.get_response(request)
        response = self.check(request) or self.get_response(request)
        outcome = getattr(request, "ratelimit", None)
        if outcome is not None:
            for name, value in rate_limit_headers(outcome).items():
                response[name] = value
        return response

    def check(self, request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return api_error(400, "BAD_REQUEST")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return api_error(413, "PAYLOAD_TOO_LARGE")
        if request.method in SAFE_METHODS or presented_key(request.META) is not None:
            return None
        if is_cross_origin(request):
            logger.warning(
                "Cross-origin request refused: %r %r", request.method, request.path_info
            )
            ip = client_ip(request)
            audit_record_once(
                once_key=f"cross-origin:{ip}",
                within=60,
                action=Action.CROSS_ORIGIN_REFUSED,
                request=request,
                detail={
                    "origin": request.META.get("HTTP_ORIGIN", "")[:200],
                    "path": request.path_info[:200],
                },
            )
            return api_error(403, "CROSS_ORIGIN_REQUEST")
        content_type = request.META.get("CONTENT_TYPE", "")
        if length and not is_json(content_type):
            return api_error(415, "UNSUPPORTED_MEDIA_TYPE")
        if content_type.split(";", 1)[0].strip().lower() in FORM_MEDIA_TYPES:
            return api_error(415, "UNSUPPORTED_MEDIA_TYPE")
        return None
