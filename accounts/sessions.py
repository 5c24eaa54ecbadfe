"""Sessions kept with their user's id, so that one person's sessions can be counted and ended
with an indexed query (Django's documented way of extending the database session engine)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db.models import QuerySet
from django.utils import timezone


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
