"""Fixtures of the OAuth tests: a client application, and a signed-in person with two
organizations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import User
from oauth.models import Application
from tenants.models import Organization

REDIRECT = "https://client.example/callback"
LOOPBACK = "http://127.0.0.1/callback"
SECRET = "a-known-client-secret-0123456789"


@pytest.fixture
def app_factory(user_factory: Callable[..., User]) -> Callable[..., Application]:
    """An authorization-code client; a confidential one has the secret SECRET."""

    def make(
        *,
        confidential: bool = False,
        grant: str = Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris: str = f"{REDIRECT} {LOOPBACK}",
    ) -> Application:
        return Application.objects.create(
            name="Acme Reports",
            client_type=(
                Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC
            ),
            authorization_grant_type=grant,
            redirect_uris=redirect_uris,
            user=user_factory(),
            client_secret=SECRET,
            hash_client_secret=True,
        )

    return make


@pytest.fixture
def app(app_factory: Callable[..., Application]) -> Application:
    return app_factory()


@pytest.fixture
def person(
    user_factory: Callable[..., User], org_factory: Callable[..., Organization], member_factory
) -> User:
    """Someone who owns "Alpha Ltd" and is a member of "Beta Ltd"."""
    user = user_factory(email="person@example.com")
    org_factory(owner=user, name="Alpha Ltd")
    member_factory(org_factory(name="Beta Ltd"), user=user)
    return user


@pytest.fixture
def browser(person: User) -> Client:
    client = Client()
    client.force_login(person)
    return client
