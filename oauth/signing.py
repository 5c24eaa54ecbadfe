"""The keys that sign access tokens, and the JWK Set that publishes them.

One key signs at a time: the newest whose `signs_from` has come. Rotating adds a key that
signs only once a JWKS cache lifetime (OAUTH_JWKS_MAX_AGE) has passed, so every resource
server that caches the set has seen it before any token carries it; the key it replaces keeps
being published until the last token it signed has expired (OAUTH_ACCESS_TOKEN_TTL), so no
live token loses its key. `python manage.py rotate_oauth_signing_key` rotates; a first key is
made when a token is first signed.

Private keys are kept as encrypted PKCS#8, under a password derived from SECRET_KEY (or one of
SECRET_KEY_FALLBACKS, so rotating the secret keeps the keys readable while it is a fallback).
Each worker keeps the keys it has read in memory for KEYS_TTL seconds."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.crypto import salted_hmac
from jwcrypto import jwk

from oauth.models import SigningKey

ALGORITHM = "RS256"  # the one RFC 9068 requires every resource server to accept
KEY_SIZE = 2048
KEYS_TTL = 60  # seconds a worker trusts its copy of the key list
UNKNOWN_KID_REREAD = 1  # an unknown kid re-reads a list older than this many seconds
# Seconds added to each hand-over between keys: clock differences between the servers, and
# the verifier's leeway on `exp`.
HANDOVER_MARGIN = 10
_PASSWORD_SALT = "latchkey.oauth.signing-key"  # noqa: S105 - a salt, not a password


@dataclass(frozen=True)
class Keys:
    """The key list as read at `read_at`: each key's JWK (private where readable), and the
    kid of the one signing now."""

    private: dict[str, jwk.JWK]
    public: dict[str, dict[str, Any]]  # as published
    verifiers: dict[str, jwk.JWK]  # the same, ready to verify with
    signing: str | None
    read_at: float
    # False when this read made a key inside a transaction that may yet roll back: such a
    # list is used once, never kept.
    settled: bool = True


logger = logging.getLogger(__name__)

_keys: Keys | None = None
_lock = threading.Lock()
# Private keys this worker has decrypted, by kid (a kid names one key for good).
_loaded: dict[str, jwk.JWK] = {}


def _password(secret: str) -> bytes:
    digest = salted_hmac(_PASSWORD_SALT, "private-key", secret=secret, algorithm="sha256")
    return digest.hexdigest().encode()


def _secrets() -> list[str]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _token_lifetime() -> timedelta:
    return timedelta(seconds=settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"])


def jwks_max_age() -> int:
    return settings.OAUTH_JWKS_MAX_AGE


def new_key(*, signs_from: datetime) -> SigningKey:
    """Make and store a key pair that signs from `signs_from`."""
    private = generate()
    kid = secrets.token_urlsafe(16)
    public = jwk.JWK.from_pyca(private.public_key()).export_public(as_dict=True)
    public.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_password(settings.SECRET_KEY)),
    )
    key = SigningKey.objects.create(
        kid=kid, private_key=pem.decode(), public_jwk=public, signs_from=signs_from
    )
    _loaded[kid] = jwk.JWK.from_pyca(private)
    forget()
    return key


def generate() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def rotate(*, now: bool = False) -> SigningKey:
    """Add the key that replaces the signing one. It signs once every server's copy of the
    key list (KEYS_TTL) and every resource server's copy of the JWK Set (OAUTH_JWKS_MAX_AGE)
    has had time to include it; with `now`, once every server's has (about a minute), for a
    key that must stop signing soon. Tokens the old key signed stay valid until they expire
    or are revoked."""
    wait = KEYS_TTL + HANDOVER_MARGIN + (0 if now else jwks_max_age())
    return new_key(signs_from=timezone.now() + timedelta(seconds=wait))


def prune() -> int:
    """Delete the keys no live token can carry any more; returns how many."""
    rows = list(SigningKey.objects.order_by("signs_from", "id"))
    gone = [key.pk for key in rows if not _published(key, rows, timezone.now())]
    SigningKey.objects.filter(pk__in=gone).delete()
    forget()
    return len(gone)


def _published(key: SigningKey, rows: list[SigningKey], now: datetime) -> bool:
    """A key is published until every token it may have signed has expired: until a later
    key started signing and every server has read that it did (KEYS_TTL), plus a token's
    lifetime, with HANDOVER_MARGIN for clocks at each step."""
    later = [row.signs_from for row in rows if row.signs_from > key.signs_from]
    started = [moment for moment in later if moment <= now]
    if not started:
        return True
    # A server may sign with it until its copy of the list is KEYS_TTL old.
    last_signature = min(started) + timedelta(seconds=KEYS_TTL + HANDOVER_MARGIN)
    return last_signature + _token_lifetime() + timedelta(seconds=HANDOVER_MARGIN) > now


def _read() -> Keys:
    rows = list(SigningKey.objects.order_by("signs_from", "id"))
    now = timezone.now()
    signing = [row for row in rows if row.signs_from <= now]
    made = not signing
    if made:
        # The first key of an installation; two servers racing both make one, and the newer
        # simply signs: both are published (and a server meeting the other's kid reads the
        # list again).
        rows.append(new_key(signs_from=now))
        signing = rows[-1:]
    private: dict[str, jwk.JWK] = {}
    for row in rows:
        loaded = _loaded.get(row.kid) or _load_private(row.private_key)
        if loaded is not None:
            private[row.kid] = _loaded[row.kid] = loaded
    if signing[-1].kid not in private:
        # The key that should sign was stored under a SECRET_KEY this server does not have
        # (not even as a fallback): signing with an older key would outlive its publication,
        # so this server makes a key it can use.
        logger.error(
            "OAuth signing key %s is unreadable with SECRET_KEY; adding one", signing[-1].kid
        )
        rows.append(new_key(signs_from=now))
        private[rows[-1].kid] = _loaded[rows[-1].kid]
        signing, made = rows[-1:], True
    public = {row.kid: row.public_jwk for row in rows if _published(row, rows, now)}
    return Keys(
        private=private,
        public=public,
        verifiers={kid: jwk.JWK(**value) for kid, value in public.items()},
        signing=signing[-1].kid,
        read_at=time.time(),
        settled=not made or not connection.in_atomic_block,
    )


def _load_private(pem: str) -> jwk.JWK | None:
    for secret in _secrets():
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=_password(secret))
        except (ValueError, TypeError):
            continue
        return jwk.JWK.from_pyca(key)
    return None


def keys() -> Keys:
    """The key list, from this worker's memory while it is younger than KEYS_TTL."""
    global _keys
    current = _keys
    if current is not None and time.time() - current.read_at < KEYS_TTL:
        return current
    with _lock:
        if _keys is None or time.time() - _keys.read_at >= KEYS_TTL:
            fresh = _read()
            if not fresh.settled:
                return fresh
            _keys = fresh
        return _keys


def forget() -> None:
    """Drop this worker's copy of the key list (after a change to it)."""
    global _keys
    _keys = None


def signing_key() -> tuple[str, jwk.JWK]:
    current = keys()
    assert current.signing is not None  # noqa: S101 - _read always finds or makes one
    return current.signing, current.private[current.signing]


def verification_key(kid: str) -> jwk.JWK | None:
    """The published public key named `kid`; a kid this worker has not seen makes it read
        the list again, at most once per UNKNOWN_KID_REREAD seconds (so a key another server just
    started signing with is found, and made-up kids cost no query each)."""
    current = keys()
    verifier = current.verifiers.get(kid)
    if verifier is None and time.time() - current.read_at >= UNKNOWN_KID_REREAD:
        forget()
        verifier = keys().verifiers.get(kid)
    return verifier


def jwk_set() -> dict[str, Any]:
    """The JWK Set (RFC 7517) of every published key."""
    return {"keys": list(keys().public.values())}
