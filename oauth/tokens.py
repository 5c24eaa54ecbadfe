"""The form of the tokens this server issues: oauthlib's random tokens, with a prefix that says
what each is (as `lka_…` for an access token), so the API knows an access token from an API
key before any query, and a leaked one is recognisable."""

from __future__ import annotations

from typing import Any

from oauthlib.common import generate_token

from access.credentials import OAUTH_ACCESS_TOKEN_PREFIX

REFRESH_TOKEN_PREFIX = "lkr_"  # noqa: S105 - a prefix, not a secret
LENGTH = 40  # random characters from 62: about 238 bits


def access_token(request: Any) -> str:
    return OAUTH_ACCESS_TOKEN_PREFIX + generate_token(LENGTH)


def refresh_token(request: Any) -> str:
    return REFRESH_TOKEN_PREFIX + generate_token(LENGTH)
