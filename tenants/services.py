"""Organization and project workflows."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework.exceptions import NotFound

from accounts.models import User
from api.errors import InsufficientRole, LastOwner
from apikeys.models import ApiKey
from audit.models import Action
from audit.services import audit_record
from lib.ids import available_slug
from tenants.models import (
    ROLE_RANK,
    SLUG_MAX_LENGTH,
    Invitation,
    Membership,
    Organization,
    Project,
    Role,
)


@transaction.atomic
def organization_create(*, owner: User, name: str) -> Membership:
    """Create an organization with `owner` as its owner; return the owner's membership."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                organization = Organization.objects.create(
                    name=name[:100],
                    slug=available_slug(
                        Organization,
                        "slug",
                        name,
                        max_length=SLUG_MAX_LENGTH,
                        contended=attempt > 0,
                    ),
                )
            break
        except IntegrityError:
            if attempt == 2:  # the slug was taken concurrently three times running
                raise
    membership = Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    audit_record(
        action=Action.ORGANIZATION_CREATED,
        actor=owner,
        organization=organization,
        target=organization,
        detail={"name": organization.name},
    )
    return membership


@transaction.atomic
def organization_update(
    *, organization: Organization, name: str, actor: User | None = None
) -> Organization:
    previous = organization.name
    organization.name = name
    organization.save(update_fields=["name", "updated_at"])
    audit_record(
        action=Action.ORGANIZATION_UPDATED,
        actor=actor,
        organization=organization,
        target=organization,
        detail={"name": {"from": previous, "to": name}},
    )
    return organization


@transaction.atomic
def project_create(
    *, organization: Organization, created_by: User, name: str, description: str = ""
) -> Project:
    return Project.objects.create(
        organization=organization, created_by=created_by, name=name, description=description
    )


@transaction.atomic
def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    fields = ["updated_at"]
    if name is not None:
        project.name = name
        fields.append("name")
    if description is not None:
        project.description = description
        fields.append("description")
    project.save(update_fields=fields)
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    project.delete()


@transaction.atomic
def membership_role_change(
    *, membership: Membership, role: str, request: HttpRequest | Any = None, by: str = "operator"
) -> Membership:
    """Give the member another role, read and written under a lock, with the audit event.
    The member's keys feel it on their next request (the warm-key cache forgets them)."""
    current = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    previous = current.role
    if previous == role:
        return current
    current.role = role
    current.save(update_fields=["role"])
    _member_audit(
        request,
        Action.MEMBER_ROLE_CHANGED,
        current,
        {"role": {"from": previous, "to": role}, "by": by},
    )
    withdraw_outranked(current, request)
    return current


@transaction.atomic
def membership_remove(
    *, membership: Membership, request: HttpRequest | Any = None, by: str = "operator"
) -> None:
    """Take the member out of the organization, with the audit event; their keys lose it on
    their next request."""
    current = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(pk=membership.pk)
        .first()
    )
    if current is None:
        return  # removed meanwhile
    current.delete()
    _member_audit(request, Action.MEMBER_REMOVED, current, {"role": current.role, "by": by})
    withdraw_outranked(current, request, gone=True)


def _member_audit(
    request: HttpRequest | Any, action: str, membership: Membership, detail: dict[str, Any]
) -> None:
    actor = getattr(request, "user", None)
    audit_record(
        action=action,
        request=request,
        actor=actor if actor is not None and actor.is_authenticated else None,
        organization_id=membership.organization_id,
        target=membership.user,
        detail=detail,
    )


# --- The membership lifecycle, as members manage it through the API and the dashboard ---------
#
# Who may do what: owners manage everyone; admins manage members and admins, never owners, and
# give no one a role above their own; members manage nobody (ScopePermission already refused
# them: members:write is for owners and admins). An organization keeps at least one owner.


