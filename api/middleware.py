"""Request guards for /api/: HTTPS only, body size, cross-origin protection and JSON-only
writes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from access.credentials import presented_key
from api.envelope import error_body
from api.errors import MESSAGES
from audit.models import Action
from audit.services import audit_record_once
from lib.clientip import client_ip, ip_identity
from ratelimits.policies import rate_limit_headers

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# What an HTML form can send without a preflight. (An empty text/plain body is let through:
# some WSGI servers report text/plain for a request that declared no type at all.)
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Sec-Fetch-Site values a browser sends for a request made by a page from elsewhere.
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})
# The one API route that answers over plain HTTP: load balancers often probe it inside their
# network without TLS, and it takes no credential and returns nothing private.
PLAIN_HTTP_PATHS = frozenset({"/api/health"})


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def api_error(status: int, code: str) -> JsonResponse:
    return JsonResponse(
        error_body(status, code, MESSAGES[code]),
        status=status,
        json_dumps_params={"separators": (",", ":")},
    )


# Paths that carry a secret (an invitation link's token): logged and audited without it.
_SECRET_IN_PATH = re.compile(r"^(/api/invitations/)[^/]+")


def loggable_path(path: str) -> str:
    """`path` as it may be written to a log or an audit event."""
    return _SECRET_IN_PATH.sub(r"\1{token}", path)


def refuses_plain_http(request: HttpRequest) -> bool:
    """True for a plain-HTTP API request while HTTPS is enforced (SECURE_SSL_REDIRECT).

    The dashboard's pages are redirected to HTTPS, but an API request is refused instead: by
    the time a redirect could be answered, the key or cookie it carries has crossed the
    network in clear, and a client that quietly follows the redirect would hide that from its
    owner. A 403 makes the mistake visible at once. Behind a TLS-terminating proxy,
    request.is_secure() trusts SECURE_PROXY_SSL_HEADER (BEHIND_TLS_PROXY).
    """
    return (
        settings.SECURE_SSL_REDIRECT
        and not request.is_secure()
        and request.path_info not in PLAIN_HTTP_PATHS
    )


def cross_origin_reason(request: HttpRequest) -> str | None:
    """Why an unsafe request is refused as cross-origin, or None when it is not.

    Decided as Go 1.25's net/http CrossOriginProtection does. Browsers attach cookies to
    cross-site requests, so a cookie alone cannot prove that the user meant a write. Browsers
    also say where a request comes from and cannot be made to lie:
      - Sec-Fetch-Site `same-origin` or `none` (typed URL, bookmark): ours, allow.
      - Sec-Fetch-Site `cross-site` or `same-site`: refuse, unless Origin is in TRUSTED_ORIGINS.
        `same-site` is refused too: a sibling subdomain is not necessarily ours.
      - No Sec-Fetch-Site (older browsers, non-browser clients): an Origin that is our own
        host or trusted is allowed; a request with no Origin at all is not from a browser
        (every browser sends Origin on cross-origin writes), so it carries no victim's cookies
        and is allowed; any other Origin, `null` included (sandboxed frames, data: URLs), is
        refused.

    The reason is one of a few fixed codes, never the header's own text, so that it can key
    the audit trail's once-a-minute record.
    """
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None and origin in settings.TRUSTED_ORIGINS:
        return None
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        if fetch_site in ("same-origin", "none"):
            return None
        if fetch_site in FOREIGN_FETCH_SITES:
            return f"sec-fetch-site:{fetch_site}"
        return "sec-fetch-site:other"
    if origin is None:
        return None
    if origin == "null":
        return "origin:null"
    try:
        foreign = urlsplit(origin).netloc.lower() != request.get_host().lower()
    except ValueError:
        return "origin:malformed"
    return "origin:foreign" if foreign else None


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class ApiRequestGuardMiddleware:
    """Guards every request under /api/ before any view runs.

    - Plain HTTP, while HTTPS is enforced, gets 403 HTTPS_REQUIRED (`/api/health` excepted);
      SecurityMiddleware leaves /api/ alone (SECURE_REDIRECT_EXEMPT) so that this answers.
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
        if refuses_plain_http(request):
            return api_error(403, "HTTPS_REQUIRED")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return api_error(400, "BAD_REQUEST")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return api_error(413, "PAYLOAD_TOO_LARGE")
        if request.method in SAFE_METHODS or presented_key(request.META) is not None:
            return None
        reason = cross_origin_reason(request)
        if reason is not None:
            logger.warning(
                "Cross-origin request refused (%s): %r %r",
                reason,
                request.method,
                loggable_path(request.path_info),
            )
            # Anyone can provoke these refusals, so each client network (an IPv6 client by
            # its /64, whose addresses it can walk through at will) leaves at most one event
            # a minute for each reason.
            network = ip_identity(client_ip(request))
            audit_record_once(
                once_key=f"cross-origin:{network}:{reason}",
                within=60,
                action=Action.CROSS_ORIGIN_REFUSED,
                request=request,
                detail={
                    "reason": reason,
                    "origin": request.META.get("HTTP_ORIGIN", "")[:200],
                    "path": loggable_path(request.path_info)[:200],
                },
            )
            return api_error(403, "CROSS_ORIGIN_REQUEST")
        content_type = request.META.get("CONTENT_TYPE", "")
        if length and not is_json(content_type):
            return api_error(415, "UNSUPPORTED_MEDIA_TYPE")
        if content_type.split(";", 1)[0].strip().lower() in FORM_MEDIA_TYPES:
            return api_error(415, "UNSUPPORTED_MEDIA_TYPE")
        return None


# A JSON answer loads nothing and is framed by no one.
API_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with a fixed policy for the JSON API's answers: they render
    nothing, so they need no policy built per response (the site's, or a view's own, for
    every HTML page, /api/docs included)."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        content_type = response.get("Content-Type", "")
        if is_api_path(request.path_info) and content_type.startswith("application/json"):
            response.setdefault("Content-Security-Policy", API_POLICY)
            return response
        return super().process_response(request, response)
