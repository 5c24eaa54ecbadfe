"""What each organization role may do, expressed as the scopes it grants.

A session is governed by its role alone; an API key by its scopes intersected with its owner's
current role, so a key never does more than the person who holds it can do now.
"""

from __future__ import annotations

from api.errors import InsufficientRole
from tenants.models import Role

_MEMBER = frozenset(
    {
        "organizations:read",
        "members:read",
        "projects:read",
        "projects:write",
        "api-keys:read",
        "subscription:read",
    }
)
_ADMIN = _MEMBER | {"organizations:write", "members:write", "audit:read"}

ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.MEMBER: _MEMBER,
    Role.ADMIN: _ADMIN,
    Role.OWNER: _ADMIN,
}


def role_allows(role: str, scope: str) -> bool:
    """True when `role` in an organization may perform what `scope` names there."""
    return scope in ROLE_SCOPES.get(role, frozenset())


def require_role(role: str, scope: str) -> None:
    """Refuse (InsufficientRole) unless `role` may perform what `scope` names: for code that
    acts on a membership it already holds, such as the dashboard's forms."""
    if not role_allows(role, scope):
        raise InsufficientRole()
