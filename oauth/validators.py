"""django-oauth-toolkit's validator, carrying the consent's organization pin from the
authorization code to every access and refresh token made from it."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from audit.models import Action
from audit.services import audit_record
from oauth.models import AccessToken, Grant, RefreshToken
from oauth.tokens import audience_of

logger = logging.getLogger(__name__)

# How long a spent code is remembered: well past its 60-second life, so a replay of a code
# stolen from a log or a referrer still revokes what it gave.
SPENT_CODE_MEMORY = 3600


def spent_code_key(code: str) -> str:
    return "oauth:spent-code:" + hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def _cache_set(name: str, value: str, timeout: int) -> None:
    try:
        cache.set(name, value, timeout=timeout)
    except Exception:
        logger.warning("cache unavailable; a spent code is not remembered", exc_info=True)


def pin(request: Any) -> str | None:
    """The organization chosen for this grant (None: every one). Set by the consent form, then
    by the code or refresh token being exchanged; never guessed: a request that reaches here
    without it is refused."""
    try:
        return request.organization_id
    except AttributeError:
        raise errors.AccessDeniedError(request=request) from None


class LatchkeyValidator(OAuth2Validator):
    def _create_authorization_code(self, request: Any, code: dict, expires: Any = None) -> Grant:
        organization_id = pin(request)
        grant = super()._create_authorization_code(request, code, expires)
        grant.organization_id = organization_id
        grant.save(update_fields=["organization"])
        audit_record(
            action=Action.OAUTH_AUTHORIZED,
            actor=request.user,
            organization_id=organization_id,
            target=request.user,
            detail={
                "clientId": request.client.client_id,
                "application": request.client.name,
                "scopes": list(request.scopes),
                "organizationId": organization_id,
            },
        )
        return grant

    def save_bearer_token(self, token: dict, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Save the new tokens only if what they come from still stands once it is locked: a
        revocation, a deactivation or an account secured between the check and this save
        wins over the exchange."""
        with transaction.atomic():
            if request.grant_type == "refresh_token":
                source = (
                    RefreshToken.objects.select_for_update(of=("self",))
                    .select_related("user")
                    .filter(pk=request.refresh_token_instance.pk)
                    .first()
                )
                if source is None or source.revoked is not None or not source.user.is_active:
                    raise errors.InvalidGrantError(request=request)
            elif request.grant_type == "authorization_code":
                code = Grant.objects.select_for_update(of=("self",)).filter(code=request.code)
                if not code.filter(user__is_active=True).exists():
                    raise errors.InvalidGrantError(request=request)
            saved = super().save_bearer_token(token, request, *args, **kwargs)
            if request.grant_type == "authorization_code":
                self._remember_spent_code(request)
            return saved

    @staticmethod
    def _remember_spent_code(request: Any) -> None:
        """Note which token family a code was exchanged for, so that the code presented
        again revokes it (RFC 6749 §4.1.2): whoever replays a code may have stolen it."""
        family = (
            RefreshToken.objects.filter(access_token__jti=request.jti)
            .values_list("token_family", flat=True)
            .first()
        )
        if family is not None:
            name, value = spent_code_key(request.code), str(family)
            transaction.on_commit(lambda: _cache_set(name, value, SPENT_CODE_MEMORY))

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        valid = super().validate_code(client_id, code, client, request, *args, **kwargs)
        if not valid:
            self._revoke_for_replayed_code(code, client)
        if valid and not request.user.is_active:
            return False  # deactivated since consenting
        if valid:
            request.organization_id = (
                Grant.objects.filter(code=code, application=client)
                .values_list("organization_id", flat=True)
                .first()
            )
            self._settle_audience(request)
        return valid

    def _settle_audience(self, request: Any) -> None:
        """Settle `request.resource` (RFC 8707) before the token is signed: the resources the
        request names, which must be among those its code or refresh token was granted for
        (the API, when the grant named none: the consent page said so); all of those when it
        names none. Anything else is invalid_target."""
        self._check_and_set_request_resource(request)
        if request.grant_type == "authorization_code":
            granted = (
                Grant.objects.filter(code=request.code, application=request.client)
                .values_list("resource", flat=True)
                .first()
            )
        else:
            granted = request.refresh_token_instance.resource
        granted = list(granted or [settings.OAUTH_API_RESOURCE])
        requested = list(request.resource or [])
        if any(resource not in granted for resource in requested) or any(
            resource not in settings.OAUTH_RESOURCES for resource in requested or granted
        ):
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description="The resource is not one this grant was given for.",
                request=request,
            )
        request.resource = requested or granted
        request.granted_resources = granted  # a new refresh token keeps them all

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid:
            self._record_reuse(refresh_token, client)
        if valid and not request.refresh_token_instance.user.is_active:
            return False  # a deactivated account's applications get nothing new
        if valid:
            request.organization_id = request.refresh_token_instance.organization_id
            # Read before the rotation deletes it: the new access token carries it on.
            previous = request.refresh_token_instance.access_token
            request.previous_last_used = previous.last_used_at if previous else None
            self._settle_audience(request)
        return valid

    @staticmethod
    def _revoke_for_replayed_code(code: str, client: Any) -> None:
        """A code already exchanged, presented again: every token made from it is revoked
        (the whole refresh family), and the event audited."""
        try:
            family = cache.get(spent_code_key(code))
        except Exception:
            logger.warning("cache unavailable; a replayed code revokes nothing", exc_info=True)
            return
        if family is None:
            return
        source = (
            RefreshToken.objects.filter(token_family=family, application=client)
            .select_related("user")
            .first()
        )
        if source is None:
            return
        RefreshToken.revoke_family(source.token_family)
        audit_record(
            action=Action.OAUTH_CODE_REUSED,
            actor=source.user,
            organization_id=source.organization_id,
            target=source.user,
            detail={"clientId": client.client_id, "tokenFamily": str(source.token_family)},
        )

    @staticmethod
    def _record_reuse(refresh_token: str, client: Any) -> None:
        """A refresh token that was once good, presented after it was spent or revoked: the
        family is revoked (reuse detection); the event says whose and which client's."""
        checksum = hashlib.sha256(refresh_token.encode("utf-8", "surrogatepass")).hexdigest()
        spent = (
            RefreshToken.objects.filter(
                token_checksum=checksum, application=client, revoked__isnull=False
            )
            .select_related("user")
            .first()
        )
        if spent is not None:
            audit_record(
                action=Action.OAUTH_REFRESH_REUSED,
                actor=spent.user,
                organization_id=spent.organization_id,
                target=spent.user,
                detail={"clientId": client.client_id, "tokenFamily": str(spent.token_family)},
            )

    def _create_access_token(
        self, expires: Any, request: Any, token: dict, source_refresh_token: Any = None
    ) -> AccessToken:
        organization_id = pin(request)
        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        access_token.organization_id = organization_id
        access_token.jti = request.jti  # set when the token was signed (oauth/tokens.py)
        access_token.resource = audience_of(request)
        access_token.last_used_at = getattr(request, "previous_last_used", None)
        # An update, not a save: a new token has no cache entry for a save's signal to withdraw.
        AccessToken.objects.filter(pk=access_token.pk).update(
            organization_id=organization_id,
            jti=access_token.jti,
            resource=access_token.resource,
            last_used_at=access_token.last_used_at,
        )
        return access_token

    def _create_refresh_token(
        self, request: Any, refresh_token_code: str, access_token: Any, previous_refresh_token: Any
    ) -> RefreshToken:
        organization_id = pin(request)
        refresh_token = super()._create_refresh_token(
            request, refresh_token_code, access_token, previous_refresh_token
        )
        refresh_token.organization_id = organization_id
        refresh_token.resource = getattr(request, "granted_resources", refresh_token.resource)
        refresh_token.save(update_fields=["organization", "resource"])
        return refresh_token
