"""Proof of an address ends what an impostor left behind: securing an account from the
verification link, the keys a password reset revokes, and what a key without `user:read`
sees of its owner."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.sessions import live_sessions
from accounts.tokens import make_verification_token
from apikeys.models import ApiKey
from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

VICTIM = "victim@example.com"
IMPOSTOR_PASSWORD = "impostor-chosen-passphrase"
OWNER_PASSWORD = "the-real-owners-passphrase"


def _impostor_signs_up_and_mints_a_key(client: APIClient) -> str:
    """The Quick Start, as someone who does not own the address: sign up, then create a
    never-expiring `*` key before any verification."""
    signed_up = client.post(
        "/api/auth/sign-up/email",
        {"email": VICTIM, "password": IMPOSTOR_PASSWORD, "name": "Not You"},
    )
    assert signed_up.status_code == 200
    signed_in = client.post(
        "/api/auth/sign-in/email", {"email": VICTIM, "password": IMPOSTOR_PASSWORD}
    )
    assert signed_in.status_code == 200
    created = client.post("/api/auth/api-key/create", {"name": "persistence", "scopes": ["*"]})
    assert created.status_code == 200, created.json()
    return created.json()["data"]["key"]


def _emailed_token() -> str:
    link = re.findall(r"https?://\S+", mail.outbox[-1].body)[-1]
    return urlsplit(link).path.rsplit("/", 1)[1]


def test_securing_from_the_link_ends_everything_the_impostor_left(api_client):
    impostor = APIClient()
    raw = _impostor_signs_up_and_mints_a_key(impostor)
    assert impostor.get("/api/user/me").status_code == 200
    token = _emailed_token()

    secured = api_client.post("/api/auth/verify-email", {"token": token, "secure": True})

    assert secured.status_code == 200
    body = secured.json()
    assert body["data"]["user"]["email"] == VICTIM
    assert body["data"]["user"]["isVerified"] is True
    reset_token = body["data"]["passwordResetToken"]
    # The key, the session and the password the impostor chose all stop working.
    by_key = APIClient(HTTP_X_API_KEY=raw).get("/api/user/me")
    assert (by_key.status_code, by_key.json()["code"]) == (401, "KEY_REVOKED")
    assert impostor.get("/api/user/me").status_code == 401
    assert live_sessions(User.objects.get().pk).count() == 0
    sign_in = {"email": VICTIM, "password": IMPOSTOR_PASSWORD}
    assert api_client.post("/api/auth/sign-in/email", sign_in).status_code == 401
    # The owner chooses a password with the token that came back, and signs in.
    reset = api_client.post(
        "/api/auth/reset-password", {"token": reset_token, "newPassword": OWNER_PASSWORD}
    )
    assert reset.status_code == 200
    owner = api_client.post(
        "/api/auth/sign-in/email", {"email": VICTIM, "password": OWNER_PASSWORD}
    )
    assert owner.status_code == 200
    event = AuditEvent.objects.get(action=Action.ACCOUNT_SECURED)
    assert event.detail == {"sessionsEnded": 1, "keysRevoked": 1}
    revoked = AuditEvent.objects.get(action=Action.KEY_REVOKED)
    assert revoked.detail == {"by": "email_secured", "reason": "unproven_address"}


def test_a_verification_token_is_spent_by_either_choice(api_client, user_factory):
    token = make_verification_token(user_factory(verified=False))
    assert api_client.post("/api/auth/verify-email", {"token": token}).status_code == 200

    again = api_client.post("/api/auth/verify-email", {"token": token, "secure": True})

    assert again.status_code == 400
    assert again.json()["code"] == "INVALID_TOKEN"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"token": "nonsense", "secure": True}, "INVALID_TOKEN"),
        ({"secure": True}, "VALIDATION_ERROR"),
        ({"token": "x", "secure": "sometimes"}, "VALIDATION_ERROR"),
        ({"token": ["x"], "secure": True}, "VALIDATION_ERROR"),
    ],
)
def test_bad_secure_requests_change_nothing(api_client, user_factory, api_key_factory, body, code):
    user = user_factory(verified=False)
    _key, raw = api_key_factory(user=user)

    response = api_client.post("/api/auth/verify-email", body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert APIClient(HTTP_X_API_KEY=raw).get("/api/user/me").status_code == 200


def test_an_owner_who_verified_and_then_resets_loses_the_impostors_key(api_client):
    raw = _impostor_signs_up_and_mints_a_key(APIClient())
    verified = api_client.post("/api/auth/verify-email", {"token": _emailed_token()})
    assert verified.status_code == 200
    assert (
        api_client.post("/api/auth/request-password-reset", {"email": VICTIM}).status_code == 200
    )
    reset_token = _emailed_token()

    reset = api_client.post(
        "/api/auth/reset-password", {"token": reset_token, "newPassword": OWNER_PASSWORD}
    )

    assert reset.status_code == 200
    by_key = APIClient(HTTP_X_API_KEY=raw).get("/api/user/me")
    assert (by_key.status_code, by_key.json()["code"]) == (401, "KEY_REVOKED")
    event = AuditEvent.objects.get(action=Action.KEY_REVOKED)
    assert event.detail == {"by": "password_reset", "reason": "unproven_address"}


# Which keys a reset revokes: (verified how long after the key was made, revokeKeys) → kept?
# None: never verified.
@pytest.mark.parametrize(
    ("verified_after_key", "revoke_keys", "kept", "reason"),
    [
        (None, False, False, "unproven_address"),
        (timedelta(minutes=5), False, False, "unproven_address"),
        (timedelta(minutes=-5), False, True, None),
        (timedelta(minutes=-5), True, False, "requested"),
        (None, True, False, "requested"),
    ],
    ids=["never-verified", "made-before-proof", "made-after-proof", "all-asked", "never-all"],
)
def test_a_reset_revokes_keys_made_while_the_address_was_unproven(
    api_client, user_factory, api_key_factory, verified_after_key, revoke_keys, kept, reason
):
    user = user_factory(email="owner@example.com", verified=False)
    key, raw = api_key_factory(user=user)
    if verified_after_key is not None:
        User.objects.filter(pk=user.pk).update(
            is_verified=True, verified_at=key.created_at + verified_after_key
        )
    assert (
        api_client.post(
            "/api/auth/request-password-reset", {"email": "owner@example.com"}
        ).status_code
        == 200
    )

    reset = api_client.post(
        "/api/auth/reset-password",
        {"token": _emailed_token(), "newPassword": OWNER_PASSWORD, "revokeKeys": revoke_keys},
    )

    assert reset.status_code == 200
    response = APIClient(HTTP_X_API_KEY=raw).get("/api/user/me")
    assert response.status_code == (200 if kept else 401)
    assert ApiKey.objects.get(pk=key.pk).is_revoked is not kept
    events = AuditEvent.objects.filter(action=Action.KEY_REVOKED)
    assert [e.detail for e in events] == (
        [] if kept else [{"by": "password_reset", "reason": reason}]
    )
    reset_event = AuditEvent.objects.get(action=Action.PASSWORD_RESET)
    assert reset_event.detail["keysRevoked"] == (0 if kept else 1)
    assert User.objects.get(pk=user.pk).is_verified is True


def test_revoke_keys_must_be_a_boolean(api_client, user_factory):
    user_factory(email="owner@example.com")
    api_client.post("/api/auth/request-password-reset", {"email": "owner@example.com"})

    response = api_client.post(
        "/api/auth/reset-password",
        {"token": _emailed_token(), "newPassword": OWNER_PASSWORD, "revokeKeys": "maybe"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "revokeKeys" in response.json()["details"]


def test_the_verification_email_says_what_to_do_when_you_never_signed_up(api_client):
    api_client.post(
        "/api/auth/sign-up/email",
        {"email": VICTIM, "password": IMPOSTOR_PASSWORD, "name": "Visit evil.example now"},
    )

    body = mail.outbox[0].body

    assert "I didn't create this account: secure it" in body
    assert "every API key of the account is revoked" in body
    assert "evil.example" not in body


# --- GET /api/auth/status: the profile needs user:read ---------------------------------------


@pytest.mark.parametrize(
    ("scopes", "sees_profile"),
    [(["user:read"], True), (["projects:read"], False), (["*"], True), (["read:all"], True)],
)
def test_status_shows_the_profile_only_to_a_key_with_user_read(
    user_factory, api_key_factory, key_client, scopes, sees_profile
):
    user = user_factory(email="status@example.com")
    key, raw = api_key_factory(user=user, scopes=scopes)

    response = key_client(raw).get("/api/auth/status")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["authenticated"] is True
    assert data["authMethod"] == "api_key"
    assert data["apiKey"]["id"] == key.pk
    assert data["apiKey"]["scopes"] == scopes
    assert ("user" in data) is sees_profile
    assert ("status@example.com" in response.content.decode()) is sees_profile


def test_status_shows_a_session_its_profile(client_for, user_factory):
    user = user_factory(email="session@example.com")

    response = client_for(user).get("/api/auth/status")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["authMethod"] == "session"
    assert data["user"]["email"] == "session@example.com"
    assert data["apiKey"] is None


def test_a_deactivated_then_reactivated_account_has_no_key_back(user_factory, api_key_factory):
    from accounts.services import user_deactivate, user_reactivate

    user = user_factory()
    _key, raw = api_key_factory(user=user)
    user_deactivate(user=user)
    user_reactivate(user=user)

    response = APIClient(HTTP_X_API_KEY=raw).get("/api/user/me")

    assert (response.status_code, response.json()["code"]) == (401, "KEY_REVOKED")
    assert timezone.now() >= ApiKey.objects.get().revoked_at


@pytest.mark.parametrize("flow", ["secure", "reset"])
def test_securing_or_resetting_from_the_accounts_own_session_answers_once_and_signs_it_out(
    monkeypatch, user_factory, flow
):
    from accounts import middleware
    from accounts.tokens import make_password_reset_token

    user = user_factory(email="own@example.com", verified=False)
    client = APIClient()
    signed_in = client.post(
        "/api/auth/sign-in/email",
        {"email": "own@example.com", "password": "correct-horse-battery-staple"},
    )
    assert signed_in.status_code == 200
    # Two minutes on: this request also refreshes the session's last-use mark.
    later = time.time() + 120
    monkeypatch.setattr(middleware, "timer", lambda: later)
    user.refresh_from_db()  # the sign-in moved last_login, which a reset token signs

    if flow == "secure":
        response = client.post(
            "/api/auth/verify-email",
            {"token": make_verification_token(user), "secure": True},
        )
    else:
        response = client.post(
            "/api/auth/reset-password",
            {"token": make_password_reset_token(user), "newPassword": OWNER_PASSWORD},
        )

    assert response.status_code == 200, response.json()
    if flow == "secure":
        assert response["Cache-Control"] == "no-store"
        assert response.json()["data"]["passwordResetToken"]
    assert client.get("/api/user/me").status_code == 401


@pytest.mark.parametrize("token", ["a/b", "../x", "a b", "<x>", "é", "x" * 600])
def test_a_browser_with_an_odd_link_lands_on_the_not_valid_page(api_client, token):
    response = api_client.get("/api/auth/verify-email", {"token": token}, HTTP_ACCEPT="text/html")

    assert response.status_code == 302
    assert response["Location"] == "/verify-email"
    page = api_client.get("/verify-email")
    assert page.status_code == 400
    assert "This link is not valid" in page.content.decode()
