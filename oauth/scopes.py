"""The scopes an OAuth client may ask for: Latchkey's scope catalogue, less what makes keys
or reaches everything (`*`, `admin`, `api-keys:write`, `api-keys:*`): an application a person
authorized acts within its grant, and mints no credential that outlives it."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from access.scopes import catalogue

NOT_FOR_APPLICATIONS = frozenset({"*", "admin", "api-keys:write", "api-keys:*"})


class CatalogueScopes(BaseScopes):
    def get_all_scopes(self) -> dict[str, str]:
        return {
            entry["scope"]: str(entry["description"])
            for entry in catalogue()
            if entry["scope"] not in NOT_FOR_APPLICATIONS
        }

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return list(self.get_all_scopes())

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        # A client that names no scope gets the least: reading the profile.
        return ["user:read"]
