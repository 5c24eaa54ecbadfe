"""Background tasks: the emails that tell a person their place in an organization changed."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django_tasks import task

from accounts.mail import account_email_send, public_link
from accounts.models import User
from tenants.models import Organization, Role


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
