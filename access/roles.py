"""What each organization role may do: every scope names the roles that may exercise it in an
organization, where the app that owns its resource registers it (access/scopes.py).

A session is governed by its role alone; an API key by its scopes intersected with its owner's
current role, so a key never does more than the person who holds it can do now.
"""

from __future__ import annotations

from access.scopes import roles_allowed
from api.errors import InsufficientRole


def role_allows(role: str, scope: str) -> bool:
    """True when `role` in an organization may perform what `scope` names there."""
    return role in roles_allowed(scope)


def require_role(role: str, scope: str) -> None:
    """Refuse (InsufficientRole) unless `role` may perform what `scope` names: for code that
    acts on a membership it already holds, such as the dashboard's forms."""
    if not role_allows(role, scope):
        raise InsufficientRole()
