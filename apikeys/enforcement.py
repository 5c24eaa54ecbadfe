"""Holding a key to its organization's key policy on each request it makes there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from api.errors import KeyPolicyViolation
from apikeys import policy as key_policy
from audit.models import Action
from audit.services import audit_record_once
from lib.clientip import client_ip


def key_policy_enforce(
    request: Any, principal: Any, organization_id: str, policy: Mapping[str, Any]
) -> None:
    """Refuse the request (KeyPolicyViolation) if the organization's policy forbids the key
    acting there. The refusal is audited at most once a minute per key, organization and rule."""
    key = principal.key
    try:
        key_policy.check_use(
            policy,
            key=key,
            address=client_ip(getattr(request, "_request", request)),
            # The request's own use is recorded only once it is admitted (apikeys.authentication
            # key_use_record), so this is the key's last use before it.
            idle_since=key.last_used_at or key.created_at,
            now=timezone.now(),
        )
    except KeyPolicyViolation as refusal:
        audit_record_once(
            once_key=f"key-policy:{key.pk}:{organization_id}:{refusal.rule}",
            within=60,
            action=Action.KEY_POLICY_REFUSED,
            actor=key.user,
            api_key=key,
            organization_id=organization_id,
            target=key,
            detail={"rule": refusal.rule, "source": refusal.source},
        )
        raise
