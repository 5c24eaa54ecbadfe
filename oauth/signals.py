"""What a membership's end does to OAuth: the person's authorizations pinned to that
organization end with it (oauth.services.membership_ended), whichever way it ended."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver


@receiver(post_delete, sender="tenants.Membership", dispatch_uid="oauth.membership_ended")
def _membership_ended(sender: Any, instance: Any, **kwargs: Any) -> None:
    from oauth.services import membership_ended

    user_id, organization_id = instance.user_id, instance.organization_id
    # In the transaction that removed the membership: both stand or neither.
    with transaction.atomic():
        membership_ended(user_id=user_id, organization_id=organization_id)
