"""API key workflows: issue, rename, edit, roll, revoke."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from access.principal import Principal
from access.scopes import scope_covers
from accounts.models import User
from accounts.sessions import session_is_current
from api.envelope import format_datetime
from api.errors import (
    CredentialChanged,
    KeyBroaderThanCreator,
    KeyNotActive,
    KeyOutranksCaller,
    KeyRevokedInOrganization,
    NotOrganizationMember,
)
from apikeys import conf, crypto, warm_cache
from apikeys import policy as key_policy
from apikeys.models import ApiKey
from apikeys.tasks import owner_notify
from audit.models import Action
from audit.services import audit_record
from tenants.models import Membership, Organization


@transaction.atomic
def api_key_issue(
    *,
    user: User,
    name: str,
    scopes: Sequence[str],
    expires_in: int | None = None,
    organization_id: str | None = None,
    allowed_cidrs: Sequence[str] | None = None,
    creator_key: ApiKey | None = None,
    session_auth_hash: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for `user`; return it and its plaintext, which is never available again.

    `creator_key` is the key that authenticated the request, if one did: the new key may not
    be broader than it in scopes, organization, lifetime or networks. Without an explicit pin,
    expiry or networks, it inherits the creator's. `session_auth_hash` is that of the session
    that asked, if one did (accounts.sessions.session_auth_hash).

    A key pinned to an organization must satisfy its key policy (KeyPolicyViolation): its
    lifetime, its scopes, and the number of keys its owner already holds there.

    The owner is told by email (apikeys.tasks).
    """
    _owner_locked(user.pk, acting_key=creator_key, session_auth_hash=session_auth_hash)
    now = timezone.now()
    expires_at = now + timedelta(seconds=expires_in) if expires_in is not None else None
    cidrs = list(allowed_cidrs or [])
    revoked_in: list[str] = []
    if creator_key is not None:
        if not all(scope_covers(creator_key.scopes, scope) for scope in scopes):
            raise KeyBroaderThanCreator()
        organization_id = Principal(user=user, key=creator_key).child_pin(organization_id)
        if creator_key.expires_at is not None:
            if expires_at is not None and expires_at > creator_key.expires_at:
                raise KeyBroaderThanCreator()
            expires_at = expires_at or creator_key.expires_at
        if creator_key.allowed_cidrs:
            if cidrs and not key_policy.networks_within(cidrs, creator_key.allowed_cidrs):
                raise KeyBroaderThanCreator()
            cidrs = cidrs or list(creator_key.allowed_cidrs)
        # Where the creator was revoked, its children are too: pinning one there is refused.
        revoked_in = list(creator_key.revoked_in)
        if organization_id in revoked_in:
            raise KeyRevokedInOrganization()
    if organization_id is not None:
        policies = list(
            Membership.objects.filter(user=user, organization_id=organization_id).values_list(
                "organization__key_policy", flat=True
            )
        )
        if not policies:
            raise NotOrganizationMember()
        key_policy.check_creation(
            policies[0],
            created_at=now,
            expires_at=expires_at,
            scopes=scopes,
            keys_held=lambda: _keys_acting_in(user, organization_id, now),
        )

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
        allowed_cidrs=cidrs,
        revoked_in=revoked_in,
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
            **({"allowedCidrs": cidrs} if cidrs else {}),
        },
    )
    owner_notify(key, "api_key_created", by_key_id=creator_key.pk if creator_key else "")
    return key, raw


def with_offspring(key: ApiKey) -> Iterator[ApiKey]:
    """The key, then every key it created, and theirs, each once, read under a lock (within
    the caller's transaction)."""
    pending, seen = [key], set()
    while pending:
        current = pending.pop()
        if current.pk in seen:
            continue
        seen.add(current.pk)
        yield current
        pending.extend(current.created_keys.select_for_update())


def _keys_acting_in(user: User, organization_id: str, now: Any) -> int:
    """How many of the user's active keys can act in the organization: pinned to it, or
    unpinned and not revoked there."""
    revoked_in = (
        ApiKey.objects.active(now)
        .filter(user=user)
        .filter(Q(organization_id=organization_id) | Q(organization__isnull=True))
        .values_list("revoked_in", flat=True)
    )
    return sum(1 for organizations in revoked_in if organization_id not in organizations)


