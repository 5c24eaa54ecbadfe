"""A secret scanner of our own (a P-256 key pair made here, its public key listed in a file),
and the strings a leak report is made of."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apikeys import conf, crypto
from leaks import signatures


@dataclass
class Scanner:
    """A stand-in for GitHub's secret scanning: it signs messages as GitHub does."""

    private_key: ec.EllipticCurvePrivateKey
    key_id: str

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.private_key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes, **overrides: str) -> dict[str, str]:
        return {
            signatures.KEY_ID_HEADER: self.key_id,
            signatures.SIGNATURE_HEADER: self.sign(body),
            **overrides,
        }


def public_pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def new_scanner() -> Scanner:
    private_key = ec.generate_private_key(ec.SECP256R1())
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Scanner(private_key=private_key, key_id=hashlib.sha256(der).hexdigest())


def key_list(*scanners: Scanner, extra: list[dict] | None = None) -> bytes:
    """A key list in GitHub's format."""
    entries = [
        {"key_identifier": s.key_id, "key": public_pem(s.private_key), "is_current": True}
        for s in scanners
    ]
    return json.dumps({"public_keys": entries + (extra or [])}).encode()


@pytest.fixture(autouse=True)
def _no_key_list_between_tests() -> Any:
    signatures.forget()
    yield
    signatures.forget()


@pytest.fixture
def scanner(tmp_path: Path, settings: Any) -> Scanner:
    """A scanner whose public key is listed in a file that SECRET_SCANNING_PUBLIC_KEYS names."""
    made = new_scanner()
    listing = tmp_path / "secret_scanning.json"
    listing.write_bytes(key_list(made))
    settings.LEAKS = {**settings.LEAKS, "SCANNING_PUBLIC_KEYS": str(listing)}
    return made


@pytest.fixture
def look_alike() -> Callable[[str], str]:
    """A string shaped like `raw`, with the same lookup id and a valid checksum, but not its
    secret: what a scanner that knows the format could make up."""

    def make(raw: str) -> str:
        prefix = conf.prefix()
        head = raw[: len(prefix) + crypto.LOOKUP_LENGTH]
        rest = raw[len(head) : -crypto.CHECKSUM_LENGTH]
        swapped = rest[::-1] if rest[::-1] != rest else "A" * len(rest)
        body = head + swapped
        return body + crypto.checksum(body)

    return make
