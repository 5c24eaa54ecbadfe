"""Leaked keys: find the real keys among reported strings, revoke them and tell their owners."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from apikeys import conf, crypto
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import Action
from audit.services import audit_record
from leaks import tasks

# Who reported a leak: anyone, through POST /api/keys/report, or GitHub's secret scanning.
REPORT = "report"
GITHUB = "github"
# Why the revocation happened, in the `api_key.revoked` event (its `by` is "report" for both).
REASONS = {REPORT: "public_report", GITHUB: "secret_scanning"}

# A string that parses as a key but names no stored one is compared with a digest of zeros
# under the current pepper instead, so that every parsed string costs one HMAC, found or not:
# the time taken does not tell which of them are keys. (No key's digest is this: an HMAC is
# never all zeros in practice.)
_NO_MAC = "0" * 64
# Lookup ids asked for in one query: well under every database's limit on parameters.
LOOKUP_BATCH = 500


@dataclass(frozen=True)
class Sighting:
    """One reported string and where it was seen. `token` is the candidate key itself: it
    goes nowhere but the digest comparison (never a log, an event or an email)."""

    token: str
    source: str = ""  # where it was found, as the reporter put it (a URL): unchecked
    location: str = ""  # for GitHub, the kind of place (content, commit, issue_comment, …)

    def __repr__(self) -> str:
        return f"Sighting(source={self.source!r}, location={self.location!r})"


def leaked_keys_find(tokens: Sequence[str]) -> dict[int, ApiKey]:
    """The stored key each token is, by the token's index, for the tokens that are keys.

    Found as authentication finds a key: the shape and checksum first (no I/O), then by lookup
    id, then the digest compared in constant time; a look-alike with a valid checksum but not
    the secret of the key its lookup id names is no key. One query per LOOKUP_BATCH parsed
    tokens, and one HMAC for every parsed token whether or not its lookup id exists."""
    prefix, peppers = conf.prefix(), conf.peppers()
    no_digest = crypto.digest_prefix(peppers[0]) + _NO_MAC
    parsed = [(index, crypto.parse(token, prefix)) for index, token in enumerate(tokens)]
    candidates = [(index, key) for index, key in parsed if key is not None]
    lookups = sorted({key.lookup for _index, key in candidates})
    stored: dict[str, ApiKey] = {}
    for start in range(0, len(lookups), LOOKUP_BATCH):
        batch = lookups[start : start + LOOKUP_BATCH]
        # A rolled key's previous secret, still working during its overlap, is a key too.
        rows = ApiKey.objects.filter(Q(lookup__in=batch) | Q(previous_lookup__in=batch))
        for key in rows:
            stored[key.lookup] = key
            if key.previous_lookup:
                stored[key.previous_lookup] = key
    found: dict[int, ApiKey] = {}
    for index, candidate in candidates:
        key = stored.get(candidate.lookup)
        digest = (key.digest_for(candidate.lookup) if key is not None else None) or no_digest
        if crypto.verify(candidate.raw, digest, peppers) is not None and key is not None:
            found[index] = key
    return found


def leaked_keys_report(
    *, sightings: Sequence[Sighting], reporter: str, network: str
) -> list[bool]:
    """Revoke every live key among the sightings and tell each owner once; return, for each
    sighting, whether it is a real key (revoked now or before).

    `reporter` is REPORT or GITHUB; `network` the reporter's client network (an IPv6 client's
    /64), for the audit trail. Each owner's keys are revoked in one transaction with their
    `api_key.leak_reported` events and the one email that lists them, so a failure leaves
    none of the three without the others; a key already revoked is left as it is, with no
    new event and no second email."""
    found = leaked_keys_find([sighting.token for sighting in sightings])
    by_owner: dict[str, dict[str, Sighting]] = {}
    for index, key in found.items():
        # A key reported twice in one message is revoked and mentioned once.
        by_owner.setdefault(key.user_id, {}).setdefault(key.pk, sightings[index])
    for user_id, keys in by_owner.items():
        _revoke_and_notify(user_id=user_id, keys=keys, reporter=reporter, network=network)
    return [index in found for index in range(len(sightings))]


@transaction.atomic
def _revoke_and_notify(
    *, user_id: str, keys: dict[str, Sighting], reporter: str, network: str
) -> None:
    # Locked, so that two reports of one key at once revoke it, and mail its owner, once.
    live = ApiKey.objects.select_for_update().filter(pk__in=keys, revoked_at__isnull=True)
    revoked: list[dict[str, str]] = []
    for key in live.order_by("created_at", "pk"):
        sighting = keys[key.pk]
        api_key_revoke(key=key, revoked_by=None, by="report", reason=REASONS[reporter])
        audit_record(
            action=Action.KEY_LEAK_REPORTED,
            organization_id=key.organization_id,
            target=key,
            detail={
                "reportedBy": reporter,
                "source": sighting.source,
                **({"location": sighting.location} if sighting.location else {}),
                "network": network,
            },
        )
        revoked.append({"id": key.pk, "source": sighting.source})
    if revoked:
        # Queued in this transaction: the revocation and its mail exist together or not at all.
        tasks.leaked_keys_email.enqueue(user_id=user_id, keys=revoked, reporter=reporter)
