"""Secret-scanning partner messages (GitHub's program): proving that one comes from the scanner.

A message is signed over its raw body with ECDSA on P-256 and SHA-256: the DER signature, in
base64, is in `Github-Public-Key-Signature`, and `Github-Public-Key-Identifier` names the key,
one of those the scanner publishes. The `cryptography` package does the verification.

The public keys come from LEAKS["SCANNING_PUBLIC_KEYS"], an https URL or a file, in GitHub's
format: {"public_keys": [{"key_identifier": …, "key": "-----BEGIN PUBLIC KEY-----…",
"is_current": …}]}. Every listed key verifies, current or not, as GitHub's own samples do: one
that is being rotated out may still sign for a while. Each worker keeps the list
SCANNING_PUBLIC_KEYS_MAX_AGE seconds, and reads it again early when a message names a key it
does not know (one rotated in), but at most once every REFETCH_INTERVAL seconds whatever the
messages say: anyone can send one, and no one may make the server fetch in a loop. A list
that cannot be read keeps the last good one in use.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import urllib3
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_ID_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"
MAX_KEY_ID_LENGTH = 128  # GitHub's are 64 hexadecimal characters
MAX_SIGNATURE_LENGTH = 256  # a DER P-256 signature is at most 72 bytes: 96 in base64
MAX_LIST_BYTES = 256 * 1024  # GitHub's list is a few kilobytes
MAX_LISTED_KEYS = 100
FETCH_TIMEOUT = 5.0  # seconds, connecting and reading together
REFETCH_INTERVAL = 60  # seconds between two reads of the list, at the most often

timer = time.monotonic

PublicKeys = dict[str, ec.EllipticCurvePublicKey]
_lock = threading.Lock()
_held: dict[str, tuple[float, PublicKeys]] = {}  # source: (when read, its keys)
_attempted: dict[str, float] = {}  # source: when last read, or tried


class SignatureInvalid(Exception):
    """The message is not proven to come from the scanner. `reason` is one of a few fixed
    words (for the log and the answer's `reason`), never text from the request."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyListUnavailable(Exception):
    """The list of public keys could not be read or is not in the expected format."""


def verify(*, body: bytes, key_id: str | None, signature: str | None) -> None:
    """Return if `signature` (the header's base64 text) is the signature of `body` by the
    listed key `key_id`; raise SignatureInvalid otherwise. Nothing in the body is read."""
    if not settings.LEAKS["SCANNING_PUBLIC_KEYS"]:
        raise SignatureInvalid("not_configured")
    if not key_id or not signature:
        raise SignatureInvalid("missing_signature")
    if len(key_id) > MAX_KEY_ID_LENGTH or len(signature) > MAX_SIGNATURE_LENGTH:
        raise SignatureInvalid("malformed_signature")
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise SignatureInvalid("malformed_signature") from None
    public_key = _public_key(key_id)
    if public_key is None:
        raise SignatureInvalid("unknown_key")
    try:
        public_key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise SignatureInvalid("bad_signature") from None


def _public_key(key_id: str) -> ec.EllipticCurvePublicKey | None:
    key = _public_keys().get(key_id)
    if key is None:
        key = _public_keys(refresh=True).get(key_id)
    return key


def _public_keys(*, refresh: bool = False) -> PublicKeys:
    """The listed keys by identifier: this worker's copy while it is fresh (and not asked to
    `refresh`), else read again, unless the list was read or tried under REFETCH_INTERVAL
    seconds ago."""
    source = settings.LEAKS["SCANNING_PUBLIC_KEYS"]
    now = timer()
    with _lock:
        held = _held.get(source)
        fresh = held is not None and now - held[0] < settings.LEAKS["SCANNING_PUBLIC_KEYS_MAX_AGE"]
        if fresh and not refresh:
            return held[1]
        last = _attempted.get(source)
        if last is not None and now - last < REFETCH_INTERVAL:
            return held[1] if held is not None else {}
        _attempted[source] = now
    try:
        keys = public_keys_load(source)
    except KeyListUnavailable as exc:
        logger.warning("Secret-scanning public keys not read from %s: %s", source, exc)
        return held[1] if held is not None else {}
    with _lock:
        _held[source] = (now, keys)
    return keys


def forget() -> None:
    """Drop this worker's copy of every key list (tests; a rotated list read at once)."""
    with _lock:
        _held.clear()
        _attempted.clear()


def public_keys_load(source: str) -> PublicKeys:
    """Read and parse the key list at `source` (an https URL or a file path). An entry that
    is not a P-256 public key is left out, and logged; KeyListUnavailable if the list itself
    cannot be read or is not in GitHub's format."""
    raw = _download(source) if source.startswith("https://") else _read_file(source)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise KeyListUnavailable("not JSON") from exc
    entries = document.get("public_keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeyListUnavailable('no "public_keys" list')
    keys: PublicKeys = {}
    for entry in entries[:MAX_LISTED_KEYS]:
        identifier = entry.get("key_identifier") if isinstance(entry, dict) else None
        pem = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or not isinstance(pem, str):
            logger.warning("Secret-scanning public keys: an entry without identifier or key")
            continue
        key = _p256_key(pem)
        if key is None:
            logger.warning("Secret-scanning public key %r is not a P-256 key", identifier[:100])
            continue
        keys[identifier] = key
    return keys


def _p256_key(pem: str) -> ec.EllipticCurvePublicKey | None:
    try:
        key: Any = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeError):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    return None


def _read_file(path: str) -> bytes:
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_LIST_BYTES + 1)
    except OSError as exc:
        raise KeyListUnavailable(f"cannot read the file ({type(exc).__name__})") from exc
    if len(raw) > MAX_LIST_BYTES:
        raise KeyListUnavailable("the file is too large")
    return raw


def _download(url: str) -> bytes:
    """GET the list: no redirect followed, a timeout, a size limit. The URL is the operator's
    setting, never a caller's."""
    pool = urllib3.PoolManager(
        timeout=urllib3.Timeout(total=FETCH_TIMEOUT), retries=False, maxsize=1
    )
    headers = {"Accept": "application/json", "User-Agent": "Latchkey secret scanning"}
    try:
        response = pool.request("GET", url, headers=headers, redirect=False, preload_content=False)
        try:
            if response.status != 200:
                raise KeyListUnavailable(f"HTTP {response.status}")
            raw = response.read(MAX_LIST_BYTES + 1)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise KeyListUnavailable(f"cannot fetch it ({type(exc).__name__})") from exc
    finally:
        pool.clear()
    if len(raw) > MAX_LIST_BYTES:
        raise KeyListUnavailable("the list is too large")
    return raw
