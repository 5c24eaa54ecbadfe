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


def issue_access_token(
    *,
    user: Any,
    application: Any,
    scopes: list[str],
    organization: Any = None,
    resources: list[str] | None = None,
    expires_in: int | None = None,
) -> str:
    """An access token granted outside the token endpoint (for an operator's tooling and the
    tests): `user` granted `application` these `scopes`, pinned to `organization` (None: every
    one), for `resources` (default: the API). Returns its raw value; only a digest is kept."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from oauth.models import AccessToken

    lifetime = expires_in if expires_in is not None else settings.OAUTH2_PROVIDER[
        "ACCESS_TOKEN_EXPIRE_SECONDS"
    ]
    raw = access_token(None)
    token = AccessToken(
        user=user,
        application=application,
        scope=" ".join(scopes),
        organization=organization,
        resource=list(resources or [settings.OAUTH_API_RESOURCE]),
        expires=timezone.now() + timedelta(seconds=lifetime),
    )
    token.token = raw
    token.save()
    return raw
