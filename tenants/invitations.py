"""Invitations: owners and admins invite an address; the person who holds it joins.

Who may invite: owners and admins (members:write), and nobody above their own role. One
invitation per address and organization: a second one replaces the first. The link is
emailed by the background worker and names nothing but the invitation (tenants/tokens.py).
Accepting needs an account with the invited address (by canonical key) and proves that
address; a person without an account signs up from the invitation instead
(accounts.services.user_sign_up), and lands in the organization in one step.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound

from accounts.identity import canonical_email
from accounts.models import User
from api.errors import (
    AlreadyMember,
    EmailNotVerified,
    InsufficientRole,
    InvalidToken,
    InvitationEmailMismatch,
)
from audit.models import Action
from audit.services import audit_record
from ratelimits.policies import consume_for_organization
from tenants.models import ROLE_RANK, Invitation, Membership, Organization
from tenants.services import notify_member
from tenants.tokens import invitation_id, token_matches


def _max_age() -> timedelta:
    return timedelta(seconds=settings.ACCOUNTS["INVITATION_MAX_AGE"])


def _require_invites(actor: Membership, role: str) -> None:
    """InsufficientRole unless `actor` may invite (or manage an invitation) with `role`."""
    if ROLE_RANK[role] > ROLE_RANK[actor.role]:
        raise InsufficientRole()


def _require_verified(inviter: User) -> None:
    # Mail to an address nobody has proven goes out only for someone who proved theirs.
    if not inviter.is_verified:
        raise EmailNotVerified("Verify your email address before inviting anyone.")


def _actor(request: Any) -> User | None:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str, request: Any) -> Invitation:
    """Invite `email` to the actor's organization with `role`, replacing any earlier
    invitation to the same address; the link is emailed once this commits."""
    inviter = actor.user
    _require_verified(inviter)
    _require_invites(actor, role)
    # One invitation at a time per organization: two for the same address cannot race.
    Organization.objects.select_for_update().filter(pk=actor.organization_id).first()
    key = canonical_email(email)
    members = Membership.objects.filter(organization_id=actor.organization_id)
    if members.filter(user__email_key=key).exists():
        raise AlreadyMember()
    previous = Invitation.objects.filter(
        organization_id=actor.organization_id, email_key=key
    ).first()
    if previous is not None:
        _require_invites(actor, previous.role)
    consume_for_organization(request, "INVITATIONS_ORGANIZATION", actor.organization_id)
    replaced = None
    if previous is not None:
        replaced = previous.pk
        previous.delete()
    now = timezone.now()
    invitation = Invitation.objects.create(
        organization_id=actor.organization_id,
        email=email,
        email_key=key,
        role=role,
        invited_by=inviter,
        sent_at=now,
        expires_at=now + _max_age(),
    )
    detail: dict[str, Any] = {"invitationId": invitation.pk, "email": email, "role": role}
    if replaced is not None:
        detail["replaced"] = replaced
    _audit(request, Action.INVITATION_CREATED, invitation, detail)
    _send(invitation)
    return invitation


def _managed(actor: Membership, pk: str) -> Invitation:
    """One of the organization's invitations, locked, that `actor` may manage; NotFound if the
    organization has none with that id."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("invited_by")
        .filter(organization_id=actor.organization_id, pk=pk)
        .first()
    )
    if invitation is None:
        raise NotFound("Invitation not found.")
    _require_invites(actor, invitation.role)
    return invitation


@transaction.atomic
def invitation_resend(*, actor: Membership, pk: str, request: Any) -> Invitation:
    """Send the invitation again with a new link (the old one stops working) and a new
    expiry; an expired invitation comes back to life."""
    invitation = _managed(actor, pk)
    _require_verified(actor.user)
    consume_for_organization(request, "INVITATIONS_ORGANIZATION", actor.organization_id)
    # The mail names whoever sent it last.
    invitation.invited_by = actor.user
    now = timezone.now()
    invitation.sent_at = now
    invitation.expires_at = now + _max_age()
    invitation.save(update_fields=["invited_by", "sent_at", "expires_at"])
    _audit(
        request,
        Action.INVITATION_RESENT,
        invitation,
        {"invitationId": invitation.pk, "email": invitation.email, "role": invitation.role},
    )
    _send(invitation)
    return invitation


