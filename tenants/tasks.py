"""Background tasks: invitations, and the emails that tell a person their place in an
organization changed."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from accounts.mail import account_email_send, public_link
from accounts.models import User
from ratelimits.policies import email_recipient_allowed
from tenants.models import Invitation, Organization, Role
from tenants.tokens import make_invitation_token


@task()
def member_email(
    *, user_id: str, organization_id: str, template: str, context: dict[str, Any]
) -> bool:
    """Send `emails/<template>` to an active account about one organization (which may be gone
    since, for a removal: the mail then names no organization). Returns whether one went out.

    The organization's name is the only text in it that a person chose, and the recipient is
    already in (or just left) that organization, so it names nothing they have not seen."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    organization = Organization.objects.filter(pk=organization_id).first()
    account_email_send(
        to=user.email,
        template=f"emails/{template}",
        context={
            **context,
            "email": user.email,
            # One line, whatever the name holds: it goes in the subject too.
            "organization": " ".join(organization.name.split()) if organization else "",
            "role_label": Role(context.get("role", Role.MEMBER)).label.lower(),
            "link": public_link(
                reverse("dashboard:members", args=[organization_id])
                if organization
                else reverse("dashboard:home")
            ),
        },
    )
    return True


@task()
def invitation_email(*, invitation_id: str, sent_at: str) -> bool:
    """Email the invitation's link, unless it has ended, expired or been sent again since
    (that later send mails its own link). Returns whether a mail went out.

    The mail goes to an address nobody has proven yet, so it holds no text the inviter chose:
    it names the inviter by their verified address, and the role; the organization's name is
    shown on the page behind the link."""
    invitation = Invitation.objects.select_related("invited_by").filter(pk=invitation_id).first()
    if (
        invitation is None
        or invitation.sent_at.isoformat() != sent_at
        or invitation.expires_at <= timezone.now()
        or not email_recipient_allowed(invitation.email, budget="INVITATION_RECIPIENT")
    ):
        return False
    inviter = invitation.invited_by
    account_email_send(
        to=invitation.email,
        template="emails/invitation",
        context={
            "email": invitation.email,
            "inviter": inviter.email if inviter is not None else "",
            "role_label": Role(invitation.role).label.lower(),
            "days": max(
                1, round((invitation.expires_at - timezone.now()).total_seconds() / 86400)
            ),
            "link": public_link(
                reverse("dashboard:invitation-link", args=[make_invitation_token(invitation)])
            ),
        },
    )
    return True
