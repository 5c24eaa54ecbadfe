"""OAuth access tokens on the JSON API: `Authorization: Bearer <JWT>`. Any other Bearer value
is ApiKeyAuthentication's."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from jwcrypto import jwt
from jwcrypto.common import JWException
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from access.credentials import Unconfirmed, challenge, presented_token
from access.gate import tenancy_of
from access.principal import Principal
from api.errors import TokenInvalid
from apikeys import conf as apikeys_conf
from apikeys import warm_cache
from apikeys.authentication import confirms
from oauth import signing
from oauth.models import AccessToken, lookup_of
from oauth.tokens import TOKEN_TYPE

# Seconds of clock difference allowed on `exp` and `iat`; the stored expiry decides too.
LEEWAY = 5


def verified_claims(raw: str) -> dict[str, Any] | None:
    """The claims of a token this server signed with a published key, of the RFC 9068 type,
    from this issuer and not expired; None for anything else."""
    try:
        header = jwt.JWT(jwt=raw, check_claims=False).token.jose_header
    except (JWException, ValueError, TypeError):
        return None
    if header.get("alg") != signing.ALGORITHM or header.get("typ") != TOKEN_TYPE:
        return None
    key = signing.verification_key(str(header.get("kid", "")))
    if key is None:
        return None
    try:
        token = jwt.JWT(
            algs=[signing.ALGORITHM],
            expected_type="JWS",
            check_claims={"iss": settings.PUBLIC_URL, "exp": None, "jti": None},
        )
        token.leeway = LEEWAY
        token.deserialize(raw, key)
        claims = json.loads(token.claims)
    except (JWException, ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) and isinstance(claims.get("jti"), str) else None


def use_due(token: AccessToken, now: datetime) -> bool:
    resolution = timedelta(seconds=apikeys_conf.setting("LAST_USED_RESOLUTION"))
    return token.last_used_at is None or now - token.last_used_at >= resolution


def record_use(token: AccessToken, now: datetime) -> bool:
    """Set the token's last use at most once per LAST_USED_RESOLUTION seconds, as a key's
    (a conditional UPDATE: concurrent workers write the minute once). Whether it moved."""
    if not use_due(token, now):
        return False
    resolution = timedelta(seconds=apikeys_conf.setting("LAST_USED_RESOLUTION"))
    AccessToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - resolution)
    ).update(last_used_at=now)
    token.last_used_at = now
    return True


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]


class OAuthTokenAuthentication(BaseAuthentication):
    """On success `request.user` is the person who authorized the application, `request.auth`
    the AccessToken, and `request.principal` the caller: the token's scopes and pin, governed
    by the person's role of the moment, exactly as a key is.

    The token must verify (signature, issuer, expiry) and name the view's resource
    (`oauth_resource`, default the API) in its audience; then its `jti` must still be stored:
    revoking deletes it. A read (GET, HEAD, OPTIONS) on a view that confirms credentials finds
    the stored token in the warm-key cache (apikeys/warm_cache.py), withdrawn by the same
    tombstones as a key's entry; anything else reads the database."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        raw = presented_token(request.META)
        if raw is None:
            return None
        claims = verified_claims(raw)
        if claims is None:
            raise TokenInvalid()
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if getattr(view, "oauth_resource", settings.OAUTH_API_RESOURCE) not in audiences(claims):
            raise TokenInvalid()
        lookup = lookup_of(claims["jti"])
        readable = request.method in SAFE_METHODS and warm_cache.enabled() and confirms(request)
        entry, storable = (None, False)
        if readable:
            entry = warm_cache.local_get(lookup)
            # This worker's copy decides only a use that writes nothing (see ApiKeyAuthentication).
            if entry is not None and use_due(entry.key, timezone.now()):
                entry = None
            if entry is None:
                entry, storable = warm_cache.get(lookup)
            else:
                storable = True
            if entry is not None:
                request.unconfirmed_credential = Unconfirmed(
                    expect=warm_cache.confirmation(lookup),
                    discard=partial(warm_cache.drop_local, lookup),
                )
        if entry is not None:
            token, tenancy, read_at = entry.key, entry.tenancy, entry.read_at
        else:
            tenancy, read_at = None, warm_cache.timer()
            token = (
                AccessToken.objects.select_related("user", "application")
                .defer("user__password")
                .filter(jti=claims["jti"])
                .first()
            )
        user = token.user if token is not None else None
        if token is None or token.expires <= timezone.now() or user is None or not user.is_active:
            raise TokenInvalid()
        fresh = storable and entry is None
        if fresh:
            tenancy = tenancy_of(Principal(user=user, key=token))
        moved = record_use(token, timezone.now())
        if tenancy is not None and (moved or fresh):
            warm_cache.put(warm_cache.Entry(key=token, tenancy=tenancy, read_at=read_at))
        request.principal = Principal(user=user, key=token, tenancy=tenancy)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return challenge()
