"""Fixtures for the dashboard's page tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import User


@pytest.fixture
def browser() -> Callable[..., Client]:
    """A browser-like client, signed in as `user` (by session) unless it is None."""

    def make(user: User | None = None, **options: object) -> Client:
        client = Client(**options)
        if user is not None:
            client.force_login(user)
        return client

    return make
