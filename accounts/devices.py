"""Known devices: a signed cookie, set by a successful sign-in, naming the accounts that signed
in from this browser (OWASP's device cookies). A known device is exempt from an account's
failed sign-in ceiling, so guesses from elsewhere cannot lock the owner out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from config.throttling import account_identity

SALT = "latchkey.accounts.known-device"
NAME = "latchkey_device"
MAX_ACCOUNTS = 5  # accounts remembered per browser, most recent first
_PENDING = "_known_device_accounts"


def cookie_name() -> str:
    """`__Host-` in production: Secure, for this host only, on every path."""
    return f"__Host-{NAME}" if settings.SESSION_COOKIE_SECURE else NAME


def _accounts(request: HttpRequest) -> list[str]:
    raw = request.COOKIES.get(cookie_name())
    if not raw:
        return []
    try:
        value = signing.loads(raw, salt=SALT, max_age=settings.DEVICE_COOKIE_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return []
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)][:MAX_ACCOUNTS]


def is_known(request: HttpRequest | Any, email: str) -> bool:
    """Whether this browser has signed in to the account of `email` before."""
    http = getattr(request, "_request", request)
    return account_identity(email) in _accounts(http)


def remember(request: HttpRequest | Any, email: str) -> None:
    """Mark this browser as known for the account; the cookie is set on the response."""
    http = getattr(request, "_request", request)
    account = account_identity(email)
    others = [item for item in _accounts(http) if item != account]
    setattr(http, _PENDING, [account, *others][:MAX_ACCOUNTS])


class KnownDeviceMiddleware:
    """Writes the cookie that remember() asked for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        accounts = getattr(request, _PENDING, None)
        if accounts:
            response.set_cookie(
                cookie_name(),
                signing.dumps(accounts, salt=SALT, compress=True),
                max_age=settings.DEVICE_COOKIE_AGE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
