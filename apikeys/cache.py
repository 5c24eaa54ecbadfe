"""The warm-key cache: a verified key, its owner and the owner's roles, in the shared cache.

A hit skips both per-request queries (the key lookup and the membership check) for one cache
round trip. It is on only when APIKEYS["CACHE_TIMEOUT"] is positive, which by default means
CACHE_URL names Redis: an entry held in one worker's memory could not be withdrawn from the
others.

Revocation, expiry, deactivation and membership changes still take effect on the very next
request, in every worker:
- expiry is checked on every request against the cached expiry time;
- every saved or deleted key, user, membership or organization (signals below) writes, once
  its transaction commits, a *tombstone* for each affected key. A tombstone makes the key's
  entry count as absent, so the next request reads the database. Tombstones rather than
  deletes, because a request that read the database just before the change may store its
  stale entry just after it; a tombstone outlives any such entry (it lives TOMBSTONE_MARGIN
  seconds longer, more than any request takes), and no entry is stored while one stands;
- the entry keeps the key's digest, so a hit still needs the presented key to match it.

A cache failure is treated as a miss: authentication never depends on the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apikeys import conf
from apikeys.models import ApiKey

logger = logging.getLogger(__name__)

TOMBSTONE_MARGIN = 60  # seconds; longer than any request may run (gunicorn's timeout is 30)


def enabled() -> bool:
    return conf.setting("CACHE_TIMEOUT") > 0


def _entry(lookup: str) -> str:
    return f"apikey:v1:{lookup}"


def _tombstone(lookup: str) -> str:
    return f"apikey:v1:stale:{lookup}"


def get(lookup: str) -> tuple[ApiKey | None, bool]:
    """(cached key or None, whether an entry may be stored now) in one round trip."""
    try:
        found = cache.get_many([_entry(lookup), _tombstone(lookup)])
    except Exception:
        logger.warning("API key cache unavailable; reading the database", exc_info=True)
        return None, False
    if _tombstone(lookup) in found:
        return None, False
    return found.get(_entry(lookup)), True


def put(key: ApiKey) -> None:
    """Store a verified key with its `user` and `cached_roles` ({organization id: role})."""
    try:
        cache.set(_entry(key.lookup), key, timeout=conf.setting("CACHE_TIMEOUT"))
    except Exception:
        logger.warning("API key cache unavailable; entry not stored", exc_info=True)


def forget(lookups: Iterable[str]) -> None:
    """Withdraw these keys' entries once the current transaction commits."""
    lookups = list(lookups)
    if not lookups or not enabled():
        return
    timeout = conf.setting("CACHE_TIMEOUT") + TOMBSTONE_MARGIN

    def write() -> None:
        try:
            cache.set_many({_tombstone(lookup): 1 for lookup in lookups}, timeout=timeout)
        except Exception:
            logger.error("API key cache unavailable; tombstones not written", exc_info=True)

    transaction.on_commit(write)


def forget_user(user_id: Any) -> None:
    if enabled():
        forget(ApiKey.objects.filter(user_id=user_id).values_list("lookup", flat=True))


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="apikeys.cache.key")
def _key_changed(sender: type, instance: ApiKey, created: bool = False, **kwargs: Any) -> None:
    if not created:  # a new key has no entry to withdraw
        forget([instance.lookup])


@receiver([post_save, post_delete], sender="accounts.User", dispatch_uid="apikeys.cache.user")
def _user_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    forget_user(instance.pk)


@receiver(
    [post_save, post_delete], sender="tenants.Membership", dispatch_uid="apikeys.cache.member"
)
def _membership_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    forget_user(instance.user_id)


@receiver(post_save, sender="tenants.Organization", dispatch_uid="apikeys.cache.organization")
def _organization_changed(sender: type, instance: Any, created: bool = False, **kwargs: Any):
    # Entries carry the plans of their owners' organizations.
    if enabled() and not created:
        forget(
            ApiKey.objects.filter(user__memberships__organization=instance).values_list(
                "lookup", flat=True
            )
        )
