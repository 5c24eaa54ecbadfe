"""A request that authenticated just before the account was secured, reset or deactivated (or
its key revoked) finds, once it holds the account's lock, that its credential no longer works:
it changes no password and creates no key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.test import Client

from accounts import services
from accounts.models import User
from accounts.tokens import make_verification_token
from apikeys.models import ApiKey
from apikeys.serializers import ApiKeyCreateSerializer
from apikeys.services import api_key_revoke
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "victim@example.com"
NEW_PASSWORD = "an-impostors-new-passphrase"
UNAUTHORIZED = {"success": False, "status": 401, "code": "UNAUTHORIZED"}


def _impostor() -> tuple[Client, User]:
    """Someone who signed up with the victim's address and signed in."""
    client = Client()
    body = {"email": EMAIL, "password": PASSWORD, "name": ""}
    assert client.post("/api/auth/sign-up/email", body, "application/json").status_code == 200
    body = {"email": EMAIL, "password": PASSWORD}
    assert client.post("/api/auth/sign-in/email", body, "application/json").status_code == 200
    return client, User.objects.get(email=EMAIL)


def _in_flight(request: Callable[[], Any], paused: threading.Event, go: threading.Event) -> Any:
    """Start `request` in a thread; return once it is paused, with a way to finish it."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["response"] = request()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="in-flight")
    thread.start()
    assert paused.wait(10)

    def finish() -> Any:
        go.set()
        thread.join(10)
        return out["response"]

    return finish


def _pause_in(monkeypatch: Any, owner: Any, name: str) -> tuple[threading.Event, threading.Event]:
    """Make `owner.name` stop once it has run, in the in-flight thread only, until told to go
    on: the request has authenticated and is about to act."""
    paused, go = threading.Event(), threading.Event()
    original = getattr(owner, name)

    def then_wait(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if threading.current_thread().name == "in-flight":
            paused.set()
            go.wait(10)
        return result

    monkeypatch.setattr(owner, name, then_wait)
    return paused, go


def _secure(user: User) -> None:
    services.email_secure(token=make_verification_token(user))


def _deactivate(user: User) -> None:
    services.user_deactivate(user=user)


@pytest.mark.parametrize("change", [_secure, _deactivate], ids=["secured", "deactivated"])
def test_a_password_change_in_flight_does_not_undo_the_change(monkeypatch, change):
    impostor, user = _impostor()
    paused, go = _pause_in(monkeypatch, AbstractBaseUser, "check_password")
    finish = _in_flight(
        lambda: impostor.post(
            "/api/auth/change-password",
            {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
            "application/json",
        ),
        paused,
        go,
    )

    change(user)
    response = finish()

    assert response.status_code == 401
    assert {k: response.json()[k] for k in UNAUTHORIZED} == UNAUTHORIZED
    user.refresh_from_db()
    assert not user.check_password(NEW_PASSWORD)
    assert impostor.get("/api/user/me").status_code == 401


@pytest.mark.parametrize("change", [_secure, _deactivate], ids=["secured", "deactivated"])
def test_a_key_creation_in_flight_creates_nothing(monkeypatch, change):
    impostor, user = _impostor()
    paused, go = _pause_in(monkeypatch, ApiKeyCreateSerializer, "is_valid")
    finish = _in_flight(
        lambda: impostor.post(
            "/api/auth/api-key/create",
            {"name": "backdoor", "scopes": ["user:read"]},
            "application/json",
        ),
        paused,
        go,
    )

    change(user)
    response = finish()

    assert response.status_code == 401
    assert {k: response.json()[k] for k in UNAUTHORIZED} == UNAUTHORIZED
    assert "key" not in response.content.decode()
    assert not ApiKey.objects.filter(name="backdoor").exists()


def test_a_key_creation_by_a_key_revoked_in_flight_creates_nothing(monkeypatch, api_key_factory):
    _client, user = _impostor()
    parent, raw = api_key_factory(user=user, scopes=["api-keys:write", "user:read"])
    paused, go = _pause_in(monkeypatch, ApiKeyCreateSerializer, "is_valid")
    finish = _in_flight(
        lambda: Client().post(
            "/api/auth/api-key/create",
            {"name": "child", "scopes": ["user:read"]},
            "application/json",
            HTTP_X_API_KEY=raw,
        ),
        paused,
        go,
    )

    api_key_revoke(key=parent, revoked_by=user)
    response = finish()

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert not ApiKey.objects.filter(name="child").exists()
