"""Read the APIKEYS settings at call time, so tests can override them."""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import salted_hmac


def prefix() -> str:
    return settings.APIKEYS["PREFIX"]


def pepper() -> bytes:
    configured = settings.APIKEYS["PEPPER"]
    if configured:
        return configured.encode()
    return salted_hmac("latchkey.apikeys.pepper", "v1", secret=settings.SECRET_KEY).digest()


def setting(name: str) -> int:
    return settings.APIKEYS[name]
