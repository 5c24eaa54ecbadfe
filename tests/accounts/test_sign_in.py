"""POST /api/auth/sign-in/email and POST /api/auth/sign-out"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGN_IN = "/api/auth/sign-in/email"
SIGN_OUT = "/api/auth/sign-out"


def _without_timestamp(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "timestamp"}


def test_sign_in_sets_an_httponly_lax_session_cookie(api_client, user_factory):
    user = user_factory(email="jane@example.com")

    response = api_client.post(SIGN_IN, {"email": "jane@example.com", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["data"]["id"] == user.pk
    assert response.json()["data"]["lastLoginAt"] is not None
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert api_client.get("/api/user/me").status_code == 200


def test_sign_in_ignores_the_case_of_the_email(api_client, user_factory):
    user_factory(email="Jane@Example.com")

    response = api_client.post(SIGN_IN, {"email": "jane@EXAMPLE.com", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["data"]["email"] == "Jane@Example.com"


def test_wrong_password_and_unknown_email_get_the_same_401(api_client, user_factory):
    user_factory(email="jane@example.com")

    wrong = api_client.post(SIGN_IN, {"email": "jane@example.com", "password": "nope-nope-nope"})
    unknown = api_client.post(SIGN_IN, {"email": "who@example.com", "password": "nope-nope-nope"})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == "INVALID_CREDENTIALS"
    assert _without_timestamp(wrong.json()) == _without_timestamp(unknown.json())


def test_unknown_email_still_runs_the_password_hasher(api_client, monkeypatch):
    # The hasher's cost is what makes an unknown email as slow as a wrong password.
    from django.contrib.auth.hashers import MD5PasswordHasher

    calls = []
    original = MD5PasswordHasher.encode
    monkeypatch.setattr(
        MD5PasswordHasher, "encode", lambda self, *a: calls.append(1) or original(self, *a)
    )

    response = api_client.post(SIGN_IN, {"email": "who@example.com", "password": "whatever12"})

    assert response.status_code == 401
    assert calls, "no password was hashed for an unknown email"


def test_inactive_user_cannot_sign_in(api_client, user_factory):
    user_factory(email="gone@example.com", is_active=False)

    response = api_client.post(SIGN_IN, {"email": "gone@example.com", "password": PASSWORD})

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


def test_unverified_sign_in_is_allowed_by_default(api_client, user_factory):
    user_factory(email="new@example.com", verified=False)

    response = api_client.post(SIGN_IN, {"email": "new@example.com", "password": PASSWORD})

    assert response.status_code == 200


def test_unverified_sign_in_is_refused_when_verification_is_required(
    api_client, user_factory, settings
):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "REQUIRE_EMAIL_VERIFICATION": True}
    user_factory(email="new@example.com", verified=False)
    user_factory(email="done@example.com", verified=True)

    refused = api_client.post(SIGN_IN, {"email": "new@example.com", "password": PASSWORD})
    allowed = api_client.post(SIGN_IN, {"email": "done@example.com", "password": PASSWORD})

    assert refused.status_code == 403
    assert refused.json()["code"] == "EMAIL_NOT_VERIFIED"
    assert allowed.status_code == 200


def test_every_sign_in_rotates_the_session_key(api_client, user_factory):
    user_factory(email="jane@example.com")
    credentials = {"email": "jane@example.com", "password": PASSWORD}

    api_client.post(SIGN_IN, credentials)
    first = api_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    api_client.post(SIGN_IN, credentials)
    second = api_client.cookies[django_settings.SESSION_COOKIE_NAME].value

    assert first != second
    assert not Session.objects.filter(session_key=first).exists()
    assert api_client.get("/api/user/me").status_code == 200


def test_sign_out_ends_the_session_and_the_old_cookie_stops_working(
    api_client, user_factory, client_for
):
    user_factory(email="jane@example.com")
    api_client.post(SIGN_IN, {"email": "jane@example.com", "password": PASSWORD})
    old_cookie = api_client.cookies[django_settings.SESSION_COOKIE_NAME].value

    response = api_client.post(SIGN_OUT)

    assert response.status_code == 200
    assert response.json()["message"] == "Signed out"
    replay = client_for(None)
    replay.cookies[django_settings.SESSION_COOKIE_NAME] = old_cookie
    after = replay.get("/api/user/me")
    assert after.status_code == 401
    assert after.json()["code"] == "UNAUTHORIZED"


def test_sign_out_without_a_session_is_401(api_client):
    response = api_client.post(SIGN_OUT)

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


@pytest.mark.parametrize(
    "payload",
    [{}, {"email": "a@example.com"}, {"password": PASSWORD}, {"email": 1, "password": []}],
)
def test_malformed_sign_in_is_400(api_client, payload):
    response = api_client.post(SIGN_IN, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
