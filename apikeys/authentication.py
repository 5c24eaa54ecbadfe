"""ApiKeyAuthentication: `X-Api-Key: <key>` or `Authorization: Bearer <key>`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from access.principal import Principal
from api.errors import KeyExpired, KeyInvalid, KeyRevoked
from apikeys import cache as warm_cache
from apikeys import conf, crypto
from apikeys.models import ApiKey
from audit.models import Action
from audit.services import audit_record_once
from lib.clientip import client_ip, ip_identity
from tenants.models import Membership


def presented_key(meta: Mapping[str, Any]) -> str | None:
    """The key a request presents, or None when it names none.

    `X-Api-Key` (any case, as headers are) wins; otherwise `Authorization: Bearer <key>`.
    Another Authorization scheme (Basic, say) is not ours and is ignored.
    """
    raw = meta.get("HTTP_X_API_KEY")
    if raw is None:
        scheme, _sep, credentials = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        raw = credentials
    return raw.strip()


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a request by its API key, in one indexed query and, usually, no write;
    a read (GET, HEAD, OPTIONS) with a warm key (apikeys/cache.py), in one cache round trip
    and no query.

    Returns None when the request presents no key, so the session may authenticate it; a
    request that presents a key is never authenticated any other way: a bad key is 401.
    On success `request.user` is the key's owner and `request.auth` the ApiKey.
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        raw = presented_key(request.META)
        if raw is None:
            return None
        parsed = crypto.parse(raw, conf.prefix())
        if parsed is None:
            raise KeyInvalid()  # wrong shape or checksum: refused before any query
        # Only a read may be decided by the warm-key cache. A write reads the key and its
        # owner here, and the membership in the tenancy gate, from the database: nothing the
        # cache holds, or fails to withdraw, lets a revoked key, a deactivated owner or a
        # removed member write once the change has committed.
        readable = request.method in SAFE_METHODS and warm_cache.enabled()
        key, storable = warm_cache.get(parsed.lookup) if readable else (None, False)
        cached = key is not None
        if key is None:
            read_at = warm_cache.timer()  # an entry's age counts from before the read
            # The owner's password hash is never needed here, nor ever copied to the cache;
            # nor is the pinned organization's row: the tenancy gate reads what it needs.
            key = (
                ApiKey.objects.select_related("user")
                .defer("user__password")
                .filter(lookup=parsed.lookup)
                .first()
            )
        # The digest comparison is constant-time; the lookup id alone proves nothing.
        if key is None or not crypto.matches(raw, key.digest, conf.pepper()):
            raise KeyInvalid()
        # The caller holds the real key, so saying why it stopped working leaks nothing.
        now = timezone.now()
        if key.is_revoked or key.is_expired(now):
            refusal_record(request, key, "revoked" if key.is_revoked else "expired")
            raise KeyRevoked() if key.is_revoked else KeyExpired()
        if not key.user.is_active:
            raise KeyInvalid()
        if storable and not cached:
            key.cached_roles, key.cached_plans = roles_of(key)
            key.cached_at = read_at
        # Stored again when lastUsedAt moved, with the age it had: never made younger.
        if record_use(key, now) or (storable and not cached):
            warm_cache.put(key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def refusal_record(request: Request, key: ApiKey, reason: str) -> None:
    """Audit a revoked or expired key's use at most once a minute per client network and
    reason. Anyone holding old keys can send them at will, and one row per key would let a
    handful of leaked keys write a row each a minute, forever; the rows that remain still say
    that a dead key was tried, from where, and (the first one's) which.

    Malformed and unknown keys (KEY_INVALID) leave no row: they name no account, key or
    organization, only an address, and the per-IP rate limit that every failing credential
    spends already records a flood of them (`access.rate_limited`, once a window)."""
    network = ip_identity(client_ip(getattr(request, "_request", request)))
    audit_record_once(
        once_key=f"key-refused:{reason}:{network}",
        within=60,
        action=Action.KEY_REFUSED,
        actor=key.user,
        api_key=key,
        organization_id=key.organization_id,
        target=key,
        detail={"reason": reason},
    )


def roles_of(key: ApiKey) -> tuple[dict[str, str], dict[str, str]]:
    """The owner's role in, and the plan of, each organization the key may reach."""
    memberships = Principal(user=key.user, key=key).within_reach(
        Membership.objects.for_user(key.user_id)
    )
    rows = list(memberships.values_list("organization_id", "role", "organization__plan"))
    return {org: role for org, role, _plan in rows}, {org: plan for org, _role, plan in rows}


def record_use(key: ApiKey, now: datetime) -> bool:
    """Set lastUsedAt at most once per LAST_USED_RESOLUTION seconds per key.

    The row just read says when the key was last recorded, so most requests write nothing;
    the conditional UPDATE keeps concurrent workers from writing the same minute twice.
    Returns whether the key's lastUsedAt moved (a cached entry then needs refreshing).
    """
    resolution = timedelta(seconds=conf.setting("LAST_USED_RESOLUTION"))
    if key.last_used_at is not None and now - key.last_used_at < resolution:
        return False
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - resolution)
    ).update(last_used_at=now)
    key.last_used_at = now
    return True
