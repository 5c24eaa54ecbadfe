"""The tenancy gate: each tenant route resolves its organization and the caller's role here."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from access.principal import Principal, Tenancy
from api.errors import KeyRevokedInOrganization, NotOrganizationMember, OrganizationMismatch
from apikeys.enforcement import key_policy_enforce
from tenants.models import Membership


def membership_for_request(request: Request, organization_id: str) -> Membership:
    """Return the caller's membership in the organization named by the URL.

    A key pinned to another organization is refused first, with no query. Then one indexed
    query (membership joined to its organization), or none for a read decided from the
    principal's tenancy snapshot (read by authentication with the key, or from the warm-key
    cache; the membership's `organization` is then loaded only if a view asks for it). A write
    is always admitted from the database. An organization that does not exist answers exactly
    like one the caller does not belong to, so ids cannot be probed.

    An API key is then held to the organization's key policy (apikeys.enforcement), read in
    the same query or snapshot: KeyPolicyViolation names the rule that refuses it.
    """
    principal = Principal.of(request)
    if not principal.reaches(organization_id):
        raise OrganizationMismatch(via=principal.via)
    tenancy = tenancy_snapshot(request)
    if tenancy is not None:  # read with the key (or from the warm-key cache): no query
        if organization_id not in tenancy.roles:
            raise NotOrganizationMember()
        membership = Membership(
            user_id=request.user.pk,
            organization_id=organization_id,
            role=tenancy.roles[organization_id],
        )
        policy = tenancy.policies.get(organization_id)
    else:
        membership = membership_of(request.user.pk, organization_id)
        policy = membership.organization.key_policy
    if principal.via == "api_key":
        if organization_id in principal.key.revoked_in:
            raise KeyRevokedInOrganization()
        if policy:
            key_policy_enforce(request, principal, organization_id, policy)
    return membership


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
    tenancy = tenancy_snapshot(request)
    if tenancy is not None:
        return membership.organization_id, tenancy.plans[membership.organization_id]
    return membership.organization_id, membership.organization.plan


def tenancy_of(principal: Principal) -> Tenancy:
    """The principal's user's role in, and the plan of, each organization its credential may
    reach, and how many organizations the user belongs to, in one query: the snapshot a read
    may be decided from (and the warm-key cache keeps)."""
    memberships = Membership.objects.for_user(principal.user.pk)
    rows = list(
        memberships.values_list(
            "organization_id", "role", "organization__plan", "organization__key_policy"
        )
    )
    reached = [row for row in rows if principal.reaches(row[0])]
    return Tenancy(
        roles={org: role for org, role, _plan, _policy in reached},
        plans={org: plan for org, _role, plan, _policy in reached},
        membership_count=len(rows),
        policies={org: policy for org, _role, _plan, policy in reached if policy},
    )


def tenancy_snapshot(request: Request) -> Tenancy | None:
    """The principal's tenancy snapshot, when it may decide: for a read only (None for a write
    and for a session). Authentication gives a write none; this does not rely on that alone.
    Anything read from the snapshot (roles, plans, the membership count) is read through here."""
    if request.method not in SAFE_METHODS:
        return None
    return Principal.of(request).tenancy
