"""Sessions kept with their user's id, so that one person's sessions can be counted and ended
with an indexed query (Django's documented way of extending the database session engine)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls) -> type:
        from accounts.models import UserSession

        return UserSession

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        session = super().create_model_instance(data)
        user_id = data.get(SESSION_KEY)
        session.user_id = str(user_id) if user_id else ""
        return session


def live_sessions(user_id: Any) -> QuerySet:
    """The user's sessions that have not expired."""
    return SessionStore.get_model_class().objects.filter(
        user_id=str(user_id), expire_date__gt=timezone.now()
    )


def sessions_end(user_id: Any) -> int:
    """End every session of the user; return how many were live. The rows go, so the cookies
    that named them no longer work, in every worker at once."""
    ended = live_sessions(user_id).count()
    SessionStore.get_model_class().objects.filter(user_id=str(user_id)).delete()
    return ended


def session_auth_hash(request: Any) -> str | None:
    """The password-derived hash this request's session was signed in with, or None for a
    request authenticated by an API key."""
    if getattr(request, "auth", None) is not None:
        return None
    http = getattr(request, "_request", request)
    return http.session.get(HASH_SESSION_KEY, "")


def session_is_current(auth_hash: str | None, user: Any) -> bool:
    """Whether a session signed in with `auth_hash` still belongs to `user` as it is now (the
    row read under lock): active, and its password unchanged since (a reset, a change or
    securing the account changes it)."""
    return bool(
        user.is_active
        and auth_hash is not None
        and constant_time_compare(auth_hash, user.get_session_auth_hash())
    )
