"""POST /api/auth/sign-up/email"""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail

from accounts.models import User
from tenants.models import Membership, Organization

pytestmark = pytest.mark.django_db

URL = "/api/auth/sign-up/email"
GOOD = {"email": "you@example.com", "password": "a-long-secure-passphrase", "name": "Your Name"}


class BrokenEmailBackend:
    def __init__(self, **kwargs: object) -> None:
        pass

    def send_messages(self, messages: object) -> int:
        raise smtplib.SMTPServerDisconnected("gone")


def test_sign_up_creates_user_organization_and_sends_verification(api_client, settings):
    response = api_client.post(URL, GOOD)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["code"] == "OK"
    assert body["data"]["email"] == "you@example.com"
    assert body["data"]["fullName"] == "Your Name"
    assert body["data"]["handle"] == "you"
    assert body["data"]["isVerified"] is False
    assert body["data"]["organizationCount"] == 1
    user = User.objects.get(pk=body["data"]["id"])
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["you@example.com"]
    assert f"{settings.PUBLIC_URL}/verify-email/" in mail.outbox[0].body


def test_password_is_stored_with_argon2(api_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    api_client.post(URL, GOOD)

    user = User.objects.get()
    assert user.password.startswith("argon2$argon2id$")
    assert GOOD["password"] not in user.password


def test_email_is_stored_as_given_and_unique_regardless_of_case(api_client):
    first = api_client.post(URL, {**GOOD, "email": "Jane.Doe@Example.com"})
    second = api_client.post(URL, {**GOOD, "email": "jane.doe@example.COM"})

    assert first.status_code == 200
    assert first.json()["data"]["email"] == "Jane.Doe@Example.com"
    assert second.status_code == 409
    assert second.json()["code"] == "EMAIL_TAKEN"
    assert second.json()["success"] is False
    assert User.objects.count() == 1
    assert Organization.objects.count() == 1


def test_handles_are_unique(api_client):
    api_client.post(URL, {**GOOD, "email": "sam@one.example"})
    api_client.post(URL, {**GOOD, "email": "sam@two.example"})

    assert sorted(User.objects.values_list("handle", flat=True)) == ["sam", "sam-2"]


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short", "too short"),
        ("password123", "too common"),
        ("8461937250", "entirely numeric"),
        ("you@example.com", "too similar"),
    ],
)
def test_password_rules_come_back_in_the_400_body(api_client, password, fragment):
    response = api_client.post(URL, {**GOOD, "password": password})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert any(fragment in message for message in body["details"]["password"])
    assert body["message"].startswith("password: ")
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"email": "not-an-email", "password": GOOD["password"]},
        {"email": GOOD["email"]},
        {"password": GOOD["password"]},
        {"email": None, "password": GOOD["password"]},
        {"email": GOOD["email"], "password": GOOD["password"], "name": "x" * 151},
    ],
)
def test_invalid_sign_up_is_400_and_creates_nothing(api_client, payload):
    response = api_client.post(URL, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"]
    assert User.objects.count() == 0
    assert len(mail.outbox) == 0


def test_a_mail_server_failure_does_not_undo_the_sign_up(api_client, settings):
    # The mail goes out from a background task: its failure is the task's, not the request's.
    settings.EMAIL_BACKEND = f"{__name__}.BrokenEmailBackend"

    response = api_client.post(URL, GOOD)

    assert response.status_code == 200
    assert response.json()["data"]["isVerified"] is False
    assert User.objects.count() == 1
    assert Organization.objects.count() == 1
    assert Membership.objects.count() == 1


@pytest.mark.parametrize(
    "email",
    [
        "a@x\ufffdy.com",
        "a@" + "\u00e9" * 60 + ".com",
        "a@" + "\u65e5" * 62 + ".com",
        "jane\u00addoe@example.com",
        "jane\u200bdoe@example.com",
        "jane@exam\u200cple.com",
    ],
)
def test_an_email_whose_domain_cannot_be_encoded_is_400(api_client, email):
    response = api_client.post(URL, {**GOOD, "email": email})

    assert response.status_code == 400
    assert "email" in response.json()["details"]
    assert User.objects.count() == 0


def test_an_international_domain_is_accepted(api_client):
    response = api_client.post(URL, {**GOOD, "email": "jose@espa\u00f1a.example"})

    assert response.status_code == 200
    assert mail.outbox[0].to == ["jose@espa\u00f1a.example"]


def test_a_contended_handle_gets_a_random_suffix():
    from lib.ids import available_slug

    first = available_slug(User, "handle", "sam", max_length=39, contended=True)
    second = available_slug(User, "handle", "sam", max_length=39, contended=True)

    assert first.startswith("sam-")
    assert first != second
