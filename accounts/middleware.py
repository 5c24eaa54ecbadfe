"""Session lifetimes: an idle timeout, and an absolute one counted from sign-in."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse

from access.credentials import presented_key

timer: Callable[[], float] = time.time  # the clock, a seam for tests

# Unix times kept in the session: when it was signed in, and when it was last used.
SIGNED_IN_AT = "accounts:signed-in-at"
SEEN_AT = "accounts:seen-at"
# The last-use mark is rewritten at most once per this many seconds, so a busy session does
# not write its row on every request; idleness is measured to within this much.
SEEN_RESOLUTION = 60


def mark_signed_in(session: SessionBase, now: float) -> None:
    session[SIGNED_IN_AT] = session[SEEN_AT] = int(now)


class SessionTimeoutMiddleware:
    """Signs out a session unused for SESSION_IDLE_TIMEOUT seconds, and any session signed in
    SESSION_COOKIE_AGE seconds ago, however busy it has been since: use never extends it.

    It sits after AuthenticationMiddleware and before every view, so a dashboard page and a
    session-authenticated API request alike meet an expired session already signed out (the
    session is flushed: its row is deleted and the cookie names nothing).

    Both clocks start when a request issues a new session key to a signed-in session: every
    sign-in does (accounts.services.user_session_start), and so does a password change, which
    proves the password again. A signed-in session without these marks (one that began before
    they existed, or outside a request) counts from the account's last sign-in.

    An expired session is signed out whatever else the request carries: an API key header
    must not keep a stolen cookie alive on pages, which authenticate by the session whatever
    the header says. A request that presents a key does not count as the session's use.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.expire_or_touch(request, touch=presented_key(request.META) is None)
        key_before = request.session.session_key
        response = self.get_response(request)
        if request.session.session_key != key_before and SESSION_KEY in request.session:
            # Saved with the sign-in's own session write: no extra query.
            mark_signed_in(request.session, timer())
        return response

    def expire_or_touch(self, request: HttpRequest, *, touch: bool) -> None:
        session = request.session
        # Anonymous: nothing to time (and, without a cookie, no query to find that out).
        if SESSION_KEY not in session:
            return
        now = timer()
        signed_in_at = session.get(SIGNED_IN_AT)
        seen_at = session.get(SEEN_AT)
        if signed_in_at is None or seen_at is None:
            user = request.user
            if not user.is_authenticated:
                return
            last_login = user.last_login.timestamp() if user.last_login else now
            signed_in_at = last_login if signed_in_at is None else signed_in_at
            seen_at = last_login if seen_at is None else seen_at
        if (
            now - signed_in_at >= settings.SESSION_COOKIE_AGE
            or now - seen_at >= settings.SESSION_IDLE_TIMEOUT
        ):
            logout(request)
            return
        if touch and now - seen_at >= SEEN_RESOLUTION:
            session[SIGNED_IN_AT] = int(signed_in_at)
            session[SEEN_AT] = int(now)
