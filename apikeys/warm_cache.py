"""The warm-key cache: a verified key, its owner and a snapshot of the owner's memberships
(an `Entry`), in the shared cache.

A hit skips both per-request queries (the key lookup and the membership check) for one cache
round trip. It is on only when APIKEYS["CACHE_TIMEOUT"] is positive, which by default means
CACHE_URL names Redis: an entry held in one worker's memory could not be withdrawn from the
others.

What an entry may decide, and for how long:
- only reads (GET, HEAD, OPTIONS) are served from it. A write is authenticated and admitted
  from the database on every request (apikeys/authentication.py), so no state of the cache
  can let a revoked key, a deactivated owner or a removed member write after the change;
- an entry is trusted for at most CACHE_TIMEOUT seconds after its row was *read from the
  database*, by the age it carries (`Entry.read_at`), whatever the cache's own expiry does: a
  cache that cannot delete or expire it (a full Redis with `noeviction` refuses writes, a
  read-only replica after a failover serves what it holds) still cannot keep a change from
  reads for longer. That is the bound: a revocation, deactivation or removal stops reads
  CACHE_TIMEOUT seconds after it commits at the latest (plus the clock skew between the
  application servers, whose clocks stamp and judge the age);
- normally much sooner: every saved or deleted key, user, membership or organization (signals
  below) writes, once its transaction commits, a *tombstone* for each affected key, which
  makes the key's entry count as absent, so the next request reads the database. Tombstones
  rather than deletes, because a request that read the database just before the change may
  store its stale entry just after it; the tombstone outlives any entry read before the change
  (it lives CACHE_TIMEOUT + TOMBSTONE_MARGIN seconds), and no entry is stored while one stands;
- expiry is checked on every request against the cached expiry time, and the entry keeps the
  key's digest, so a hit still needs the presented key to match it;
- a rolled key answers to its previous secret until the overlap ends. Entries are stored by
  the lookup id the request presented, so the previous secret has an entry of its own, which
  holds the same row: its digest is the row's previous digest, and the end of the overlap is
  checked on every request, as expiry is. A roll writes tombstones for the key's lookup ids
  before and after it, so no entry read before the roll decides anything after it.

A cache failure is treated as a miss: authentication never depends on the cache.

Each worker also keeps the entries it has used in its own memory (at most LOCAL_ENTRIES), so a
warm key costs no cache read of its own. Whichever copy decides a read, this worker's or the
shared cache's, the request is *unconfirmed* until the shared cache has said, on this very
request, that no tombstone stands for the key and that the entry is still there (`confirmation`):
ApiView asks in the round trip that counts the request's rate limits (ratelimits.policies
.enforce's `expect`). If the answer is anything else, or the cache cannot say, the request is
authenticated again from the database before anything is decided, and the copy is dropped.
So the worker's copy moves no bound above: it is judged by the same age, expiry and digest,
withdrawn by the same tombstone on the very next request, and never outlives the shared entry
(a Redis that restarted, was flushed or failed over to a replica that lacks the entry cannot
vouch for it). Only ApiView's reads use the cache at all.

Every key of one key's entry and tombstone carries the lookup id as its hash tag
(`apikey:…:{lookup}`), so that reading both at once is valid on Redis Cluster.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from access.principal import Tenancy
from apikeys import conf
from apikeys.models import ApiKey

logger = logging.getLogger(__name__)

TOMBSTONE_MARGIN = 60  # seconds; covers clock skew between the servers and the cache
LOCAL_ENTRIES = 2_000  # entries a worker keeps in its own memory (about 5 KB each)
timer: Callable[[], float] = time.time  # the clock that stamps and judges an entry's age


@dataclass(frozen=True)
class Entry:
    """A verified key (with its `user`, never the password hash), the owner's tenancy as read
    with it, and when that read began (`timer()`), which bounds how long the entry is trusted."""

    key: ApiKey
    tenancy: Tenancy
    read_at: float


def enabled() -> bool:
    return conf.setting("CACHE_TIMEOUT") > 0


def entry_key(lookup: str) -> str:
    return f"apikey:v6:{{{lookup}}}"  # the version changes with the shape of an Entry


def tombstone_key(lookup: str) -> str:
    """The key whose presence withdraws a key's entries. Unversioned in meaning: servers that
    store other entry versions honour the same tombstones, so a deploy that changes the
    entry's shape never loses a withdrawal."""
    return f"apikey:stale:{{{lookup}}}"


def _legacy_tombstone(lookup: str) -> str:
    # The name servers storing entry versions up to v3 read; written too, so that during a
    # rolling upgrade they honour the withdrawals the newer servers make.
    return f"apikey:v1:stale:{lookup}"


def confirmation(lookup: str) -> tuple[tuple[str, bool], ...]:
    """What the shared cache must say, on the request, for an entry to decide it: no tombstone
    under either name, and the entry itself still there (a cache that lost its state, by a
    restart, a flush, a failover or an eviction, cannot vouch for a copy of it)."""
    return (
        (tombstone_key(lookup), False),
        (_legacy_tombstone(lookup), False),
        (entry_key(lookup), True),
    )


_own: dict[str, Entry] = {}  # this worker's copies, oldest first
_own_lock = threading.Lock()


