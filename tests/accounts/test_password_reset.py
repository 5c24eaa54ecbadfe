"""POST /api/auth/request-password-reset and POST /api/auth/reset-password"""

from __future__ import annotations

import base64
import logging
import re
import smtplib
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.urls import reverse

from accounts import services
from accounts.models import User
from accounts.tokens import make_password_reset_token, user_for_password_reset_token
from api.errors import InvalidToken
from audit.models import Action, AuditEvent
from ratelimits.counters import Rate
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

REQUEST = "/api/auth/request-password-reset"
RESET = "/api/auth/reset-password"
SIGN_IN = "/api/auth/sign-in/email"
ME = "/api/user/me"
NEW_PASSWORD = "a-brand-new-passphrase"
SENT = "If that address has an account, a reset link is on its way."


class BrokenEmailBackend:
    def __init__(self, **kwargs: object) -> None:
        pass

    def send_messages(self, messages: object) -> int:
        raise smtplib.SMTPServerDisconnected("gone")


def _without_timestamp(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "timestamp"}


def _link_from_outbox() -> str:
    return re.search(r"https?://\S+", mail.outbox[-1].body).group(0)


def _token_from_outbox() -> str:
    return urlsplit(_link_from_outbox()).path.rsplit("/", 1)[1]


def _sign_in(client, email: str, password: str) -> int:
    return client.post(SIGN_IN, {"email": email, "password": password}).status_code


# --- Requesting a link -------------------------------------------------------------------


def test_the_emailed_link_resets_the_password(api_client, user_factory, settings):
    user_factory(email="jane@example.com", full_name="Jane")

    requested = api_client.post(REQUEST, {"email": "jane@example.com"})
    token = _token_from_outbox()
    reset = api_client.post(RESET, {"token": token, "newPassword": NEW_PASSWORD})

    assert requested.status_code == 200
    assert _without_timestamp(requested.json()) == {
        "success": True,
        "status": 200,
        "code": "OK",
        "message": SENT,
        "data": None,
    }
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["jane@example.com"]
    assert mail.outbox[0].subject == "Reset your Latchkey password"
    assert _link_from_outbox() == settings.PUBLIC_URL + reverse(
        "dashboard:password-reset-confirm", args=[token]
    )
    assert reset.status_code == 200
    assert reset.json()["message"] == "Password reset. Sign in with your new password."
    assert reset.json()["data"] is None
    assert _sign_in(api_client, "jane@example.com", PASSWORD) == 401
    assert _sign_in(api_client, "jane@example.com", NEW_PASSWORD) == 200


def test_the_email_says_how_long_the_link_lasts_and_that_it_works_once(
    api_client, user_factory, settings
):
    user_factory(email="jane@example.com", full_name="Jane O'Hara")
    settings.PASSWORD_RESET_TIMEOUT = 2 * 3600

    api_client.post(REQUEST, {"email": "jane@example.com"})

    body = mail.outbox[0].body
    assert body.startswith("Hello,\n")
    assert "Jane" not in body
    assert "works once and expires in 2 hours" in body
    assert "If you did not ask for this, ignore this" in body


def test_the_default_link_lasts_an_hour(api_client, user_factory):
    user_factory(email="jane@example.com")

    api_client.post(REQUEST, {"email": "jane@example.com"})

    assert "expires in 60 minutes" in mail.outbox[0].body


def test_the_address_matches_ignoring_case(api_client, user_factory):
    user_factory(email="Jane@Example.com")

    response = api_client.post(REQUEST, {"email": "jane@EXAMPLE.com"})

    assert response.status_code == 200
    assert mail.outbox[0].to == ["Jane@Example.com"]


def test_known_unknown_and_inactive_addresses_get_the_same_answer(api_client, user_factory):
    user_factory(email="jane@example.com")
    user_factory(email="gone@example.com", is_active=False)

    known = api_client.post(REQUEST, {"email": "jane@example.com"})
    unknown = api_client.post(REQUEST, {"email": "who@example.com"})
    inactive = api_client.post(REQUEST, {"email": "gone@example.com"})

    assert known.status_code == unknown.status_code == inactive.status_code == 200
    assert (
        _without_timestamp(known.json())
        == _without_timestamp(unknown.json())
        == _without_timestamp(inactive.json())
    )
    assert [message.to for message in mail.outbox] == [["jane@example.com"]]