def _target(organization_id: str, user_id: str) -> Membership:
    """The member's membership, locked for the change; NotFound if they are not a member."""
    membership = (
        Membership.objects.select_for_update()
        .select_related("user", "organization")
        .filter(organization_id=organization_id, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def _require_manages(actor: Membership, target: Membership, role: str | None = None) -> None:
    """InsufficientRole unless `actor` may change `target` (and give it `role`)."""
    ceiling = ROLE_RANK[actor.role]
    if ROLE_RANK[target.role] > ceiling or (role is not None and ROLE_RANK[role] > ceiling):
        raise InsufficientRole()


def _require_another_owner(organization_id: str, leaving: Membership) -> None:
    """LastOwner if `leaving` is the organization's only owner. The owners' rows are locked,
    so two owners demoting each other at once cannot both succeed."""
    if leaving.role != Role.OWNER:
        return
    owners = list(
        Membership.objects.select_for_update()
        .filter(organization_id=organization_id, role=Role.OWNER)
        .values_list("user_id", flat=True)
    )
    if [owner for owner in owners if owner != leaving.user_id] == []:
        raise LastOwner()


@transaction.atomic
def member_role_set(
    *, actor: Membership, user_id: str, role: str | None, request: Any
) -> Membership:
    """Give a member another role (None: keep theirs), as `actor` (the caller's membership)
    may."""
    target = _target(actor.organization_id, user_id)
    _require_manages(actor, target, role)
    previous = target.role
    if role is None or previous == role:
        return target
    if ROLE_RANK[role] < ROLE_RANK[previous]:
        _require_another_owner(actor.organization_id, target)
    target.role = role
    target.save(update_fields=["role"])
    _member_audit(
        request,
        Action.MEMBER_ROLE_CHANGED,
        target,
        {"role": {"from": previous, "to": role}, "by": "api"},
    )
    withdraw_outranked(target, request)
    notify_member(target, "member_role_changed", previous=previous)
    return target


@transaction.atomic
def member_remove(*, actor: Membership, user_id: str, request: Any) -> None:
    """Take a member out of the organization, as `actor` may; their keys lose it on their next
    request (the warm-key cache forgets them when this commits)."""
    target = _target(actor.organization_id, user_id)
    _require_manages(actor, target)
    _require_another_owner(actor.organization_id, target)
    target.delete()
    _member_audit(request, Action.MEMBER_REMOVED, target, {"role": target.role, "by": "api"})
    withdraw_outranked(target, request, gone=True)
    if target.user_id != actor.user_id:
        notify_member(target, "member_removed")


@transaction.atomic
def membership_leave(*, membership: Membership, request: Any) -> None:
    """The caller leaves the organization (any role; an owner only while another remains)."""
    target = _target(membership.organization_id, membership.user_id)
    _require_another_owner(membership.organization_id, target)
    target.delete()
    _member_audit(request, Action.MEMBER_LEFT, target, {"role": target.role})
    withdraw_outranked(target, request, gone=True)


@transaction.atomic
def ownership_transfer(*, actor: Membership, user_id: str, request: Any) -> Membership:
    """Make a member an owner and the caller, an owner, an admin."""
    current = _target(actor.organization_id, actor.user_id)
    if current.role != Role.OWNER:
        raise InsufficientRole()
    target = _target(actor.organization_id, user_id)
    target.role = Role.OWNER
    target.save(update_fields=["role"])
    current.role = Role.ADMIN
    current.save(update_fields=["role"])
    withdraw_outranked(current, request)
    audit_record(
        action=Action.OWNERSHIP_TRANSFERRED,
        request=request,
        actor=current.user,
        organization_id=actor.organization_id,
        target=target.user,
        detail={"from": current.user_id, "to": target.user_id},
    )
    notify_member(target, "ownership_received")
    return target


@transaction.atomic
def organization_delete(*, actor: Membership, request: Any) -> None:
    """Delete the organization with its projects, memberships and the keys pinned to it, as
    its owner; its audit events stay (without the link to it), and one more says so."""
    organization = (
        Organization.objects.select_for_update().filter(pk=actor.organization_id).first()
    )
    current = _target(actor.organization_id, actor.user_id)
    if organization is None:
        raise NotFound("Organization not found.")
    if current.role != Role.OWNER:
        raise InsufficientRole()
    audit_record(
        action=Action.ORGANIZATION_DELETED,
        request=request,
        actor=current.user,
        detail={"organizationId": organization.pk, "name": organization.name},
    )
    # Each membership and key row goes through delete() so the warm-key cache forgets them.
    for membership in Membership.objects.filter(organization=organization):
        membership.delete()
    for key in ApiKey.objects.filter(organization=organization):
        key.delete()
    organization.delete()


def withdraw_outranked(membership: Membership, request: Any, *, gone: bool = False) -> None:
    """Withdraw the pending invitations `membership`'s person sent that they could not send
    now: all of them once they are out of the organization, else those above their new role.
    A removed or demoted admin's invitation must not bring anyone in as an admin."""
    sent = Invitation.objects.filter(
        organization_id=membership.organization_id, invited_by_id=membership.user_id
    )
    if not gone:
        sent = sent.filter(
            role__in=[
                role for role, rank in ROLE_RANK.items() if rank > ROLE_RANK[membership.role]
            ]
        )
    for invitation in sent.select_for_update(of=("self",)):
        actor = getattr(request, "user", None)
        audit_record(
            action=Action.INVITATION_WITHDRAWN,
            request=request,
            actor=actor if actor is not None and actor.is_authenticated else None,
            organization_id=invitation.organization_id,
            target=invitation,
            detail={
                "invitationId": invitation.pk,
                "email": invitation.email,
                "role": invitation.role,
                "reason": "inviter_left" if gone else "inviter_demoted",
            },
        )
        invitation.delete()


def notify_member(membership: Membership, template: str, **context: Any) -> None:
    """Tell the member, by email from the background worker, once the change has committed."""
    from tenants.tasks import member_email

    user_id, organization_id = membership.user_id, membership.organization_id
    values = {"role": membership.role, **context}
    transaction.on_commit(
        lambda: member_email.enqueue(
            user_id=user_id, organization_id=organization_id, template=template, context=values
        )
    )
