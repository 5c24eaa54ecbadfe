"""A reset link proves who owns the address: an unverified account's keys, made before anyone
had proven it, stop working, and the address counts as verified."""

from __future__ import annotations

import re

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase"


def _reset(api_client, email):
    api_client.post("/api/auth/request-password-reset", {"email": email}, format="json")
    token = re.search(r"/reset-password/(\S+)", mail.outbox[-1].body).group(1)
    response = api_client.post(
        "/api/auth/reset-password", {"token": token, "newPassword": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_resetting_an_unverified_account_revokes_its_keys_and_verifies_it(
    api_client, key_client, user_factory, api_key_factory
):
    squatter_made = user_factory(email="victim@example.com", verified=False)
    _key, raw = api_key_factory(user=squatter_made)
    assert key_client(raw).get("/api/user/me").status_code == 200

    _reset(api_client, "victim@example.com")

    response = key_client(raw).get("/api/user/me")
    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"
    squatter_made.refresh_from_db()
    assert squatter_made.is_verified


def test_resetting_a_verified_account_keeps_its_keys(
    api_client, key_client, user_factory, api_key_factory
):
    owner = user_factory(email="owner@example.com", verified=True)
    _key, raw = api_key_factory(user=owner)

    _reset(api_client, "owner@example.com")

    assert key_client(raw).get("/api/user/me").status_code == 200
