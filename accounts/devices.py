"""Known devices: a signed cookie, set by a successful sign-in, naming the accounts that signed
in from this browser since their passwords were last set (OWASP's device cookies). A known
device is exempt from an account's failed sign-in ceiling, so guesses from elsewhere cannot
lock the owner out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

from accounts.models import User
from ratelimits.policies import account_identity

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


def _entry(email: str, password_hash: str) -> str:
    """The account's digest, and a tag of its current password hash: a new password (a
    reset, a change, securing the account) makes every device known before it unknown."""
    tag = salted_hmac(SALT, password_hash).hexdigest()[:16]
    return f"{account_identity(email)}.{tag}"


def is_known(request: HttpRequest | Any, email: str, user: Any = None) -> bool:
    """Whether this browser has signed in to the account of `email` since its password was
    last set. `user`, when the caller holds the account's row, saves reading it."""
    http = getattr(request, "_request", request)
    entries = _accounts(http)
    account = account_identity(email)
    if not any(entry.split(".", 1)[0] == account for entry in entries):
        return False  # no query for a browser that never signed in to this account
    if user is None:
        user = User.objects.with_email(email).only("password", "email").first()
    return user is not None and _entry(user.email, user.password) in entries


def remember(request: HttpRequest | Any, user: Any) -> None:
    """Mark this browser as known for the account; the cookie is set on the response."""
    http = getattr(request, "_request", request)
    entry = _entry(user.email, user.password)
    account = entry.split(".", 1)[0]
    others = [item for item in _accounts(http) if item.split(".", 1)[0] != account]
    setattr(http, _PENDING, [entry, *others][:MAX_ACCOUNTS])


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
