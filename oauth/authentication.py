"""OAuth access tokens on the JSON API: `Authorization: Bearer lka_…`. Any other Bearer value
is ApiKeyAuthentication's."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from access.credentials import challenge, presented_token
from access.principal import Principal
from api.errors import TokenInvalid
from oauth.models import AccessToken


class OAuthTokenAuthentication(BaseAuthentication):
    """On success `request.user` is the person who authorized the application, `request.auth`
    the AccessToken, and `request.principal` the caller: the token's scopes and pin, governed
    by the person's role of the moment, exactly as a key is."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        raw = presented_token(request.META)
        if raw is None:
            return None
        checksum = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
        token = (
            AccessToken.objects.select_related("user", "application")
            .filter(token_checksum=checksum)
            .first()
        )
        user = token.user if token is not None else None
        if token is None or token.expires <= timezone.now() or user is None or not user.is_active:
            raise TokenInvalid()
        view = (getattr(request, "parser_context", None) or {}).get("view")
        audience = getattr(view, "oauth_resource", settings.OAUTH_API_RESOURCE)
        if audience not in (token.resource or [settings.OAUTH_API_RESOURCE]):
            raise TokenInvalid()
        request.principal = Principal(user=user, key=token)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return challenge()
