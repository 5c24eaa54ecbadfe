"""The caller as one typed value: who (a user), through what (a session or an API key), with
which scopes and which pin. Made from the request by `Principal.of`; the one place that reads
a key's pin to decide what the caller may reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from api.errors import OrganizationMismatch


@dataclass(frozen=True)
class Principal:
    user: Any
    key: Any = None  # the ApiKey that authenticated the request; None for a session

    @classmethod
    def of(cls, request: Any) -> Principal:
        return cls(user=request.user, key=getattr(request, "auth", None))

    @property
    def via(self) -> str:
        """How the caller authenticated: "session" or "api_key"."""
        return "session" if self.key is None else "api_key"

    @property
    def scopes(self) -> list[str] | None:
        """The key's scopes; None for a session, which its member's role alone governs."""
        return None if self.key is None else list(self.key.scopes)

    @property
    def pin(self) -> str | None:
        """The one organization a pinned key may act in; None when not pinned."""
        return None if self.key is None else self.key.organization_id

    def reaches(self, organization_id: str) -> bool:
        """Whether the credential may act in this organization at all (membership aside)."""
        return self.pin is None or self.pin == organization_id

    def within_reach(self, queryset: QuerySet, field: str = "organization_id") -> QuerySet:
        """`queryset` narrowed to what the credential may see: a pinned key, its organization."""
        return queryset if self.pin is None else queryset.filter(**{field: self.pin})

    def child_pin(self, requested: str | None) -> str | None:
        """The pin of a key this caller creates: a pinned key's children stay in its
        organization (OrganizationMismatch if another is asked for)."""
        if self.pin is None:
            return requested
        if requested not in (None, self.pin):
            raise OrganizationMismatch()
        return self.pin
