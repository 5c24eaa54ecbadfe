"""Changing an organization's key policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from apikeys import policy as key_policy
from audit.models import Action
from audit.services import audit_record
from tenants.models import Organization


@transaction.atomic
def key_policy_update(
    *,
    organization_id: str,
    changes: Mapping[str, Any],
    actor: Any,
    acting_key: Any = None,
) -> dict[str, Any]:
    """Apply `changes` (rules by their API names; None or False turns one off) to the
    organization's key policy and return the policy as the API shows it. The row is read
    under a lock, so concurrent changes to different rules both stand; its post_save signal
    withdraws the warm-cache entries of the members' keys, so the next request of every key is
    judged by the new rules. The audit event records each rule's value before and after."""
    organization = Organization.objects.select_for_update().get(pk=organization_id)
    before = key_policy.shown(organization.key_policy)
    after = {**before, **changes}
    changed = [rule for rule in key_policy.RULES if before[rule] != after[rule]]
    if changed:
        organization.key_policy = key_policy.stored(after)
        organization.save(update_fields=["key_policy", "updated_at"])
        audit_record(
            action=Action.KEY_POLICY_CHANGED,
            actor=actor,
            api_key=acting_key,
            organization=organization,
            target=organization,
            detail={rule: {"from": before[rule], "to": after[rule]} for rule in changed},
        )
    return after
