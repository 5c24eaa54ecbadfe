"""API key material: generate, check the shape and checksum, digest, compare.

A key is `<prefix><random><checksum>`, e.g. `ba_` + 40 base62 characters + 6:
- the random part comes from `secrets` (via Django's get_random_string): 40 base62 characters
  carry 238 bits. Its first 12 characters are the lookup id, stored in a unique index; the 28
  after them (166 bits) are never stored anywhere;
- the checksum is CRC32 of prefix and random part, in base62, as GitHub's tokens carry, so a
  mistyped or truncated key is refused before any database query, and secret scanners can
  tell a real key from a look-alike;
- only an HMAC-SHA256 digest of the whole key, under a server-side pepper, is stored, tagged
  with its scheme version so the scheme can change without invalidating keys:
  `v2$<pepper id>$<mac>`, where the pepper id is a non-secret fingerprint of the pepper, so a
  digest says which of the configured peppers made it (and an operator can count them in SQL);
  `v1$<mac>`, the scheme before it, names no pepper and is verified by trying each.

Keys are not hashed with Argon2 or any password hasher. A password hasher is slow to make a
low-entropy secret expensive to guess; a key has 166+ bits of entropy, so no guessing is
feasible at any speed, and a slow hash would add 50-100 ms to every request for nothing. A
keyed digest also means a stolen table is useless without the pepper.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from django.utils.crypto import get_random_string

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 40
LOOKUP_LENGTH = 12
CHECKSUM_LENGTH = 6
START_LENGTH = 6  # random characters shown after the prefix: enough to recognise, not to use
DIGEST_VERSION = "v2"
LEGACY_VERSION = "v1"  # `v1$<mac>`: still verified, never written
PEPPER_ID_LENGTH = 8
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,9}_$")


@dataclass(frozen=True)
class ParsedKey:
    raw: str = field(repr=False)  # the secret itself: never in a repr, a log or a traceback
    lookup: str


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate(prefix: str) -> str:
    """A new key: prefix, 40 random base62 characters, 6-character checksum."""
    body = prefix + get_random_string(RANDOM_LENGTH, allowed_chars=BASE62)
    return body + checksum(body)


def key_pattern(prefix: str) -> str:
    """The regular expression secret scanners can use to find keys with this prefix."""
    return rf"\b{re.escape(prefix)}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}\b"


def parse(raw: str, prefix: str) -> ParsedKey | None:
    """The key's lookup id if `raw` has the right shape and checksum, else None. No I/O."""
    if len(raw) != len(prefix) + RANDOM_LENGTH + CHECKSUM_LENGTH or not raw.isascii():
        return None
    if not raw.startswith(prefix):
        return None
    random_part = raw[len(prefix) : len(prefix) + RANDOM_LENGTH]
    if not random_part.isascii() or not random_part.isalnum():
        return None
    if not hmac.compare_digest(checksum(raw[:-CHECKSUM_LENGTH]), raw[-CHECKSUM_LENGTH:]):
        return None
    return ParsedKey(raw=raw, lookup=random_part[:LOOKUP_LENGTH])


def start(raw: str, prefix: str) -> str:
    """The non-secret beginning shown in lists: the prefix and a few random characters."""
    return raw[: len(prefix) + START_LENGTH]


def lookup_of(raw: str, prefix: str) -> str:
    return raw[len(prefix) : len(prefix) + LOOKUP_LENGTH]


@lru_cache(maxsize=16)
def pepper_id(pepper: bytes) -> str:
    """A short, non-secret name for a pepper, stored in every digest made under it. An HMAC
    under the pepper of a fixed message: it tells nothing about the pepper, and is the same on
    every server that has it. (Memoized: it is read on every verification.)"""
    return hmac.new(pepper, b"latchkey.apikeys.pepper-id", hashlib.sha256).hexdigest()[
        :PEPPER_ID_LENGTH
    ]


def digest_prefix(pepper: bytes) -> str:
    """What every digest made under this pepper starts with: `v2$<pepper id>$`."""
    return f"{DIGEST_VERSION}${pepper_id(pepper)}$"


def _mac(raw: str, pepper: bytes) -> str:
    return hmac.new(pepper, raw.encode("ascii"), hashlib.sha256).hexdigest()


def digest(raw: str, pepper: bytes) -> str:
    """The stored form of a key: `v2$<pepper id>$` + hex HMAC-SHA256 of the whole key under
    the pepper."""
    return digest_prefix(pepper) + _mac(raw, pepper)


def verify(raw: str, stored: str, peppers: Sequence[bytes]) -> int | None:
    """The position in `peppers` of the pepper that made `stored`, if it is the digest of the
    presented key; None if it is not, or was made under none of them.

    A `v2` digest names its pepper, so it costs one HMAC; a `v1` digest is tried under each
    pepper in turn. Which pepper made a digest is no secret (it is written in it), so finding
    it need not take constant time; the comparison with the MAC does."""
    version, _sep, rest = stored.partition("$")
    if version == DIGEST_VERSION:
        wanted, _sep, mac = rest.partition("$")
        for position, pepper in enumerate(peppers):
            if pepper_id(pepper) == wanted:
                return position if hmac.compare_digest(_mac(raw, pepper), mac) else None
        return None
    if version == LEGACY_VERSION:
        for position, pepper in enumerate(peppers):
            if hmac.compare_digest(_mac(raw, pepper), rest):
                return position
    return None


def matches(raw: str, stored: str, pepper: bytes) -> bool:
    """Constant-time comparison of a presented key against a stored digest, under one pepper."""
    return verify(raw, stored, (pepper,)) is not None