def test_a_delivery_failure_is_logged_and_not_revealed(api_client, user_factory, settings, caplog):
    settings.EMAIL_BACKEND = f"{__name__}.BrokenEmailBackend"
    user_factory(email="jane@example.com")

    with caplog.at_level(logging.ERROR):
        failed = api_client.post(REQUEST, {"email": "jane@example.com"})
    unknown = api_client.post(REQUEST, {"email": "who@example.com"})

    assert failed.status_code == 200
    assert _without_timestamp(failed.json()) == _without_timestamp(unknown.json())
    assert "Email emails/password_reset could not be sent: SMTPServerDisconnected" in caplog.text
    assert "jane@example.com" not in caplog.text


@pytest.mark.parametrize(
    "payload",
    [{}, {"email": ""}, {"email": "not-an-email"}, {"email": ["a@example.com"]}, {"email": None}],
)
def test_a_missing_or_invalid_email_is_400(api_client, payload):
    response = api_client.post(REQUEST, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"]["email"]
    assert len(mail.outbox) == 0


# --- Using the token ---------------------------------------------------------------------


def test_a_token_works_only_once(api_client, user_factory):
    user = user_factory()
    token = make_password_reset_token(user)

    first = api_client.post(RESET, {"token": token, "newPassword": NEW_PASSWORD})
    second = api_client.post(RESET, {"token": token, "newPassword": "yet-another-passphrase"})

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["code"] == "INVALID_TOKEN"
    assert second.json()["message"] == (
        "This link is invalid, has expired, or has already been used."
    )
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_sign_in_spends_an_unused_token(api_client, user_factory):
    user = user_factory(email="jane@example.com")
    token = make_password_reset_token(user)

    assert _sign_in(api_client, "jane@example.com", PASSWORD) == 200
    response = api_client.post(RESET, {"token": token, "newPassword": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"


@pytest.mark.parametrize(("elapsed", "status"), [(-1, 200), (1, 400), (86_400, 400)])
def test_a_token_expires_after_the_configured_lifetime(
    api_client, user_factory, settings, monkeypatch, elapsed, status
):
    settings.PASSWORD_RESET_TIMEOUT = 120
    user = user_factory()
    token = make_password_reset_token(user)
    # Django's generator reads the clock through _now(), its documented seam.
    later = datetime.now() + timedelta(seconds=120 + elapsed)
    monkeypatch.setattr(default_token_generator, "_now", lambda: later)

    response = api_client.post(RESET, {"token": token, "newPassword": NEW_PASSWORD})

    assert response.status_code == status
    assert response.json()["code"] == ("OK" if status == 200 else "INVALID_TOKEN")


def test_a_token_with_another_users_id_is_refused(api_client, user_factory):
    victim, attacker = user_factory(), user_factory()
    _, key = make_password_reset_token(attacker).split(".")
    victim_id = make_password_reset_token(victim).split(".")[0]

    response = api_client.post(RESET, {"token": f"{victim_id}.{key}", "newPassword": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"
    victim.refresh_from_db()
    attacker.refresh_from_db()
    assert victim.check_password(PASSWORD) and attacker.check_password(PASSWORD)


def test_a_tampered_token_is_refused(api_client, user_factory):
    user = user_factory()
    token = make_password_reset_token(user)
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")

    response = api_client.post(RESET, {"token": tampered, "newPassword": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"


def test_a_deactivated_users_token_is_refused(api_client, user_factory):
    user = user_factory()
    token = make_password_reset_token(user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.post(RESET, {"token": token, "newPassword": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


GARBAGE_TOKENS = [
    "",
    ".",
    "..",
    "a.b",
    "abc",
    "-",
    "=.=",
    "123",
    "x" * 10_000,
    "x." * 5_000,
    "é.ü",
    "🔑.🔑",
    f"{_b64('01HZ3K5R4X9Y2V6QF8TJ7W0CDN')}.cx5a2b-0123456789abcdef0123456789abcdef",
    f"{_b64('01HZ3K5R4X9Y2V6QF8TJ7W0CDN')}.",
    f"{_b64('01HZ3K5R4X9Y2V6QF8TJ7W0CD' + chr(0))}.cx5a2b-00",
    f"{_b64('x' * 5_000)}.cx5a2b-00",
    f"{_b64('é' * 13)}.cx5a2b-00",
    "!!!.cx5a2b-00",
    "MDE.zzzzzzzzzzzzzzzzzzzzzzzzzz-00",
]


@pytest.mark.parametrize("token", GARBAGE_TOKENS)
def test_a_garbage_token_is_invalid_and_never_a_500(api_client, user_factory, token):
    user_factory()

    response = api_client.post(RESET, {"token": token, "newPassword": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"


@pytest.mark.parametrize("token", [*GARBAGE_TOKENS, "\x00", "\ud800.x", "a\x00.b" * 1000])
def test_the_token_lookup_never_raises(token):
    assert user_for_password_reset_token(token) is None


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"token": "abc"},
        {"newPassword": NEW_PASSWORD},
        {"token": ["abc"], "newPassword": NEW_PASSWORD},
        {"token": "abc", "newPassword": None},
        {"token": "a\x00b", "newPassword": NEW_PASSWORD},
    ],
)
def test_a_malformed_body_is_400(api_client, payload):
    response = api_client.post(RESET, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_the_password_rules_apply_and_leave_the_token_unspent(api_client, user_factory):
    user = user_factory(email="jane.doe@example.com")
    token = make_password_reset_token(user)

    short = api_client.post(RESET, {"token": token, "newPassword": "short"})
    numeric = api_client.post(RESET, {"token": token, "newPassword": "12345678901234"})
    good = api_client.post(RESET, {"token": token, "newPassword": NEW_PASSWORD})

    assert short.status_code == numeric.status_code == 400
    assert short.json()["code"] == "VALIDATION_ERROR"
    assert short.json()["message"] == (
        "newPassword: This password is too short. It must contain at least 10 characters."
    )
    assert "This password is entirely numeric." in numeric.json()["details"]["newPassword"]
    assert good.status_code == 200


def test_a_bad_token_is_reported_before_the_password_rules(api_client, user_factory):
    user_factory()

    response = api_client.post(RESET, {"token": "a.b", "newPassword": "short"})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"
    assert "details" not in response.json()


def test_a_reset_ends_every_session_of_the_user(api_client, client_for, user_factory):
    user = user_factory()
    signed_in, bystander = client_for(user), client_for(user_factory())
    assert signed_in.get(ME).status_code == 200

    api_client.post(RESET, {"token": make_password_reset_token(user), "newPassword": NEW_PASSWORD})
    after = signed_in.get(ME)

    assert after.status_code == 401
    assert after.json()["code"] == "UNAUTHORIZED"
    assert bystander.get(ME).status_code == 200


def test_the_token_is_checked_again_on_the_locked_row(user_factory, monkeypatch):
    user = user_factory()
    token = make_password_reset_token(user)
    real_lookup = services.user_for_password_reset_token

    def lookup_then_lose_the_race(value: str) -> User | None:
        found = real_lookup(value)
        # A concurrent use of the same token commits its new password before this one takes
        # the row lock: the row this request locks no longer matches the token.
        winner = User.objects.get(pk=found.pk)
        winner.set_password("the-winners-passphrase")
        winner.save()
        return found

    monkeypatch.setattr(services, "user_for_password_reset_token", lookup_then_lose_the_race)

    with pytest.raises(InvalidToken):
        services.password_reset_confirm(token=token, new_password=NEW_PASSWORD)
    user.refresh_from_db()
    assert not user.check_password(NEW_PASSWORD)
    assert not AuditEvent.objects.filter(action=Action.PASSWORD_RESET).exists()


# --- Limits and audit --------------------------------------------------------------------


def test_requests_and_resets_share_a_per_ip_limit(api_client, user_factory, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "PASSWORD_RESET": Rate.parse("2/hour")}
    user_factory(email="jane@example.com")

    first = api_client.post(REQUEST, {"email": "jane@example.com"})
    second = api_client.post(RESET, {"token": "a.b", "newPassword": NEW_PASSWORD})
    refused_request = api_client.post(REQUEST, {"email": "jane@example.com"})
    refused_reset = api_client.post(
        RESET, {"token": _token_from_outbox(), "newPassword": NEW_PASSWORD}
    )

    assert (first.status_code, second.status_code) == (200, 400)
    for refused in (refused_request, refused_reset):
        assert refused.status_code == 429
        assert refused.json()["code"] == "RATE_LIMITED"
        assert int(refused["Retry-After"]) > 0
    assert len(mail.outbox) == 1
    assert User.objects.get().check_password(PASSWORD)


def test_requests_and_resets_are_audited(api_client, user_factory):
    user = user_factory(email="jane@example.com")

    api_client.post(REQUEST, {"email": "who@example.com"})
    api_client.post(REQUEST, {"email": "jane@example.com"})
    api_client.post(RESET, {"token": _token_from_outbox(), "newPassword": NEW_PASSWORD})

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [Action.PASSWORD_RESET_REQUESTED, Action.PASSWORD_RESET]
    for event in events:
        assert event.actor == user
        assert (event.target_type, event.target_id) == ("user", user.pk)
        assert event.ip == "127.0.0.1"
    assert [e.detail for e in events] == [{}, {"keysRevoked": 0}]
