"""The tenancy gate: each tenant route resolves its organization and the caller's role here."""

from __future__ import annotations

from rest_framework.request import Request

from config.errors import NotOrganizationMember, OrganizationMismatch
from tenants.models import Membership


def membership_for_request(request: Request, organization_id: str) -> Membership:
    """Return the caller's membership in the organization named by the URL.

    A key pinned to another organization is refused first, with no query. Then one indexed
    query (membership joined to its organization), or none for a key from the warm-key cache
    (the membership's `organization` is then loaded only if a view asks for it). An
    organization that does not exist answers exactly like one the caller does not belong
    to, so ids cannot be probed.
    """
    key = request.auth
    if key is not None and key.organization_id and key.organization_id != organization_id:
        raise OrganizationMismatch()
    roles = getattr(key, "cached_roles", None)
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
