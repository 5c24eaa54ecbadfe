"""Read the APIKEYS settings at call time, so tests can override them."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.utils.crypto import salted_hmac


def prefix() -> str:
    return settings.APIKEYS["PREFIX"]


def pepper() -> bytes:
    configured = settings.APIKEYS["PEPPER"]
    if configured:
        return configured.encode()
    return _derived_pepper(settings.SECRET_KEY)


@lru_cache(maxsize=4)
def _derived_pepper(secret_key: str) -> bytes:
    return salted_hmac("latchkey.apikeys.pepper", "v1", secret=secret_key).digest()


def setting(name: str) -> int:
    return settings.APIKEYS[name]
