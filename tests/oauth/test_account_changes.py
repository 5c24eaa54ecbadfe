"""What ends a person's OAuth authorizations: their account deactivated, or taken back by the
owner of its address; and what a deactivated account's applications can no longer get."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services
from oauth.models import AccessToken, Application, RefreshToken

pytestmark = pytest.mark.django_db

REDIRECT = "https://client.example/callback"


@pytest.fixture
def authorized(user_factory):
    """A user with a live access token and refresh token of one application."""
    user = user_factory()
    application = Application.objects.create(
        name="Reporter",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        user=user,
    )
    access = AccessToken(
        user=user,
        application=application,
        scope="projects:read",
        expires=timezone.now() + timedelta(hours=1),
    )
    access.token = "access-raw-value"
    access.save()
    refresh = RefreshToken(user=user, application=application, access_token=access)
    refresh.token = "refresh-raw-value"
    refresh.save()
    return {"user": user, "application": application}


def refresh(application: Application) -> int:
    response = Client().post(
        "/oauth/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": "refresh-raw-value",
            "client_id": application.client_id,
        },
    )
    return response.status_code


def test_the_fixture_refreshes(authorized):
    assert refresh(authorized["application"]) == 200


def test_deactivating_the_account_ends_its_authorizations(authorized):
    user = authorized["user"]

    services.user_deactivate(user=user)

    assert not AccessToken.objects.filter(user=user).exists()
    assert not RefreshToken.objects.filter(user=user, revoked__isnull=True).exists()
    assert refresh(authorized["application"]) == 400


def test_a_deactivated_accounts_refresh_token_gets_nothing(authorized):
    user = authorized["user"]
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    assert refresh(authorized["application"]) == 400
    assert AccessToken.objects.filter(user=user).count() == 1  # no new one


def test_securing_the_account_ends_its_authorizations(authorized):
    from accounts.tokens import make_verification_token

    user = authorized["user"]
    type(user).objects.filter(pk=user.pk).update(is_verified=False, verified_at=None)
    user.refresh_from_db()

    services.email_secure(token=make_verification_token(user))

    assert not AccessToken.objects.filter(user=user).exists()
    assert refresh(authorized["application"]) == 400
