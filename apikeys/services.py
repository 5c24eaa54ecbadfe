"""API key workflows: issue, rename, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from apikeys import conf, crypto
from apikeys.models import ApiKey
from apikeys.scopes import scope_covers
from config.errors import KeyBroaderThanCreator, NotOrganizationMember, OrganizationMismatch
from tenants.models import Membership


@transaction.atomic
def api_key_issue(
    *,
    user: User,
    name: str,
    scopes: Sequence[str],
    expires_in: int | None = None,
    organization_id: str | None = None,
    creator_key: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for `user`; return it and its plaintext, which is never available again.

    `creator_key` is the key that authenticated the request, if one did: the new key may not
    be broader than it in scopes, organization or lifetime. Without an explicit pin or expiry,
    it inherits the creator's.
    """
    now = timezone.now()
    expires_at = now + timedelta(seconds=expires_in) if expires_in is not None else None
    if creator_key is not None:
        if not all(scope_covers(creator_key.scopes, scope) for scope in scopes):
            raise KeyBroaderThanCreator()
        if creator_key.organization_id:
            if organization_id not in (None, creator_key.organization_id):
                raise OrganizationMismatch()
            organization_id = creator_key.organization_id
        if creator_key.expires_at is not None:
            if expires_at is not None and expires_at > creator_key.expires_at:
                raise KeyBroaderThanCreator()
            expires_at = expires_at or creator_key.expires_at
    member = Membership.objects.filter(user=user, organization_id=organization_id)
    if organization_id is not None and not member.exists():
        raise NotOrganizationMember()

    prefix = conf.prefix()
    raw = crypto.generate(prefix)
    key = ApiKey.objects.create(
        user=user,
        organization_id=organization_id,
        name=name,
        lookup=crypto.lookup_of(raw, prefix),
        digest=crypto.digest(raw, conf.pepper()),
        start=crypto.start(raw, prefix),
        scopes=list(dict.fromkeys(scopes)),
        expires_at=expires_at,
    )
    return key, raw


@transaction.atomic
def api_key_rename(*, key: ApiKey, name: str) -> ApiKey:
    key.name = name
    key.save(update_fields=["name"])
    return key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, revoked_by: User | None) -> ApiKey:
    """Revoke for good (`revoked_by` None: by an operator's command). Idempotent."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_by = revoked_by
        key.save(update_fields=["revoked_at", "revoked_by"])
    return key
