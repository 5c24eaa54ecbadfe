"""Fixtures for the dashboard's page tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from tests.dashboard.helpers import EMAIL


@pytest.fixture
def browser() -> Callable[..., Client]:
    """A browser-like client, signed in as `user` (by session) unless it is None."""

    def make(user: User | None = None, **options: object) -> Client:
        client = Client(**options)
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def jane(user_factory: Any) -> User:
    """The account the account pages' tests sign up, in and out: EMAIL, the root PASSWORD."""
    return user_factory(email=EMAIL, full_name="Jane Doe")


@pytest.fixture
def jane_client(client: Client, jane: User) -> Client:
    """pytest-django's `client`, signed in as jane."""
    client.force_login(jane)
    return client
