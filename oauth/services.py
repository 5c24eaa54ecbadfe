"""A person's OAuth authorizations: what they have granted, and what ends it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from rest_framework.exceptions import NotFound

from audit.models import Action
from audit.services import audit_record
from oauth.models import AccessToken, Application, Consent, Grant, RefreshToken
from tenants.models import Membership


@dataclass(frozen=True)
class Authorization:
    """One application's live access to a person's account: the scopes and pins of its
    refresh tokens, and when it last got a new token."""

    application: Application
    scopes: list[str]
    organizations: list[Any]  # the pinned Organization rows; None in it: every organization
    last_refreshed: datetime
    last_used: datetime | None  # its tokens' latest use on the API or /mcp, to the minute


def authorizations_of(user: Any) -> list[Authorization]:
    """The applications holding a live refresh token of `user`, the latest refreshed first."""
    live = (
        RefreshToken.objects.filter(user=user, revoked__isnull=True, application__isnull=False)
        .select_related("application", "organization", "access_token")
        .order_by("-created")
    )
    grouped: dict[int, dict[str, Any]] = {}
    for token in live:
        entry = grouped.setdefault(
            token.application_id,
            {"application": token.application, "scopes": set(), "pins": [], "at": token.created},
        )
        if token.access_token is not None:
            entry["scopes"].update(token.access_token.scope.split())
            entry["used"] = latest(entry.get("used"), token.access_token.last_used_at)
        if token.organization not in entry["pins"]:
            entry["pins"].append(token.organization)
    # An application remembered as approved counts too, tokens or not: it would be let in again.
    for consent in Consent.objects.filter(user=user).select_related("application", "organization"):
        entry = grouped.setdefault(
            consent.application_id,
            {
                "application": consent.application,
                "scopes": set(),
                "pins": [],
                "at": consent.updated_at,
            },
        )
        entry["scopes"].update(consent.scope.split())
        if consent.organization not in entry["pins"]:
            entry["pins"].append(consent.organization)
    return [
        Authorization(
            application=entry["application"],
            scopes=sorted(entry["scopes"]),
            organizations=entry["pins"],
            last_refreshed=entry["at"],
            last_used=entry.get("used"),
        )
        for entry in grouped.values()
    ]


def latest(*moments: datetime | None) -> datetime | None:
    return max((moment for moment in moments if moment is not None), default=None)


@transaction.atomic
def authorization_revoke(*, user: Any, application_id: int, request: Any) -> Application:
    """End every code, access and refresh token `user` granted the application; NotFound if
    it holds none."""
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        raise NotFound("Application not found.")
    refresh = list(
        RefreshToken.objects.select_for_update().filter(
            user=user, application=application, revoked__isnull=True
        )
    )
    access = AccessToken.objects.filter(user=user, application=application)
    remembered = Consent.objects.filter(user=user, application=application)
    if not refresh and not access.exists() and not remembered.exists():
        raise NotFound("Application not found.")
    RefreshToken.objects.filter(pk__in=[token.pk for token in refresh]).update(
        revoked=timezone.now()
    )
    access.delete()
    Grant.objects.filter(user=user, application=application).delete()
    Consent.objects.filter(user=user, application=application).delete()  # it asks again
    audit_record(
        action=Action.OAUTH_REVOKED,
        request=request,
        actor=user,
        target=user,
        detail={"clientId": application.client_id, "application": application.name},
    )
    return application


def authorizations_end(user: Any) -> int:
    """Revoke every authorization code, access and refresh token of `user` (their account was
    deactivated, or taken back by the owner of its address). Returns how many access tokens
    ended."""
    Grant.objects.filter(user=user).delete()
    Consent.objects.filter(user=user).delete()
    RefreshToken.objects.filter(user=user, revoked__isnull=True).update(revoked=timezone.now())
    ended, _by_model = AccessToken.objects.filter(user=user).delete()
    return ended


@transaction.atomic
def application_register(
    *, user: Any, name: str, redirect_uris: list[str], confidential: bool, request: Any
) -> tuple[Application, str | None]:
    """Register an authorization-code client owned by `user`. Returns it with its secret, for
    a confidential client: shown this once, stored only as a hash."""
    secret = generate_client_secret() if confidential else None
    application = Application.objects.create(
        name=name,
        user=user,
        client_type=(
            Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC
        ),
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(redirect_uris),
        # A public client has no secret at all (not the hash of an empty one).
        client_secret=secret or "",
        hash_client_secret=confidential,
    )
    audit_record(
        action=Action.OAUTH_APPLICATION_REGISTERED,
        request=request,
        actor=user,
        target=user,
        detail={
            "clientId": application.client_id,
            "application": name,
            "clientType": application.client_type,
            "redirectUris": redirect_uris,
        },
    )
    return application, secret


@transaction.atomic
def application_delete(*, user: Any, application_id: int, request: Any) -> Application:
    """Delete one of `user`'s applications, and with it every grant and token it holds."""
    application = Application.objects.filter(pk=application_id, user=user).first()
    if application is None:
        raise NotFound("Application not found.")
    audit_record(
        action=Action.OAUTH_APPLICATION_DELETED,
        request=request,
        actor=user,
        target=user,
        detail={"clientId": application.client_id, "application": application.name},
    )
    application.delete()
    return application


