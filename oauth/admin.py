"""OAuth in the admin: applications to register, and what was granted, to see. Grants, tokens
and signing keys are read-only (nothing here can mint or widen one); an operator ends an
application's access by deleting the application, and one token's by deleting it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from oauth.models import AccessToken, Application, Grant, IDToken, RefreshToken, SigningKey

for model in (Application, AccessToken, RefreshToken, Grant, IDToken):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "client_id", "client_type", "user", "created"]
    list_select_related = ["user"]
    search_fields = ["name", "client_id"]
    raw_id_fields = ["user"]
    fields = [
        "name",
        "client_id",
        "client_type",
        "authorization_grant_type",
        "redirect_uris",
        "client_secret",
        "user",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A secret is shown once, on the form that creates it; after that only its hash exists,
        # and that is shown to no one.
        return ["client_id"] if obj is None else ["client_id", "client_secret_status"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.fields)
        if obj is not None:
            fields[fields.index("client_secret")] = "client_secret_status"
        return fields

    @admin.display(description="client secret")
    def client_secret_status(self, obj: Application) -> str:
        return "set (stored hashed)" if obj.client_secret else "none (public client)"


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnly):
    list_display = ["user", "application", "organization", "scope", "expires", "created"]
    list_select_related = ["user", "application", "organization"]
    fields = [
        "user",
        "application",
        "organization",
        "scope",
        "resource",
        "jti",
        "expires",
        "created",
    ]


@admin.register(RefreshToken)
class RefreshTokenAdmin(ReadOnly):
    list_display = ["user", "application", "organization", "revoked", "created"]
    list_select_related = ["user", "application", "organization"]
    fields = ["user", "application", "organization", "token_family", "revoked", "created"]


@admin.register(Grant)
class GrantAdmin(ReadOnly):
    list_display = ["user", "application", "organization", "scope", "expires"]
    list_select_related = ["user", "application", "organization"]
    fields = ["user", "application", "organization", "scope", "expires", "redirect_uri"]


@admin.register(IDToken)
class IDTokenAdmin(ReadOnly):
    list_display = ["user", "application", "expires"]


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnly):
    """The keys that sign access tokens, by kid and when each signs; never the private key.
    `manage.py rotate_oauth_signing_key` adds one. Deleting a key refuses every token it
    signed (within a minute on every server): the answer to a key that leaked."""

    list_display = ["kid", "signs_from", "created"]
    fields = ["kid", "signs_from", "created", "public_jwk"]