@transaction.atomic
def invitation_withdraw(*, actor: Membership, pk: str, request: Any) -> None:
    invitation = _managed(actor, pk)
    _audit(
        request,
        Action.INVITATION_WITHDRAWN,
        invitation,
        {"invitationId": pk, "email": invitation.email, "role": invitation.role},
    )
    invitation.delete()


def invitation_for_token(token: str, *, lock: bool = False) -> Invitation:
    """The live invitation a link names; InvalidToken if it is malformed, tampered with,
    expired, or ended (accepted, declined, withdrawn, or sent again since)."""
    pk = invitation_id(token)
    if pk is None:
        raise InvalidToken()
    invitations = Invitation.objects.select_related("organization", "invited_by")
    if lock:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.filter(pk=pk).first()
    if invitation is None or not token_matches(invitation, token):
        raise InvalidToken()
    if not _inviter_still_may(invitation):
        raise InvalidToken()
    return invitation


def _inviter_still_may(invitation: Invitation) -> bool:
    """Whether whoever sent the invitation is still a member who may give its role. (Removing
    or demoting a member withdraws what they can no longer give: this is the backstop.)"""
    role = (
        Membership.objects.filter(
            organization_id=invitation.organization_id, user_id=invitation.invited_by_id
        )
        .values_list("role", flat=True)
        .first()
    )
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[invitation.role]


def require_address(invitation: Invitation, email: str) -> None:
    """InvitationEmailMismatch unless `email` is the invited address (by canonical key)."""
    if canonical_email(email) != invitation.email_key:
        raise InvitationEmailMismatch()


def invitation_accept(*, token: str, user: User, request: Any) -> Membership:
    """The signed-in person joins the organization with the invited role. Someone who is
    already a member gets ALREADY_MEMBER, and the invitation ends all the same."""
    membership = _accept(token, user, request)
    if membership is None:
        raise AlreadyMember()
    return membership


@transaction.atomic
def _accept(token: str, user: User, request: Any) -> Membership | None:
    invitation = invitation_for_token(token, lock=True)
    require_address(invitation, user.email)
    if Membership.objects.filter(organization_id=invitation.organization_id, user=user).exists():
        invitation.delete()
        return None
    return invitation_join(invitation=invitation, user=user, request=request)


def invitation_join(*, invitation: Invitation, user: User, request: Any) -> Membership:
    """Make `user` (whose address the caller matched) a member; the invitation ends and the
    address is proven. In the caller's transaction, with `invitation` locked."""
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                organization_id=invitation.organization_id, user=user, role=invitation.role
            )
    except IntegrityError:  # joined by another way a moment ago
        raise AlreadyMember() from None
    if not user.is_verified:
        user.mark_verified()
        audit_record(
            action=Action.EMAIL_VERIFIED,
            request=request,
            actor=user,
            target=user,
            detail={"by": "invitation"},
        )
    audit_record(
        action=Action.MEMBER_ADDED,
        request=request,
        actor=user,
        organization_id=invitation.organization_id,
        target=user,
        detail={
            "role": invitation.role,
            "invitationId": invitation.pk,
            "invitedBy": invitation.invited_by_id,
        },
    )
    invitation.delete()
    notify_member(membership, "member_added")
    return membership


@transaction.atomic
def invitation_decline(*, token: str, request: Any) -> Invitation:
    """Whoever holds the link turns the invitation down: it ends."""
    invitation = invitation_for_token(token, lock=True)
    _audit(
        request,
        Action.INVITATION_DECLINED,
        invitation,
        {"invitationId": invitation.pk, "email": invitation.email, "role": invitation.role},
    )
    invitation.delete()
    return invitation


def _audit(
    request: Any,
    action: str,
    invitation: Invitation,
    detail: dict[str, Any],
) -> None:
    audit_record(
        action=action,
        request=request,
        actor=_actor(request),
        organization_id=invitation.organization_id,
        target=invitation,
        detail=detail,
    )


def _send(invitation: Invitation) -> None:
    """Email the invitation's current link from the background worker once this commits.
    Only the id travels: the worker makes the link, so no token sits in the task queue."""
    from tenants.tasks import invitation_email

    pk, sent_at = invitation.pk, invitation.sent_at.isoformat()
    transaction.on_commit(lambda: invitation_email.enqueue(invitation_id=pk, sent_at=sent_at))
