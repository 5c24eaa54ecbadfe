"""The tokens this server issues.

An access token is a JWT in the RFC 9068 profile, signed with the current key of
oauth/signing.py: `iss` (PUBLIC_URL), `sub` (the person's id), `aud` (the resources it was
issued for, RFC 8707), `client_id`, `scope`, `iat`, `exp`, `jti`, and `organization_id` when the
person pinned it to one organization. Only its checksum and `jti` are stored, and the API
checks the `jti` on every request, so a revoked token stops at once.

A refresh token is an opaque random value with a prefix (`lkr_`), stored as a checksum."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from jwcrypto import jwt
from oauthlib.common import generate_token

from oauth import signing

REFRESH_TOKEN_PREFIX = "lkr_"  # noqa: S105 - a prefix, not a secret
LENGTH = 40  # random characters from 62: about 238 bits
TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068's media type, not a secret


def encode(
    *,
    user_id: Any,
    client_id: str,
    scopes: list[str],
    organization_id: Any,
    audience: list[str],
    lifetime: int,
) -> tuple[str, str]:
    """(signed token, its jti)."""
    now = int(time.time())
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": settings.PUBLIC_URL,
        "sub": str(user_id),
        "aud": audience[0] if len(audience) == 1 else list(audience),
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + lifetime,
        "jti": jti,
    }
    if organization_id is not None:
        claims["organization_id"] = str(organization_id)
    kid, key = signing.signing_key()
    header = {"alg": signing.ALGORITHM, "typ": TOKEN_TYPE, "kid": kid}
    token = jwt.JWT(header=header, claims=claims)
    token.make_signed_token(key)
    return token.serialize(), jti


def audience_of(request: Any) -> list[str]:
    """The resources a token request's token is for: those it (or its grant) named, else the
    API."""
    return list(getattr(request, "resource", None) or [settings.OAUTH_API_RESOURCE])


def access_token(request: Any) -> str:
    """django-oauth-toolkit's ACCESS_TOKEN_GENERATOR: the signed token for this token
    request; its jti goes on the request for the validator to store."""
    raw, request.jti = encode(
        user_id=request.user.pk,
        client_id=request.client.client_id,
        scopes=list(request.scopes),
        organization_id=getattr(request, "organization_id", None),
        audience=audience_of(request),
        lifetime=int(request.expires_in),
    )
    return raw


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
    from oauth2_provider.models import set_token_value

    from oauth.models import AccessToken

    lifetime = (
        expires_in
        if expires_in is not None
        else settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    )
    audience = list(resources or [settings.OAUTH_API_RESOURCE])
    raw, jti = encode(
        user_id=user.pk,
        client_id=application.client_id,
        scopes=scopes,
        organization_id=organization.pk if organization is not None else None,
        audience=audience,
        lifetime=max(lifetime, 1),
    )
    token = AccessToken(
        user=user,
        application=application,
        scope=" ".join(scopes),
        organization=organization,
        resource=audience,
        jti=jti,
        expires=timezone.now() + timedelta(seconds=lifetime),
    )
    set_token_value(token, raw)  # only its checksum is stored
    token.save()
    return raw
