"""Read the APIKEYS settings at call time, so tests can override them."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from apikeys import crypto

# In APIKEY_PEPPERS, the pepper derived from SECRET_KEY (the only one when none is set), so
# that a deployment that never set one can list it behind a new one.
DERIVED = "SECRET_KEY"


def prefix() -> str:
    return settings.APIKEYS["PREFIX"]


def peppers() -> tuple[bytes, ...]:
    """The peppers keys are verified under, newest first: new digests are made under the
    first, and a key verified under another is moved to the first on use. None configured:
    the one derived from SECRET_KEY."""
    return _peppers(tuple(settings.APIKEYS["PEPPERS"]), settings.SECRET_KEY)


def pepper() -> bytes:
    """The pepper new digests are made under."""
    return peppers()[0]


@lru_cache(maxsize=4)
def _peppers(configured: tuple[str, ...], secret_key: str) -> tuple[bytes, ...]:
    configured = tuple(value for value in configured if value) or (DERIVED,)  # never b""
    found = tuple(
        _derived_pepper(secret_key) if value == DERIVED else value.encode() for value in configured
    )
    # A digest names its pepper by id, so two peppers with one id could not be told apart.
    if len({crypto.pepper_id(value) for value in found}) != len(found):
        raise ImproperlyConfigured("APIKEY_PEPPERS lists the same pepper twice.")
    return found


@lru_cache(maxsize=4)
def _derived_pepper(secret_key: str) -> bytes:
    return salted_hmac("latchkey.apikeys.pepper", "v1", secret=secret_key).digest()


def setting(name: str) -> int:
    return settings.APIKEYS[name]
