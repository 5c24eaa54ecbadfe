"""ApiKeyAuthentication: `X-Api-Key: <key>` or `Authorization: Bearer <key>`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from access.credentials import Unconfirmed, challenge, presented_key, presented_token
from access.gate import tenancy_of
from access.principal import Principal, Tenancy
from api.errors import KeyExpired, KeyInvalid, KeyRevoked
from apikeys import conf, crypto, peppers, usage, warm_cache
from apikeys import policy as key_policy
from apikeys.models import ApiKey
from audit.models import Action
from audit.services import audit_record_once
from lib.clientip import client_ip, ip_identity


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a request by its API key, in one indexed query and, usually, no write;
    a read (GET, HEAD, OPTIONS) with a warm key (apikeys/warm_cache.py), in one cache round
    trip and no query.

    Returns None when the request presents no key, so the session may authenticate it; a
    request that presents a key is never authenticated any other way: a bad key is 401.
    On success `request.user` is the key's owner, `request.auth` the ApiKey, and
    `request.principal` the caller (with, for a read, the owner's tenancy snapshot).

    A rolled key answers to two secrets while its overlap runs: the current one, and the
    previous one until `previous_expires_at` (then 401 KEY_EXPIRED), each found by its own
    lookup id in the same query.
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        raw = presented_key(request.META)
        if raw is None:
            return None
        if presented_token(request.META) is not None:
            return None  # an OAuth access token: OAuthTokenAuthentication reads it
        parsed = crypto.parse(raw, conf.prefix())
        if parsed is None:
            raise KeyInvalid()  # wrong shape or checksum: refused before any query
        # Only a read may be decided by the warm-key cache. A write reads the key and its
        # owner here, and the membership in the tenancy gate, from the database: nothing the
        # cache holds, or fails to withdraw, lets a revoked key, a deactivated owner or a
        # removed member write once the change has committed.
        # Only a view that confirms the entry before deciding anything (ApiView) reads it.
        readable = request.method in SAFE_METHODS and warm_cache.enabled() and confirms(request)
        now = timezone.now()
        entry, storable = (None, False)
        if readable:
            entry = warm_cache.local_get(parsed.lookup)
            # This worker's copy decides only a use it can grant: lastUsedAt due to move (a
            # write) and an expired key (a refusal, with its audit row) are decided by a
            # confirmed read, the shared cache's or the database's.
            if entry is not None and (
                use_due(entry.key, now) or secret_expired(entry.key, parsed.lookup, now)
            ):
                entry = None
            if entry is None:
                entry, storable = warm_cache.get(parsed.lookup)
            else:
                storable = True
            if entry is not None:
                request.unconfirmed_credential = Unconfirmed(
                    expect=warm_cache.confirmation(parsed.lookup),
                    discard=partial(warm_cache.drop_local, parsed.lookup),
                )
        if entry is not None:
            key, tenancy, read_at = entry.key, entry.tenancy, entry.read_at
        else:
            tenancy, read_at = (
                None,
                warm_cache.timer(),
            )  # an entry's age counts from before the read
            key = key_presented(parsed)
        # The digest comparison is constant-time; the lookup id alone proves nothing.
        if key is None or not presents(parsed, key):
            raise KeyInvalid()
        peppers.rehash_if_old(parsed, key)  # under an older pepper: moved to the current one
        # The caller holds the real key, so saying why it stopped working leaks nothing.
        if key.is_revoked or secret_expired(key, parsed.lookup, now):
            if key.is_revoked:
                reason = "revoked"
            else:
                reason = "expired" if key.is_expired(now) else "rolled"
            refusal_record(request, key, reason)
            raise KeyRevoked() if key.is_revoked else KeyExpired()
        if not key.user.is_active:
            raise KeyInvalid()
        if key.allowed_cidrs:  # the key's own networks, wherever it acts
            key_policy.check_key_networks(key, client_ip(getattr(request, "_request", request)))
        previous = key.lookup != parsed.lookup  # a rolled key's previous secret, still on
        fresh = storable and entry is None
        if fresh:
            tenancy = tenancy_of(Principal(user=key.user, key=key))
        # The use is recorded once the request is answered, if it was admitted (key_use_record):
        # a refused request is no use of the key (a stale key stays stale however often it
        # is tried), and what decides the request sees lastUsedAt as it was before it.
        request.key_use = KeyUse(
            key=key, lookup=parsed.lookup, now=now, tenancy=tenancy, read_at=read_at, fresh=fresh
        )
        request.principal = Principal(
            user=key.user,
            key=key,
            tenancy=tenancy,
            previous_secret_ends_at=key.previous_secret_ends_at(now) if previous else None,
        )
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return challenge()


@dataclass(frozen=True)
class KeyUse:
    """A request's use of a key, recorded once the request is answered (key_use_record)."""

    key: ApiKey
    lookup: str  # the presented secret's lookup id: the warm-cache entry's name
    now: datetime
    tenancy: Tenancy | None  # the snapshot to cache the key with; None when not cacheable
    read_at: float  # when the key's read began: an entry's age counts from it
    fresh: bool  # read from the database (not the cache), so worth caching


