"""The tenancy gate: each tenant route resolves its organization and the caller's role here."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from access.principal import Principal
from api.errors import NotOrganizationMember, OrganizationMismatch
from tenants.models import Membership


def membership_for_request(request: Request, organization_id: str) -> Membership:
    """Return the caller's membership in the organization named by the URL.

    A key pinned to another organization is refused first, with no query. Then one indexed
    query (membership joined to its organization), or none for a read by a key from the
    warm-key cache (the membership's `organization` is then loaded only if a view asks for
    it). A write is always admitted from the database. An organization that does not exist
    answers exactly like one the caller does not belong to, so ids cannot be probed.
    """
    if not Principal.of(request).reaches(organization_id):
        raise OrganizationMismatch()
    roles = _cached_roles(request)
    if roles is not None:  # from the warm-key cache: no query
        if organization_id not in roles:
            raise NotOrganizationMember()
        return Membership(
            user_id=request.user.pk, organization_id=organization_id, role=roles[organization_id]
        )
    return membership_of(request.user.pk, organization_id)


def membership_of(user_id: str, organization_id: str) -> Membership:
    """The user's membership in the organization, with the organization, in one indexed
    query; NotOrganizationMember when there is none (or no such organization)."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(user_id=user_id, organization_id=organization_id)
        .first()
    )
    if membership is None:
        raise NotOrganizationMember()
    return membership


def pinned_organization_plan(request: Request) -> tuple[str, str] | None:
    """(id, plan) of the organization a key is pinned to, once the gate admits its owner
    there; None for a request without a pinned key, and for a key whose owner has left the
    organization: that key spends no budget of the organization's, only its own.

    Costs no query for a read by a warm key; otherwise the gate's one query."""
    pin = Principal.of(request).pin
    if pin is None:
        return None
    try:
        membership = membership_for_request(request, pin)
    except NotOrganizationMember:
        return None
    return organization_plan(request, membership)


def organization_plan(request: Request, membership: Membership) -> tuple[str, str]:
    """(id, plan) of the organization of a membership the gate admitted: from the warm-key
    cache's snapshot for a read by a warm key (no query), else from the organization's row."""
    plans = request.auth.cached_plans if _cached_roles(request) is not None else None
    if plans is not None:
        return membership.organization_id, plans[membership.organization_id]
    return membership.organization_id, membership.organization.plan


def _cached_roles(request: Request) -> dict[str, str] | None:
    """The warm-key cache's snapshot of the key owner's roles, when it may decide: for a read
    only. Authentication gives a write none; the gate does not rely on that alone."""
    if request.method not in SAFE_METHODS:
        return None
    return getattr(request.auth, "cached_roles", None)