@dataclass(frozen=True)
class OrganizationAuthorization:
    """An application holding live tokens that can act in one organization: those pinned to
    it (which its owners and admins may revoke), or unpinned ones of its members."""

    application: Application
    people: list[Any]
    scopes: list[str]
    pinned: bool
    last_refreshed: datetime
    last_used: datetime | None


def organization_authorizations(organization_id: str) -> list[OrganizationAuthorization]:
    """The applications that can act in the organization, pinned ones first."""
    members = Membership.objects.filter(organization_id=organization_id).values("user_id")
    live = (
        RefreshToken.objects.filter(revoked__isnull=True, application__isnull=False)
        .filter(
            models.Q(organization_id=organization_id)
            | models.Q(organization__isnull=True, user_id__in=members)
        )
        .select_related("application", "user", "access_token")
        .order_by("-created")
    )
    grouped: dict[tuple[int, bool], dict[str, Any]] = {}
    for token in live:
        pinned = token.organization_id is not None
        entry = grouped.setdefault(
            (token.application_id, pinned),
            {"application": token.application, "people": [], "scopes": set(), "at": token.created},
        )
        if token.user not in entry["people"]:
            entry["people"].append(token.user)
        if token.access_token is not None:
            entry["scopes"].update(token.access_token.scope.split())
            entry["used"] = latest(entry.get("used"), token.access_token.last_used_at)
    rows = [
        OrganizationAuthorization(
            application=entry["application"],
            people=entry["people"],
            scopes=sorted(entry["scopes"]),
            pinned=pinned,
            last_refreshed=entry["at"],
            last_used=entry.get("used"),
        )
        for (_application_id, pinned), entry in grouped.items()
    ]
    return sorted(rows, key=lambda row: not row.pinned)


@transaction.atomic
def organization_authorization_revoke(
    *, organization_id: str, application_id: int, request: Any
) -> Application:
    """End every code, access and refresh token of the application pinned to the
    organization, whoever granted it; NotFound if it holds none."""
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        raise NotFound("Application not found.")
    pinned = {"application": application, "organization_id": organization_id}
    refresh = list(RefreshToken.objects.select_for_update().filter(revoked__isnull=True, **pinned))
    access = AccessToken.objects.filter(**pinned)
    consents = Consent.objects.filter(**pinned)
    if not refresh and not access.exists() and not consents.exists():
        raise NotFound("Application not found.")
    RefreshToken.objects.filter(pk__in=[token.pk for token in refresh]).update(
        revoked=timezone.now()
    )
    consents.delete()  # the next request asks the person again
    access.delete()
    Grant.objects.filter(**pinned).delete()
    audit_record(
        action=Action.OAUTH_REVOKED,
        request=request,
        organization_id=organization_id,
        detail={
            "clientId": application.client_id,
            "application": application.name,
            "by": "organization",
        },
    )
    return application


def membership_ended(*, user_id: str, organization_id: str) -> None:
    """Someone left (or was removed from) an organization: what they authorized pinned to it
    ends, and their remembered consents pinned to it are forgotten, so being added back later
    brings none of it back."""
    pinned = {"user_id": user_id, "organization_id": organization_id}
    RefreshToken.objects.filter(revoked__isnull=True, **pinned).update(revoked=timezone.now())
    AccessToken.objects.filter(**pinned).delete()
    Grant.objects.filter(**pinned).delete()
    Consent.objects.filter(**pinned).delete()