def _owner_locked(
    user_id: Any, *, acting_key: ApiKey | None, session_auth_hash: str | None
) -> User:
    """The owner's row, locked first, as securing, resetting and deactivating the account lock
    it: a request that authenticated just before one of those committed finds, once it holds
    the lock, that its credential no longer works, and changes nothing (CredentialChanged).
    `acting_key` is the key that authenticated the request, if one did; `session_auth_hash`
    that of the session that asked, if one did (accounts.sessions.session_auth_hash)."""
    owner = User.objects.select_for_update().get(pk=user_id)
    if not owner.is_active:
        raise CredentialChanged()
    if acting_key is not None:
        if not ApiKey.objects.filter(pk=acting_key.pk, revoked_at__isnull=True).exists():
            raise CredentialChanged()
    elif session_auth_hash is not None and not session_is_current(session_auth_hash, owner):
        raise CredentialChanged()
    return owner


def _locked_active(key: ApiKey, now: Any) -> ApiKey:
    """The key's row, read again under a lock, if it still works (KeyNotActive otherwise): a
    full save would write back every column as read, over a revocation committed meanwhile."""
    current = ApiKey.objects.select_for_update().get(pk=key.pk)
    if current.is_revoked or current.is_expired(now):
        raise KeyNotActive()
    return current


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
def api_key_edit(
    *,
    key: ApiKey,
    name: str | None = None,
    scopes: Sequence[str] | None = None,
    acting_key: ApiKey | None = None,
    session_auth_hash: str | None = None,
) -> ApiKey:
    """Change a key's name, its scopes, or both, by the rules of issuing one: a key making the
    change must cover the key as it is (KEY_OUTRANKS_CALLER) and every scope it grants it
    (KEY_BROADER_THAN_CREATOR); a session may give its user's key any scope, which its owner's
    role still bounds on every request. The pin and the expiry never change. A revoked or
    expired key is not edited (KeyNotActive).

    Saved with its post_save signal, which withdraws the key's warm-cache entries: a narrowed
    key loses the scope on its next request. Keys it created keep their own scopes."""
    _check_may_manage(acting_key, key)
    if (
        scopes is not None
        and acting_key is not None
        and not all(scope_covers(acting_key.scopes, scope) for scope in scopes)
    ):
        raise KeyBroaderThanCreator()
    owner = _owner_locked(key.user_id, acting_key=acting_key, session_auth_hash=session_auth_hash)
    current = _locked_active(key, timezone.now())
    if scopes is not None and current.organization_id is not None:
        key_policy.check_scopes(
            Organization.objects.filter(pk=current.organization_id)
            .values_list("key_policy", flat=True)
            .first(),
            scopes,
        )
    before = {"name": current.name, "scopes": list(current.scopes)}
    if name is not None:
        current.name = name
    if scopes is not None:
        current.scopes = list(dict.fromkeys(scopes))
    changed = [field for field in before if getattr(current, field) != before[field]]
    if not changed:
        return current
    current.save(update_fields=changed)
    audit_record(
        action=Action.KEY_UPDATED,
        actor=owner,
        api_key=acting_key,
        organization_id=current.organization_id,
        target=current,
        detail={
            field: {"from": before[field], "to": getattr(current, field)} for field in changed
        },
    )
    return current


