"""POST /api/auth/verify-email and POST /api/auth/send-verification-email"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from django.core import mail, signing

from accounts.models import User
from accounts.tokens import SALT, make_verification_token

pytestmark = pytest.mark.django_db

VERIFY = "/api/auth/verify-email"
RESEND = "/api/auth/send-verification-email"


class SignerFromYesterday(signing.TimestampSigner):
    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - 25 * 3600)


def _token_from_outbox() -> str:
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    return urlsplit(link).path.rsplit("/", 1)[1]


def test_link_from_the_sign_up_email_verifies_the_user(api_client):
    api_client.post(
        "/api/auth/sign-up/email",
        {"email": "you@example.com", "password": "a-long-secure-passphrase", "name": "You"},
    )

    response = api_client.post(VERIFY, {"token": _token_from_outbox()})

    assert response.status_code == 200
    assert response.json()["message"] == "Email verified"
    assert response.json()["data"]["isVerified"] is True
    assert response.json()["data"]["verifiedAt"] is not None
    assert User.objects.get().is_verified is True


def test_a_link_works_only_once(api_client, user_factory):
    token = make_verification_token(user_factory(verified=False))

    first = api_client.post(VERIFY, {"token": token})
    second = api_client.post(VERIFY, {"token": token})

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["code"] == "INVALID_TOKEN"


def test_a_tampered_token_is_refused(api_client, user_factory):
    token = make_verification_token(user_factory(verified=False))
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    response = api_client.post(VERIFY, {"token": tampered})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"
    assert User.objects.get().is_verified is False


def test_a_token_for_another_email_is_refused(api_client, user_factory):
    user = user_factory(verified=False)
    forged = signing.TimestampSigner(salt=SALT).sign_object(
        {"u": user.pk, "e": "someone-else@example.com"}
    )

    response = api_client.post(VERIFY, {"token": forged})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"


def test_an_expired_token_is_refused(api_client, user_factory):
    user = user_factory(verified=False)
    old = SignerFromYesterday(salt=SALT).sign_object({"u": user.pk, "e": user.email})

    response = api_client.post(VERIFY, {"token": old})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_TOKEN"
    assert make_verification_token(user) != old


def test_the_lifetime_is_a_setting(api_client, user_factory, settings):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "VERIFY_EMAIL_MAX_AGE": 48 * 3600}
    user = user_factory(verified=False)
    old = SignerFromYesterday(salt=SALT).sign_object({"u": user.pk, "e": user.email})

    assert api_client.post(VERIFY, {"token": old}).status_code == 200


@pytest.mark.parametrize("query", [{}, {"token": ""}, {"token": "x" * 600}, {"token": "abc:def"}])
def test_missing_or_malformed_token_is_400(api_client, query):
    response = api_client.post(VERIFY, query)

    assert response.status_code == 400
    assert response.json()["code"] in {"VALIDATION_ERROR", "INVALID_TOKEN"}


@pytest.mark.parametrize(
    ("accept", "status", "location"),
    [
        ("text/html", 302, "/verify-email/TOKEN"),
        ("application/json", 405, None),
        ("*/*", 405, None),
    ],
)
def test_a_get_never_verifies(api_client, user_factory, accept, status, location):
    user = user_factory(verified=False)
    token = make_verification_token(user)

    response = api_client.get(VERIFY, {"token": token}, HTTP_ACCEPT=accept)

    assert response.status_code == status
    if location:
        assert response["Location"] == location.replace("TOKEN", token)
    else:
        assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    user.refresh_from_db()
    assert user.is_verified is False


def test_resend_sends_a_new_link_to_an_unverified_account(api_client, user_factory):
    user_factory(email="new@example.com", verified=False)

    response = api_client.post(RESEND, {"email": "NEW@example.com"})

    assert response.status_code == 200
    assert len(mail.outbox) == 1
    assert api_client.post(VERIFY, {"token": _token_from_outbox()}).status_code == 200


def test_resend_answers_the_same_for_unknown_and_verified_addresses(api_client, user_factory):
    user_factory(email="done@example.com", verified=True)

    unknown = api_client.post(RESEND, {"email": "who@example.com"})
    verified = api_client.post(RESEND, {"email": "done@example.com"})

    assert unknown.status_code == verified.status_code == 200
    assert unknown.json()["message"] == verified.json()["message"]
    assert len(mail.outbox) == 0


def test_resend_for_the_signed_in_user_needs_no_email(client_for, user_factory):
    client = client_for(user_factory(verified=False))

    response = client.post(RESEND, {})

    assert response.status_code == 200
    assert len(mail.outbox) == 1


def test_resend_with_a_bad_email_is_400(api_client):
    response = api_client.post(RESEND, {"email": "not-an-email"})

    assert response.status_code == 400
    assert response.json()["details"]["email"]
