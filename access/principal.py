"""The caller as one typed value: who (a user), through what (a session or an API key), with
which scopes and which pin. Made once per request (authentication stores a key's; a session's
is made from `request.user`) and read with `Principal.of`; the one place that reads a key's pin
to decide what the caller may reach."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from api.errors import OrganizationMismatch


@dataclass(frozen=True)
class Tenancy:
    """The owner's role in, and the plan of, each organization the credential may reach, as
    read from the database together with the credential (the warm-key cache keeps it beside
    the key). The tenancy gate may decide a read from it with no query; never a write."""

    roles: Mapping[str, str]  # {organization id: role}
    plans: Mapping[str, str]  # {organization id: plan}
    membership_count: int = 0  # every organization the user belongs to, within reach or not
    # {organization id: its key policy}, for the organizations that have one
    policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Principal:
    user: Any
    key: Any = None  # the ApiKey that authenticated the request; None for a session
    tenancy: Tenancy | None = None  # a read's snapshot of the owner's memberships, if any
    # Set when the request presented a rolled key's previous secret: when that secret stops.
    previous_secret_ends_at: datetime | None = None

    @classmethod
    def of(cls, request: Any) -> Principal:
        """The request's principal: the one authentication stored for its credential, else
        one made from the signed-in user (a session's costs nothing to make)."""
        key = getattr(request, "auth", None)
        stored = getattr(request, "principal", None)
        if isinstance(stored, Principal) and stored.key is key and key is not None:
            return stored
        return cls(user=request.user, key=key)

    @property
    def via(self) -> str:
        """How the caller authenticated: "session", "api_key" or "oauth" (an OAuth access
        token, which stands where a key does: `key` is the token)."""
        if self.key is None:
            return "session"
        return getattr(self.key, "credential_kind", "api_key")

    @property
    def scopes(self) -> list[str] | None:
        """The key's (or token's) scopes; None for a session, which its member's role alone
        governs."""
        if self.key is None:
            return None
        granted = getattr(self.key, "granted_scopes", None)
        return list(granted if granted is not None else self.key.scopes)

    @property
    def expires_at(self) -> datetime | None:
        """When the API key the request presented stops working: the key's expiry, or the end
        of a rolled key's previous secret if that was presented and ends sooner. None for a
        key that never expires, and for any other credential."""
        if self.via != "api_key":
            return None
        ends = [self.key.expires_at, self.previous_secret_ends_at]
        return min((end for end in ends if end is not None), default=None)

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
            raise OrganizationMismatch(via=self.via)
        return self.pin
