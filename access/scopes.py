"""The scope catalogue and the one function that decides whether granted scopes cover a need.

Scopes are `resource:action`. Besides exact scopes, a grant may be a wildcard:
`resource:*` (every action on one resource), `read:all` (every `…:read`), `write:all`
(every non-administrative write), and `*` or `admin` (everything).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext_lazy as _

CATALOGUE: dict[str, str] = {
    "user:read": _("Read your profile and list your organizations."),
    "user:write": _("Update your profile."),
    "organizations:read": _("Read organization details."),
    "organizations:write": _("Create organizations and change their settings."),
    "members:read": _("List organization members and their roles."),
    "members:write": _("Change members' roles and remove members."),
    "projects:read": _("List and retrieve projects."),
    "projects:write": _("Create, update and delete projects."),
    "api-keys:read": _("List your API keys."),
    "api-keys:write": _("Create, rename and revoke API keys."),
    "subscription:read": _("Read the organization's plan and its rate limits."),
    "audit:read": _("Read audit events: your own, and your organizations' as owner or admin."),
}


def catalogue() -> list[dict[str, str]]:
    """Every scope a key may hold, with its description, for GET /api/scopes."""
    entries = [
        {"scope": scope, "resource": scope.split(":", 1)[0], "description": str(text)}
        for scope, text in CATALOGUE.items()
    ]
    entries += [
        {"scope": f"{resource}:*", "resource": resource, "description": f"Every {resource} scope."}
        for resource in resources()
    ]
    entries += [
        {"scope": scope, "resource": "*", "description": str(text)}
        for scope, text in WILDCARDS.items()
    ]
    return entries


WILDCARDS: dict[str, str] = {
    "*": _("Full access: every scope."),
    "admin": _("Full access, including administration."),
    "read:all": _("Read access to every resource."),
    "write:all": _("Create and update access to every non-administrative resource."),
}

# Writes that `write:all` does not include: administration of keys and membership.
ADMINISTRATIVE = frozenset({"api-keys:write", "members:write"})

FULL_ACCESS = frozenset({"*", "admin"})


def resources() -> list[str]:
    return sorted({scope.split(":", 1)[0] for scope in CATALOGUE})


def is_known(scope: str) -> bool:
    """True for a catalogue scope, a listed wildcard, or `resource:*` for a known resource."""
    if scope in CATALOGUE or scope in WILDCARDS:
        return True
    resource, _sep, action = scope.partition(":")
    return action == "*" and resource in resources()


def scope_covers(granted: Iterable[str], requested: str) -> bool:
    """True when `granted` includes everything `requested` would grant (wildcards included).

    A key may only create keys whose every scope it covers.
    """
    granted = set(granted)
    if granted & FULL_ACCESS:
        return True
    if requested in FULL_ACCESS:
        return False
    if requested in ("read:all", "write:all") or requested.endswith(":*"):
        if requested in granted:
            return True
        implied = [s for s in CATALOGUE if scope_grants([requested], s)]
        return all(scope_grants(granted, s) for s in implied)
    return scope_grants(granted, requested)


def scope_grants(granted: Iterable[str], required: str) -> bool:
    """True when any of the `granted` scopes covers the `required` one."""
    resource, _sep, action = required.partition(":")
    for scope in granted:
        if scope == required or scope in FULL_ACCESS:
            return True
        if scope == f"{resource}:*":
            return True
        if scope == "read:all" and action == "read":
            return True
        if scope == "write:all" and action == "write" and required not in ADMINISTRATIVE:
            return True
    return False
