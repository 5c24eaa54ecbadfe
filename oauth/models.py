"""OAuth 2.1 clients, grants and tokens: django-oauth-toolkit's models, each knowing the one
organization a person's consent pinned it to (or none, when they allowed every one)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)


def pin_field() -> models.ForeignKey:
    """The organization a grant, token or consent is pinned to; None: every organization of
    its person."""
    return models.ForeignKey(
        "tenants.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )


class Application(AbstractApplication):
    """A client: a third-party app or an MCP client. Its secret is stored hashed."""

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"


class Grant(AbstractGrant):
    """An authorization code, carrying the organization chosen on the consent page."""

    organization = pin_field()

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class AccessToken(AbstractAccessToken):
    """An access token, pinned to `organization` as a key is (None: every organization of its
    user). The token is a signed JWT (oauth/tokens.py); only its checksum and its `jti` are
    stored. On the API it is the request's credential, read through
    access.principal.Principal as a key is."""

    credential_kind = "oauth"

    organization = pin_field()
    jti = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    # When the token was last used on the API or /mcp, to the minute (as a key's lastUsedAt);
    # a token made by a refresh starts from its predecessor's.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"

    @property
    def granted_scopes(self) -> list[str]:
        """The scopes the person granted, as the API checks them."""
        return self.scope.split()

    @property
    def lookup(self) -> str:
        """The token's name in the warm-key cache (apikeys/warm_cache.py), apart from any
        key's."""
        return lookup_of(self.jti or "")


def lookup_of(jti: str) -> str:
    return f"oauth.{jti}"


class RefreshToken(AbstractRefreshToken):
    """A refresh token (stored as a checksum only), keeping the pin of the grant it came from,
    so no access token made from it can reach further."""

    organization = pin_field()

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class IDToken(AbstractIDToken):
    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


class SigningKey(models.Model):
    """An RS256 key pair that signs access tokens (oauth/signing.py). The private key is kept
    as encrypted PKCS#8 (a password derived from SECRET_KEY); the public half is published at
    the JWKS URL from before the key signs until the last token it signed has expired."""

    kid = models.CharField(max_length=64, unique=True)
    private_key = models.TextField()
    public_jwk = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)
    # When it starts signing: a rotated-in key is published for a JWKS cache lifetime first.
    signs_from = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["signs_from", "id"]

    def __str__(self) -> str:
        return self.kid


class Consent(models.Model):
    """What a person last approved for an application: its scopes, the resources it may reach
    and the organization chosen. A later request for no more than these, and while the person
    is still in that organization, is approved without asking; asking for more asks again."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_consents"
    )
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="consents")
    scope = models.TextField()
    # The resources (RFC 8707) approved; empty for a consent given before they were recorded,
    # which covers the API alone.
    resource = models.JSONField(default=list, blank=True)
    organization = pin_field()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "application"], name="oauth_consent_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.application}: {self.scope}"

    def covers(self, scopes: list[str], resources: list[str]) -> bool:
        """Whether these scopes and resources were all approved."""
        approved = set(self.resource or [settings.OAUTH_API_RESOURCE])
        return set(scopes) <= set(self.scope.split()) and set(resources) <= approved
