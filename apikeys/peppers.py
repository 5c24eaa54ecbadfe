"""Pepper rotation: a key's digest moves to the current pepper when the key is next used, and
an operator counts the keys still under each pepper (manage.py apikey_peppers)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Count, QuerySet, Value, When
from django.db.models.functions import Substr
from django.utils import timezone

from apikeys import conf, crypto, warm_cache
from apikeys.models import ApiKey


def rehash_if_old(parsed: crypto.ParsedKey, key: ApiKey) -> bool:
    """Store the presented secret's digest under the current pepper if it is under an older
    one, or in the `v1` scheme; return whether it had to be. Call only once the presented key
    has been verified against `key`.

    A digest already under the current pepper costs one string comparison and writes nothing,
    as on almost every request. Otherwise one conditional UPDATE writes the new digest where
    the row still holds the old one: two workers moving the same key write it once, and a
    roll or another write that changed the digest meanwhile is never overwritten. The key
    object, the cached one too when the request was served from the warm-key cache, takes the
    new digest, so no later request finds the old one; the UPDATE sends no signal, so the
    key's cache entries, which other workers may hold with the old digest, are withdrawn here.
    """
    stored = key.digest_for(parsed.lookup)
    current = conf.pepper()
    if stored is None or stored.startswith(crypto.digest_prefix(current)):
        return False
    column = "digest" if parsed.lookup == key.lookup else "previous_digest"
    fresh = crypto.digest(parsed.raw, current)
    written = ApiKey.objects.filter(pk=key.pk, **{column: stored}).update(**{column: fresh})
    setattr(key, column, fresh)
    if written:
        warm_cache.forget(warm_cache.lookups_of(key))
    return True


@dataclass(frozen=True)
class Tally:
    """Working secrets under one pepper (or in one group): keys' current secrets, and rolled
    keys' previous secrets still in their overlap."""

    keys: int = 0
    previous: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"keys": self.keys, "previousSecrets": self.previous}


@dataclass(frozen=True)
class Census:
    """Working secrets by the pepper their digests are under: each configured pepper's, by
    position (1 is the current one) and id, never the pepper itself; the `v1` digests, which
    name no pepper (each is under one of them, or none, until the key is used); and those under
    no configured pepper, which are refused (401 KEY_INVALID)."""

    peppers: list[tuple[str, Tally]]
    v1: Tally
    unknown: Tally

    def as_dict(self) -> dict[str, object]:
        return {
            "peppers": [
                {"position": position, "id": pepper_id, **tally.as_dict()}
                for position, (pepper_id, tally) in enumerate(self.peppers, start=1)
            ],
            "v1": self.v1.as_dict(),
            "unknown": self.unknown.as_dict(),
        }


def census() -> Census:
    """Count the working secrets under each pepper in two queries, grouped in SQL by the
    digests' prefixes (`v2$<pepper id>$`, or `v1$`).

    Revoked and expired keys, and previous secrets whose overlap has ended, are left out: they
    never authenticate again, so removing their pepper changes nothing for anyone."""
    now = timezone.now()
    live = ApiKey.objects.active(now)
    current = _by_prefix(live, "digest")
    previous = _by_prefix(
        live.filter(previous_lookup__isnull=False, previous_expires_at__gt=now), "previous_digest"
    )
    legacy = f"{crypto.LEGACY_VERSION}$"
    known = {crypto.digest_prefix(pepper): crypto.pepper_id(pepper) for pepper in conf.peppers()}

    def tally(prefixes: set[str]) -> Tally:
        return Tally(
            keys=sum(n for prefix, n in current.items() if prefix in prefixes),
            previous=sum(n for prefix, n in previous.items() if prefix in prefixes),
        )

    others = (set(current) | set(previous)) - set(known) - {legacy}
    return Census(
        peppers=[(pepper_id, tally({prefix})) for prefix, pepper_id in known.items()],
        v1=tally({legacy}),
        unknown=tally(others),
    )


def _by_prefix(keys: QuerySet[ApiKey], column: str) -> dict[str, int]:
    """How many of `keys` have a digest in `column` with each prefix: `v2$<pepper id>$`, or
    `v1$` for all the v1 digests."""
    legacy = f"{crypto.LEGACY_VERSION}$"
    width = len(crypto.DIGEST_VERSION) + 1 + crypto.PEPPER_ID_LENGTH + 1
    prefix = Case(
        When(**{f"{column}__startswith": legacy}, then=Value(legacy)),
        default=Substr(column, 1, width),
    )
    rows = keys.order_by().annotate(prefix=prefix).values("prefix").annotate(n=Count("pk"))
    return {row["prefix"]: row["n"] for row in rows}
