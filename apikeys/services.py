"""API key workflows: issue, rename, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.principal import Principal
from access.scopes import scope_covers
from accounts.models import User
from accounts.sessions import session_is_current
from api.envelope import format_datetime
from api.errors import (
    CredentialChanged,
    KeyBroaderThanCreator,
    KeyOutranksCaller,
    NotOrganizationMember,
)
from apikeys import conf, crypto
from apikeys.models import ApiKey
from audit.models import Action
from audit.services import audit_record
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
    session_auth_hash: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for `user`; return it and its plaintext, which is never available again.

    `creator_key` is the key that authenticated the request, if one did: the new key may not
    be broader than it in scopes, organization or lifetime. Without an explicit pin or expiry,
    it inherits the creator's. `session_auth_hash` is that of the session that asked, if one
    did (accounts.sessions.session_auth_hash).

    The owner's row is locked first, as securing, resetting and deactivating the account lock
    it: a request that authenticated just before one of those committed finds, once it holds
    the lock, that its credential no longer works, and creates nothing (CredentialChanged).
    """
    owner = User.objects.select_for_update().get(pk=user.pk)
    if not owner.is_active:
        raise CredentialChanged()
    if creator_key is not None:
        if not ApiKey.objects.filter(pk=creator_key.pk, revoked_at__isnull=True).exists():
            raise CredentialChanged()
    elif session_auth_hash is not None and not session_is_current(session_auth_hash, owner):
        raise CredentialChanged()
    now = timezone.now()
    expires_at = now + timedelta(seconds=expires_in) if expires_in is not None else None
    if creator_key is not None:
        if not all(scope_covers(creator_key.scopes, scope) for scope in scopes):
            raise KeyBroaderThanCreator()
        organization_id = Principal(user=user, key=creator_key).child_pin(organization_id)
        if creator_key.expires_at is not None:
            if expires_at is not None and expires_at > creator_key.expires_at:
                raise KeyBroaderThanCreator()
            expires_at = expires_at or creator_key.expires_at
    if organization_id is not None and not (
        Membership.objects.filter(user=user, organization_id=organization_id).exists()
    ):
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
        created_by_key=creator_key,
    )
    audit_record(
        action=Action.KEY_CREATED,
        actor=user,
        api_key=creator_key,
        organization_id=organization_id,
        target=key,
        detail={
            "name": key.name,
            "scopes": key.scopes,
            "organizationId": organization_id,
            "expiresAt": format_datetime(expires_at),
        },
    )
    return key, raw


def _check_may_manage(acting_key: ApiKey | None, key: ApiKey) -> None:
    """A key may rename or revoke itself, or a key whose every scope it covers; a session
    (acting_key None) may manage all of its user's keys."""
    if acting_key is None or acting_key.pk == key.pk:
        return
    if not all(scope_covers(acting_key.scopes, scope) for scope in key.scopes):
        raise KeyOutranksCaller()


@transaction.atomic
def api_key_rename(
    *,
    key: ApiKey,
    name: str,
    acting_key: ApiKey | None = None,
    operator: User | None = None,
    request: Any = None,
) -> ApiKey:
    """Rename the key: by its owner (through a session or `acting_key`), or by an `operator`
    in the admin. Only the name column is written, read under a lock: a full save would
    write back every column as read, over a revocation committed meanwhile."""
    _check_may_manage(acting_key, key)
    current = ApiKey.objects.select_for_update().get(pk=key.pk)
    previous = current.name
    if previous == name:
        return current
    current.name = name
    current.save(update_fields=["name"])
    audit_record(
        action=Action.KEY_RENAMED,
        request=request,
        actor=operator or current.user,
        api_key=acting_key,
        organization_id=current.organization_id,
        target=current,
        detail={
            "name": {"from": previous, "to": name},
            **({"by": "operator"} if operator is not None else {}),
        },
    )
    return current


@transaction.atomic
def api_key_revoke(
    *,
    key: ApiKey,
    revoked_by: User | None,
    acting_key: ApiKey | None = None,
    by: str = "owner",
    reason: str = "",
) -> ApiKey:
    """Revoke the key for good, and with it every key it created, and theirs: a leaked key's
    offspring must not outlive it. `by` says who or what, for the audit trail: "owner",
    "operator" (the admin), "command" (manage.py, `revoked_by` None), "password_reset",
    "email_secured" or "deactivation"; `reason` says why, when the owner did not ask (e.g.
    "unproven_address": created before the address was proven). Idempotent."""
    _check_may_manage(acting_key, key)
    now = timezone.now()
    pending, seen = [key], set()
    while pending:
        current = pending.pop()
        if current.pk in seen:
            continue
        seen.add(current.pk)
        if current.revoked_at is None:
            current.revoked_at = now
            current.revoked_by = revoked_by
            current.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(
                action=Action.KEY_REVOKED,
                actor=revoked_by,
                api_key=acting_key,
                organization_id=current.organization_id,
                target=current,
                detail={
                    "by": by,
                    **({"reason": reason} if reason else {}),
                    **({"cascadeFrom": key.pk} if current.pk != key.pk else {}),
                },
            )
        pending.extend(current.created_keys.all())
    return key