def local_get(lookup: str) -> Entry | None:
    """This worker's copy of the key's entry, while it may still be trusted; unconfirmed
    (see the module's docstring)."""
    entry = _own.get(lookup)
    if entry is None:
        return None
    if _remaining(entry) <= 0:
        drop_local(lookup)
        return None
    return entry


def _keep_local(lookup: str, entry: Entry) -> None:
    with _own_lock:
        _own.pop(lookup, None)
        while len(_own) >= LOCAL_ENTRIES:
            _own.pop(next(iter(_own)))
        _own[lookup] = entry


def drop_local(lookup: str) -> None:
    with _own_lock:
        _own.pop(lookup, None)


def clear_local() -> None:
    with _own_lock:
        _own.clear()


def get(lookup: str) -> tuple[Entry | None, bool]:
    """(cached entry or None, whether an entry may be stored now) in one round trip.

    An entry whose row was read CACHE_TIMEOUT seconds ago or more is a miss, even if the
    cache still holds it."""
    try:
        found = cache.get_many([entry_key(lookup), tombstone_key(lookup)])
    except Exception:
        logger.warning("API key cache unavailable; reading the database", exc_info=True)
        return None, False
    if tombstone_key(lookup) in found:
        drop_local(lookup)
        return None, False
    entry = found.get(entry_key(lookup))
    if not isinstance(entry, Entry) or _remaining(entry) <= 0:
        return None, True
    _keep_local(lookup, entry)
    return entry, True


def put(entry: Entry, lookup: str | None = None) -> None:
    """Store an entry under the lookup id the request presented (by default the credential's
    own), here and in the shared cache, for what is left of CACHE_TIMEOUT since its row was
    read: storing it again (after lastUsedAt moved) never makes it younger."""
    remaining = _remaining(entry)
    if remaining <= 0:
        return
    lookup = lookup or entry.key.lookup
    _keep_local(lookup, entry)
    try:
        cache.set(entry_key(lookup), entry, timeout=math.ceil(remaining))
    except Exception:
        logger.warning("API key cache unavailable; entry not stored", exc_info=True)


def _remaining(entry: Entry) -> float:
    """Seconds the entry may still be trusted; 0 or less once it is too old to be."""
    return entry.read_at + conf.setting("CACHE_TIMEOUT") - timer()


def forget(lookups: Iterable[str]) -> None:
    """Withdraw these keys' entries once the current transaction commits."""
    lookups = list(lookups)
    if not lookups or not enabled():
        return
    timeout = conf.setting("CACHE_TIMEOUT") + TOMBSTONE_MARGIN

    def write() -> None:
        try:
            names = [tombstone_key(lookup) for lookup in lookups]
            _set_all([*names, *map(_legacy_tombstone, lookups)], timeout)
        except Exception:
            # Writes still go to the database; reads may be served from the old entries
            # for what is left of their CACHE_TIMEOUT.
            logger.error(
                "API key cache unavailable; tombstones not written: %d key(s) may keep "
                "reading for up to %ss",
                len(lookups),
                conf.setting("CACHE_TIMEOUT"),
                exc_info=True,
            )

    transaction.on_commit(write)


def _set_all(names: list[str], timeout: int) -> None:
    """Store 1 under each name: on Redis as one SET per key, sent in one round trip (valid on
    Redis Cluster, where one MSET may not span slots)."""
    if not hasattr(cache, "round_trip"):
        cache.set_many(dict.fromkeys(names, 1), timeout=timeout)
        return
    commands = [("SET", cache.make_and_validate_key(name), 1, "EX", timeout) for name in names]
    for reply in cache.round_trip(commands):
        if isinstance(reply, Exception):
            raise reply


def lookups_of(key: ApiKey) -> list[str]:
    """Every lookup id a key's entries may be stored under: its secret's, and its previous
    secret's while the row holds one."""
    return [key.lookup, *([key.previous_lookup] if key.previous_lookup else [])]


def _every_lookup(keys: Any) -> list[str]:
    return [
        lookup
        for pair in keys.values_list("lookup", "previous_lookup")
        for lookup in pair
        if lookup
    ]


def forget_user(user_id: Any) -> None:
    if enabled():
        forget(_every_lookup(ApiKey.objects.filter(user_id=user_id)))


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="apikeys.warm_cache.key")
def _key_changed(sender: type, instance: ApiKey, created: bool = False, **kwargs: Any) -> None:
    if not created:  # a new key has no entry to withdraw
        forget(lookups_of(instance))


@receiver([post_save, post_delete], sender="accounts.User", dispatch_uid="apikeys.warm_cache.user")
def _user_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    forget_user(instance.pk)


@receiver(
    [post_save, post_delete], sender="tenants.Membership", dispatch_uid="apikeys.warm_cache.member"
)
def _membership_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    forget_user(instance.user_id)


@receiver(post_save, sender="tenants.Organization", dispatch_uid="apikeys.warm_cache.organization")
def _organization_changed(sender: type, instance: Any, created: bool = False, **kwargs: Any):
    # Entries carry the plans and key policies of their owners' organizations.
    if enabled() and not created:
        forget(_every_lookup(ApiKey.objects.filter(user__memberships__organization=instance)))