# Answers that mean the key was not admitted (refused, or turned away by a rate limit): its
# use is not recorded.
NOT_ADMITTED = frozenset({401, 403, 429})


def key_use_record(request: Request, status: int) -> None:
    """Record the request's use of its API key, unless the answer turned it away (NOT_ADMITTED):
    lastUsedAt (at most once per LAST_USED_RESOLUTION), the usage counters (apikeys.usage),
    and the warm-cache entry, stored again when lastUsedAt moved, with the age it had (never
    made younger), or first stored after a database read. Costs nothing for a request that
    no key authenticated, and at most one write."""
    use = request.__dict__.pop("key_use", None)
    if use is None or status in NOT_ADMITTED:
        return
    moved = record_use(use.key, use.now)
    usage.note_use(use.key.pk, client_ip(getattr(request, "_request", request)), use.now)
    if use.tenancy is not None and (moved or use.fresh):
        warm_cache.put(
            warm_cache.Entry(key=use.key, tenancy=use.tenancy, read_at=use.read_at),
            lookup=use.lookup,
        )


def key_presented(parsed: crypto.ParsedKey) -> ApiKey | None:
    """The key whose current or previous secret the presented key is, by its lookup id, in
    one query on two unique indexes; None when no such key exists.

    The owner's password hash is never needed here, nor ever copied to the cache; nor is the
    pinned organization's row: the tenancy gate reads what it needs. (Two rows can answer only
    if one key's new lookup id equals another's previous one, 71 random bits apart: the one
    the secret matches is the key.)"""
    candidates = list(
        ApiKey.objects.select_related("user")
        .defer("user__password")
        .filter(Q(lookup=parsed.lookup) | Q(previous_lookup=parsed.lookup))
        .order_by()[:2]
    )
    if len(candidates) > 1:
        candidates = [key for key in candidates if presents(parsed, key)]
    return candidates[0] if candidates else None


def presents(parsed: crypto.ParsedKey, key: ApiKey) -> bool:
    """Whether the presented key is one of `key`'s secrets (current, or previous while the
    row still holds it), compared in constant time with the stored digest, under whichever
    configured pepper made it (a digest under a pepper no longer configured never matches)."""
    digest = key.digest_for(parsed.lookup)
    return digest is not None and crypto.verify(parsed.raw, digest, conf.peppers()) is not None


def secret_expired(key: ApiKey, lookup: str, now: datetime) -> bool:
    """Whether the secret with this lookup id no longer works by time: the key has expired,
    or it is a rolled key's previous secret and its overlap has run out."""
    if key.is_expired(now):
        return True
    return lookup != key.lookup and key.previous_secret_ends_at(now) is None


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


def confirms(request: Request) -> bool:
    """Whether the view confirms an unconfirmed credential before deciding anything (ApiView
    does; see access.credentials.Unconfirmed). Only then may this worker's copy be used."""
    return getattr(request, "confirms_credentials", False)


def use_due(key: ApiKey, now: datetime) -> bool:
    """Whether this use moves the key's lastUsedAt (see record_use)."""
    resolution = timedelta(seconds=conf.setting("LAST_USED_RESOLUTION"))
    return key.last_used_at is None or now - key.last_used_at >= resolution


def record_use(key: ApiKey, now: datetime) -> bool:
    """Set lastUsedAt at most once per LAST_USED_RESOLUTION seconds per key.

    The row just read says when the key was last recorded, so most requests write nothing;
    the conditional UPDATE keeps concurrent workers from writing the same minute twice.
    Returns whether the key's lastUsedAt moved (a cached entry then needs refreshing).
    """
    if not use_due(key, now):
        return False
    resolution = timedelta(seconds=conf.setting("LAST_USED_RESOLUTION"))
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - resolution)
    ).update(last_used_at=now)
    key.last_used_at = now
    return True
