"""The scope registry: every scope a key may hold, declared by the app that owns its resource,
and the one function that decides whether granted scopes cover a need.

Scopes are `resource:action`. Each app registers its own in `AppConfig.ready()`:

    register(
        Scope("projects:read", _("List and retrieve projects."), roles=every_role),
        Scope("projects:write", _("Create, update and delete projects."), roles=every_role),
    )

Besides exact scopes, a grant may be a wildcard: `resource:*` (every action on one resource),
`read:all` (every `…:read`), `write:all` (every write not marked administrative), and `*` or
`admin` (everything).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

NAME = re.compile(r"[a-z0-9-]+:[a-z0-9-]+")

WILDCARDS: dict[str, Promise] = {
    "*": _("Full access: every scope."),
    "admin": _("Full access, including administration."),
    "read:all": _("Read access to every resource."),
    "write:all": _("Create and update access to every non-administrative resource."),
}

FULL_ACCESS = frozenset({"*", "admin"})


@dataclass(frozen=True)
class Scope:
    """One scope a key may hold.

    `roles` are the organization roles allowed to exercise it on an organization's routes: a
    session needs one of them, a key the scope *and* an owner with one of them. Empty for a
    scope no organization route asks for (the caller's own profile). An `administrative`
    write is left out of `write:all`.
    """

    name: str
    description: str | Promise
    roles: frozenset[str] = frozenset()
    administrative: bool = False

    @property
    def resource(self) -> str:
        return self.name.partition(":")[0]

    @property
    def action(self) -> str:
        return self.name.partition(":")[2]


def _apps_ready() -> bool:
    return apps.ready


class ScopeRegistry(Mapping[str, Scope]):
    """The registered scopes by name, in catalogue order, and the grant rules that read them.

    Apps register while Django starts (in `AppConfig.ready()` or before); the first read waits
    for every app to be ready, and closes registration, so that nothing reads a catalogue
    still missing an app's scopes. A bad declaration stops start-up with ImproperlyConfigured.
    """

    def __init__(self, *, apps_ready: Callable[[], bool] = _apps_ready) -> None:
        self._scopes: list[Scope] = []
        self._by_name: dict[str, Scope] = {}
        self._roles: dict[str, frozenset[str]] = {}
        self._administrative: frozenset[str] = frozenset()
        self._apps_ready = apps_ready
        self._read = False

    # --- Declaring --------------------------------------------------------------------------

    def register(self, *scopes: Scope, before: str | None = None) -> None:
        """Add `scopes` to the catalogue, after those registered so far, or just before the
        first scope of the resource `before` names (which must be registered already)."""
        if self._read:
            names = ", ".join(scope.name for scope in scopes)
            raise ImproperlyConfigured(
                f"Scopes registered after the scope catalogue was read ({names}): register "
                "scopes in AppConfig.ready()."
            )
        seen = set(self._by_name)
        for scope in scopes:
            _check(scope, seen)
            seen.add(scope.name)
        position = len(self._scopes)
        if before is not None:
            position = next(
                (i for i, scope in enumerate(self._scopes) if scope.resource == before), -1
            )
            if position < 0:
                raise ImproperlyConfigured(
                    f"Scopes are registered before {before!r}, a resource not registered yet: "
                    "list the app that registers it earlier in INSTALLED_APPS."
                )
        self._scopes[position:position] = scopes
        self._by_name.update((scope.name, scope) for scope in scopes)
        self._roles.update((scope.name, scope.roles) for scope in scopes)
        self._administrative |= {scope.name for scope in scopes if scope.administrative}

    # --- Reading (once every app is ready) --------------------------------------------------

    def _ordered(self) -> list[Scope]:
        if not self._apps_ready():
            raise AppRegistryNotReady(
                "The scope catalogue is read once every app is ready, as apps register their "
                "scopes in AppConfig.ready()."
            )
        self._read = True
        return self._scopes

    def __getitem__(self, name: str) -> Scope:
        self._ordered()
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        self._ordered()
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter([scope.name for scope in self._ordered()])

    def __len__(self) -> int:
        return len(self._ordered())

    def resources(self) -> list[str]:
        """Every resource with a registered scope, sorted."""
        return sorted({scope.resource for scope in self._ordered()})

    def catalogue(self) -> list[dict[str, str]]:
        """Every scope a key may hold, with its description, for GET /api/scopes: the
        registered scopes in order, each resource's `resource:*`, then the wildcards."""
        entries = [
            {
                "scope": scope.name,
                "resource": scope.resource,
                "description": str(scope.description),
            }
            for scope in self._ordered()
        ]
        entries += [
            {
                "scope": f"{resource}:*",
                "resource": resource,
                "description": f"Every {resource} scope.",
            }
            for resource in self.resources()
        ]
        entries += [
            {"scope": scope, "resource": "*", "description": str(text)}
            for scope, text in WILDCARDS.items()
        ]
        return entries

    def is_known(self, scope: str) -> bool:
        """True for a registered scope, a listed wildcard, or `resource:*` for a known resource."""
        if scope in self or scope in WILDCARDS:
            return True
        resource, _sep, action = scope.partition(":")
        return action == "*" and resource in self.resources()

    # --- Deciding (on every request: no read check, only lookups) ---------------------------

    def roles_allowed(self, scope: str) -> frozenset[str]:
        """The organization roles that may exercise `scope` there; none for an unknown scope."""
        return self._roles.get(scope, frozenset())

    def grants(self, granted: Iterable[str], required: str) -> bool:
        """True when any of the `granted` scopes covers the `required` one."""
        resource, _sep, action = required.partition(":")
        for scope in granted:
            if scope == required or scope in FULL_ACCESS:
                return True
            if scope == f"{resource}:*":
                return True
            if scope == "read:all" and action == "read":
                return True
            if scope == "write:all" and action == "write" and required not in self._administrative:
                return True
        return False

    def covers(self, granted: Iterable[str], requested: str) -> bool:
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
            implied = [name for name in self if self.grants([requested], name)]
            return all(self.grants(granted, name) for name in implied)
        return self.grants(granted, requested)


def _check(scope: Scope, registered: set[str]) -> None:
    """Refuse a declaration that would make the catalogue ambiguous."""
    if scope.name in WILDCARDS:
        raise ImproperlyConfigured(f"Scope {scope.name!r} is the name of a wildcard.")
    if not NAME.fullmatch(scope.name):
        raise ImproperlyConfigured(
            f"Scope {scope.name!r} is not resource:action in lowercase letters, digits and "
            "hyphens, such as 'notes:read'."
        )
    if scope.name in registered:
        raise ImproperlyConfigured(f"Scope {scope.name!r} is registered twice.")
    if scope.administrative and scope.action != "write":
        raise ImproperlyConfigured(
            f"Scope {scope.name!r} is marked administrative, which only a write scope can be "
            "(it keeps the scope out of write:all)."
        )


# The one registry, and its methods under the names the rest of Latchkey imports.
registry = ScopeRegistry()
register = registry.register
catalogue = registry.catalogue
resources = registry.resources
is_known = registry.is_known
roles_allowed = registry.roles_allowed
scope_grants = registry.grants
scope_covers = registry.covers
# The registered scopes by name, in catalogue order (dashboard.forms reads its presets here).
CATALOGUE: Mapping[str, Scope] = registry
