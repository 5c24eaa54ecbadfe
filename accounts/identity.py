"""An email address's identity: the one canonical key that lookups, uniqueness and limits use."""

from __future__ import annotations

import re
import unicodedata

# Characters no database column or UTF-8 digest can hold: a NUL (PostgreSQL text refuses it)
# and an unpaired surrogate (which cannot be encoded at all).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def canonical_email(address: str) -> str:
    """Return the key that identifies `address`: NFKC, then casefold, then NFKC again (so the
    key is itself normalised, and a key's key is the key), stripped; the domain in IDNA ASCII.

    Total: any string has a key, and no input raises. Every place that asks "which account is
    this address?" (the unique column, sign-in, reset, the failure budgets) must use this one
    function: if two of them folded differently, a look-alike spelling could be another
    account to one and the same account to the other (a fresh failure budget for someone
    else's account, or a second account squatting a real address).
    """
    if not isinstance(address, str):
        return ""
    # What cannot be stored cannot name an account: it becomes U+FFFD, which no address that
    # sign-up accepts contains, so such junk matches nobody, yet its key can still be queried
    # and hashed.
    text = _UNSTORABLE.sub("\ufffd", address)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    local, at, domain = folded.strip().rpartition("@")
    if not at:  # not an address: no domain to encode, the folded text is the key
        return domain
    return f"{local}@{_ascii_domain(domain)}"


def _ascii_domain(domain: str) -> str:
    """The domain as DNS and mail servers see it (bücher.example is xn--bcher-kva.example), or
    the folded domain itself if it has no IDNA form.

    The fallback is safe: a domain without an IDNA form is refused by sign-up (api.fields.
    EmailField), so no account is keyed by one, and its key can never equal an encodable
    domain's, whose every label is valid ASCII.
    """
    try:
        return domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return domain


def nfkc_changes(address: str) -> bool:
    """True if NFKC would rewrite `address`: it holds a compatibility look-alike (a Kelvin sign
    for K, fullwidth letters, a ligature) or a decomposed accent.

    Sign-up refuses such an address, so an account's address is always written in the plain
    characters a mailbox is known by, never in a disguise of another account's address.
    """
    return not unicodedata.is_normalized("NFKC", address)


# Characters that IDNA 2003 (what Python's codec and Django's mail use) maps away but IDNA 2008
# keeps: a domain holding one is, to the rest of the internet, another domain than the one
# mail would go to ("faß.de" is not "fass.de").
IDNA_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


def domain_is_ambiguous(address: str) -> bool:
    """True if the domain of `address` names two different domains under IDNA 2003 and IDNA
    2008. Sign-up refuses such an address: its mail and its owner could be on different
    domains."""
    _local, _at, domain = address.rpartition("@")
    return any(char in IDNA_DEVIATIONS for char in domain)
