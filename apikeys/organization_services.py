"""An organization's view of the API keys that act in it, and its owners' and admins' way to
revoke one there."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from rest_framework.exceptions import NotFound

from accounts.models import User
from apikeys import services
from apikeys.models import ApiKey
from apikeys.tasks import owner_notify
from audit.models import Action
from audit.services import audit_record
from tenants.models import Membership


def keys_acting_in(organization_id: str) -> QuerySet[ApiKey]:
    """Every key of the organization's members that can act in it, whatever its state:
    pinned to it, or unpinned. A former member's keys are not among them, nor is a key pinned
    to another organization."""
    members = Membership.objects.filter(organization_id=organization_id).values("user_id")
    return ApiKey.objects.filter(user_id__in=members).filter(
        Q(organization_id=organization_id) | Q(organization__isnull=True)
    )


@transaction.atomic
def api_key_revoke_in_organization(
    *,
    organization_id: str,
    key_id: str,
    actor: User,
    acting_key: Any = None,
) -> ApiKey:
    """An owner or admin of the organization (`actor`, whose role the caller has checked)
    revokes a key that acts in it. A key pinned to the organization is revoked outright, with
    the keys it created (services.api_key_revoke, by "organization"). An unpinned key is
    revoked there only: the organization joins its `revoked_in`, the tenancy gate refuses it
    there from its next request (403 KEY_REVOKED_IN_ORGANIZATION), and it keeps working
    everywhere else. Either way the owner is mailed, and the audit trail names the
    organization. `acting_key` is the credential of the request, if not a session.

    Idempotent: a key already revoked, outright or here, is answered as it is, with no second
    mail. A key that does not act in the organization is NotFound, like one that does not
    exist, so ids cannot be probed."""
    # Locked, so two revocations at once append the organization once and mail once.
    key = (
        keys_acting_in(organization_id)
        .select_related("user")
        .select_for_update(of=("self",))
        .filter(pk=key_id)
        .first()
    )
    if key is None:
        raise NotFound("API key not found.")
    if key.organization_id == organization_id:
        return services.api_key_revoke(
            key=key,
            revoked_by=actor,
            acting_key=acting_key,
            by="organization",
            organization_id=organization_id,
        )
    if key.is_revoked or organization_id in key.revoked_in:
        return key
    # The keys it created, and theirs, are revoked here with it: a leaked key's offspring
    # must not keep acting where it no longer may.
    for current in services.with_offspring(key):
        if current.is_revoked or organization_id in current.revoked_in:
            continue
        current.revoked_in = [*current.revoked_in, organization_id]
        # Saved with its post_save signal, which withdraws the key's warm-cache entries: a
        # key served from the cache is refused here on its next request too.
        current.save(update_fields=["revoked_in"])
        audit_record(
            action=Action.KEY_REVOKED,
            actor=actor,
            api_key=acting_key,
            organization_id=organization_id,
            target=current,
            detail={
                "by": "organization",
                "organizationId": organization_id,
                **({"cascadeFrom": key.pk} if current.pk != key.pk else {}),
            },
        )
    owner_notify(
        key,
        "api_key_revoked_in_organization",
        by="organization",
        organization_id=organization_id,
        by_user_id=actor.pk,
    )
    return key
