"""POST /api/auth/change-password"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session

from accounts.models import User
from audit.models import Action, AuditEvent
from ratelimits.counters import Rate
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

CHANGE = "/api/auth/change-password"
SIGN_IN = "/api/auth/sign-in/email"
ME = "/api/user/me"
NEW_PASSWORD = "a-brand-new-passphrase"


def _signed_in(api_client, user_factory, email: str = "jane@example.com"):
    """A client signed in through the API, as a browser would be."""
    user = user_factory(email=email)
    api_client.post(SIGN_IN, {"email": email, "password": PASSWORD})
    return user, api_client


def _password_is(user: User, password: str) -> bool:
    user.refresh_from_db()
    return user.check_password(password)


def test_a_change_keeps_this_session_under_a_new_key_and_ends_the_others(
    api_client, user_factory, client_for
):
    user, client = _signed_in(api_client, user_factory)
    other = client_for(user)
    old_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert other.get(ME).status_code == 200

    response = client.post(CHANGE, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})

    assert response.status_code == 200
    assert response.json()["message"] == "Password changed. Your other sessions are signed out."
    assert response.json()["data"] is None
    new_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert client.get(ME).status_code == 200
    ended = other.get(ME)
    assert ended.status_code == 401
    assert ended.json()["code"] == "UNAUTHORIZED"
    assert _password_is(user, NEW_PASSWORD)


def test_the_new_password_signs_in_and_the_old_one_does_not(api_client, user_factory):
    _user, client = _signed_in(api_client, user_factory)
    client.post(CHANGE, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    client.post("/api/auth/sign-out")

    old = client.post(SIGN_IN, {"email": "jane@example.com", "password": PASSWORD})
    new = client.post(SIGN_IN, {"email": "jane@example.com", "password": NEW_PASSWORD})

    assert old.status_code == 401
    assert new.status_code == 200


def test_a_wrong_current_password_is_refused(client_for, user_factory):
    user = user_factory()
    client = client_for(user)

    response = client.post(
        CHANGE, {"currentPassword": "not-my-password", "newPassword": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PASSWORD"
    assert response.json()["message"] == "The current password is incorrect."
    assert _password_is(user, PASSWORD)
    assert client.get(ME).status_code == 200


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("short", "This password is too short. It must contain at least 10 characters."),
        ("12345678901234", "This password is entirely numeric."),
        ("password1234", "This password is too common."),
        ("jane.example.com", "The password is too similar to the email address."),
        (PASSWORD, "The new password must be different from the current one."),
    ],
)
def test_the_new_password_must_follow_the_rules(client_for, user_factory, new_password, message):
    user = user_factory(email="jane@example.com")

    response = client_for(user).post(
        CHANGE, {"currentPassword": PASSWORD, "newPassword": new_password}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert message in response.json()["details"]["newPassword"]
    assert _password_is(user, PASSWORD)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"currentPassword": PASSWORD},
        {"newPassword": NEW_PASSWORD},
        {"currentPassword": None, "newPassword": NEW_PASSWORD},
        {"currentPassword": PASSWORD, "newPassword": ["x"]},
        {"currentPassword": PASSWORD, "newPassword": "x" * 1025},
    ],
)
def test_a_malformed_body_is_400(client_for, user_factory, payload):
    response = client_for(user_factory()).post(CHANGE, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_without_credentials_it_is_401(api_client):
    response = api_client.post(CHANGE, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("scopes", [["user:read"], ["*"]])
def test_an_api_key_cannot_change_the_password(key_client, api_key_factory, scopes):
    key, raw = api_key_factory(scopes=scopes)

    response = key_client(raw).post(
        CHANGE, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "SESSION_REQUIRED"
    assert _password_is(key.user, PASSWORD)


def test_wrong_passwords_count_as_failed_sign_ins(api_client, client_for, user_factory):
    # SIGNIN_FAILURES_ACCOUNT_IP is 5/5min: a stolen session gets five guesses from its
    # network, as sign-in does, and the lock then holds for sign-in from there too.
    user = user_factory(email="jane@example.com")
    client = client_for(user)
    wrong = {"currentPassword": "not-my-password", "newPassword": NEW_PASSWORD}

    statuses = [client.post(CHANGE, wrong).status_code for _ in range(5)]
    refused = client.post(CHANGE, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    sign_in = api_client.post(SIGN_IN, {"email": "jane@example.com", "password": PASSWORD})

    assert statuses == [400] * 5
    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert int(refused["Retry-After"]) > 0
    assert sign_in.status_code == 429
    assert _password_is(user, PASSWORD)


def test_failed_sign_ins_count_against_a_change(api_client, client_for, user_factory, settings):
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "SIGNIN_FAILURES_ACCOUNT_IP": Rate.parse("2/5min"),
    }
    user = user_factory(email="jane@example.com")
    for _ in range(2):
        api_client.post(SIGN_IN, {"email": "jane@example.com", "password": "not-my-password"})

    response = client_for(user).post(
        CHANGE, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )

    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert _password_is(user, PASSWORD)


def test_a_change_is_audited(client_for, user_factory):
    user = user_factory()
    client = client_for(user)
    client.post(CHANGE, {"currentPassword": "not-my-password", "newPassword": NEW_PASSWORD})

    client.post(CHANGE, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})

    event = AuditEvent.objects.get()
    assert event.action == Action.PASSWORD_CHANGED
    assert event.actor == user
    assert (event.target_type, event.target_id) == ("user", user.pk)
    assert event.detail == {}