@transaction.atomic
def api_key_roll(
    *,
    key: ApiKey,
    expires_old_in: int,
    acting_key: ApiKey | None = None,
    session_auth_hash: str | None = None,
) -> tuple[ApiKey, str]:
    """Give the key a new secret; return the key and the secret, which is never available
    again. The key keeps its id, name, scopes, pin, expiry and history; its previous secret
    keeps working for `expires_old_in` seconds (0: not at all), never past the key's expiry,
    then gets 401 KEY_EXPIRED. Rolling again while an overlap runs replaces it: the secret
    before the previous one stops at once. Who may roll a key is who may rename or revoke it
    (KEY_OUTRANKS_CALLER); a revoked or expired key is not rolled (KeyNotActive).

    The post_save signal withdraws the warm-cache entries of both the new and the previous
    secret; the secret this roll retires for good is withdrawn here. The owner is told."""
    _check_may_manage(acting_key, key)
    owner = _owner_locked(key.user_id, acting_key=acting_key, session_auth_hash=session_auth_hash)
    now = timezone.now()
    current = _locked_active(key, now)
    if current.previous_lookup:
        warm_cache.forget([current.previous_lookup])
    previous_start = current.start
    overlap_ends = now + timedelta(seconds=expires_old_in)
    if current.expires_at is not None:
        overlap_ends = min(overlap_ends, current.expires_at)
    prefix = conf.prefix()
    raw = crypto.generate(prefix)
    current.previous_lookup = current.lookup
    current.previous_digest = current.digest
    current.previous_expires_at = overlap_ends
    current.lookup = crypto.lookup_of(raw, prefix)
    current.digest = crypto.digest(raw, conf.pepper())
    current.start = crypto.start(raw, prefix)
    current.save(
        update_fields=[
            "previous_lookup",
            "previous_digest",
            "previous_expires_at",
            "lookup",
            "digest",
            "start",
        ]
    )
    audit_record(
        action=Action.KEY_ROLLED,
        actor=owner,
        api_key=acting_key,
        organization_id=current.organization_id,
        target=current,
        detail={
            "start": {"from": previous_start, "to": current.start},
            "expiresOldIn": expires_old_in,
            "previousExpiresAt": format_datetime(overlap_ends),
        },
    )
    owner_notify(
        current,
        "api_key_rolled",
        by_key_id=acting_key.pk if acting_key is not None and acting_key.pk != key.pk else "",
        previous_start=previous_start,
        previous_ends_at=overlap_ends.isoformat() if overlap_ends > now else "",
    )
    return current, raw


# Revocations the owner is not mailed about here: those they asked for themselves (through a
# session or a key, a reset link or a verification link), a leak report's, whose own mail
# tells them (leaks.tasks), and a deactivation's (a deactivated account gets no mail). Any
# other (an operator in the admin, a command) is mailed.
OWNER_NOT_MAILED = frozenset(
    {"owner", "password_reset", "email_secured", "report", "deactivation"}
)


@transaction.atomic
def api_key_revoke(
    *,
    key: ApiKey,
    revoked_by: User | None,
    acting_key: ApiKey | None = None,
    by: str = "owner",
    reason: str = "",
    organization_id: str | None = None,
) -> ApiKey:
    """Revoke the key for good, and with it every key it created, and theirs: a leaked key's
    offspring must not outlive it. `by` says who or what, for the audit trail: "owner",
    "operator" (the admin), "command" (manage.py, `revoked_by` None), "password_reset",
    "email_secured", "deactivation", or "organization" (an owner or admin of
    `organization_id`, the organization the key is pinned to: their role there, which the
    caller checks, is the right to do it, whatever the scopes of `acting_key`); `reason` says
    why, when the owner did not ask (e.g. "unproven_address": created before the address was
    proven). Idempotent. Unless the owner asked (OWNER_NOT_MAILED), the owner is told by
    email, for the key named here."""
    if by != "organization":
        _check_may_manage(acting_key, key)
    now = timezone.now()
    revoked: list[str] = []
    for current in with_offspring(key):
        if current.revoked_at is None:
            current.revoked_at = now
            current.revoked_by = revoked_by
            current.save(update_fields=["revoked_at", "revoked_by"])
            revoked.append(current.pk)
            audit_record(
                action=Action.KEY_REVOKED,
                actor=revoked_by,
                api_key=acting_key,
                organization_id=current.organization_id,
                target=current,
                detail={
                    "by": by,
                    **({"organizationId": organization_id} if organization_id else {}),
                    **({"reason": reason} if reason else {}),
                    **({"cascadeFrom": key.pk} if current.pk != key.pk else {}),
                },
            )
    if key.pk in revoked and by not in OWNER_NOT_MAILED:
        owner_notify(
            key,
            "api_key_revoked",
            by=by,
            reason=reason,
            cascaded=len(revoked) - 1,
            # The organization and its owner or admin, by id: the mail names them.
            **(
                {"organization_id": organization_id, "by_user_id": getattr(revoked_by, "pk", "")}
                if organization_id
                else {}
            ),
        )
    return key
