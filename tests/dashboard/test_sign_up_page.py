"""The sign-up page: the account, its organization and a session, the password rules next
to the field, taken and invalid addresses, verification, the rate limit."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail

from accounts.models import User
from tenants.models import Membership, Role
from tests.conftest import set_rates
from tests.dashboard.helpers import (
    EMAIL,
    HOME,
    SIGN_IN,
    SIGN_UP,
    TOO_SHORT,
    TOO_SHORT_MESSAGE,
    assert_rate_limited,
    field_errors,
    input_tag,
    page_html,
    require_verification,
    sign_in,
    sign_up,
    signed_in_as,
)

pytestmark = pytest.mark.django_db


class BrokenEmailBackend:
    def __init__(self, **kwargs: object) -> None:
        pass

    def send_messages(self, messages: object) -> int:
        raise smtplib.SMTPServerDisconnected("gone")


def test_sign_up_creates_the_account_and_organization_and_signs_in(client):
    response = sign_up(client)

    user = User.objects.get(email=EMAIL)
    membership = Membership.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == HOME
    assert signed_in_as(client) == user.pk
    assert user.full_name == "Jane Doe"
    assert user.is_verified is False
    assert membership.role == Role.OWNER
    assert membership.organization.name == "Jane Doe's organization"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [EMAIL]
    assert mail.outbox[0].subject == "Verify your email address for Latchkey"
    assert "http://localhost:8000/verify-email/" in mail.outbox[0].body

    landed = client.get(HOME, follow=True)

    assert landed.redirect_chain == [
        (f"/organizations/{membership.organization_id}/projects", 302)
    ]
    assert f"Welcome to Latchkey. We sent a link to {EMAIL} to verify it." in page_html(landed)


def test_sign_up_form_renders_its_fields(client):
    response = client.get(SIGN_UP)

    assert response.status_code == 200
    assert "<h1>Create your account</h1>" in page_html(response)
    for name in ("name", "email", "password"):
        assert input_tag(response, name)
    assert 'type="password"' in input_tag(response, "password")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (TOO_SHORT, TOO_SHORT_MESSAGE),
        ("password123", "This password is too common."),
        ("4815162342108", "This password is entirely numeric."),
        ("jane@example.com1", "The password is too similar to the email address."),
    ],
)
def test_sign_up_shows_password_rules_next_to_the_password_field(client, password, message):
    response = sign_up(client, password=password)

    assert response.status_code == 400
    assert message in field_errors(response, "password")
    assert 'aria-invalid="true"' in input_tag(response, "password")
    assert 'aria-invalid="true"' not in input_tag(response, "email")
    assert not User.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("email", ["not-an-email", "jane@", "@example.com", "ja ne@example.com"])
def test_sign_up_refuses_an_invalid_email(client, email):
    response = sign_up(client, email=email)

    assert response.status_code == 400
    assert field_errors(response, "email") == ["Enter a valid email address."]
    assert 'aria-invalid="true"' in input_tag(response, "email")
    assert not User.objects.exists()


@pytest.mark.parametrize("email", [EMAIL, "JANE@Example.COM"])
def test_sign_up_with_a_taken_email_says_so_and_creates_nobody(client, jane, email):
    response = sign_up(client, email=email)

    assert response.status_code == 400
    assert field_errors(response, "email") == ["An account with this email already exists."]
    assert User.objects.count() == 1
    assert signed_in_as(client) is None
    assert mail.outbox == []


def test_sign_up_with_required_verification_sends_the_user_to_sign_in(client, settings):
    require_verification(settings)

    response = sign_up(client)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert User.objects.filter(email=EMAIL).exists()
    assert signed_in_as(client) is None
    assert len(mail.outbox) == 1

    landed = client.get(SIGN_IN)

    assert landed.status_code == 200
    assert f"Account created. Follow the link we sent to {EMAIL}, then sign in." in page_html(
        landed
    )


def test_sign_up_succeeds_even_when_the_mail_server_fails(client, settings):
    # The verification mail is a background task's: its failure does not undo the account.
    settings.EMAIL_BACKEND = f"{__name__}.BrokenEmailBackend"

    response = sign_up(client)

    assert response.status_code == 302
    assert User.objects.filter(email=EMAIL).exists()


def test_sign_up_is_rate_limited_with_a_friendly_message(client, settings):
    set_rates(settings, SIGNUP="2/hour")
    for _ in range(2):
        assert sign_up(client, email="not-an-email").status_code == 400

    response = sign_up(client)

    assert_rate_limited(response)
    assert not User.objects.exists()
    assert mail.outbox == []


def test_sign_up_ignores_privilege_fields_smuggled_into_the_form(client):
    response = sign_up(
        client, is_staff="1", is_superuser="on", is_verified="true", role="owner", handle="root"
    )

    user = User.objects.get(email=EMAIL)
    assert response.status_code == 302
    assert (user.is_staff, user.is_superuser, user.is_verified) == (False, False, False)
    assert user.handle == "jane"


def test_sign_up_redirects_a_signed_in_user(jane_client):
    assert jane_client.get(SIGN_UP)["Location"] == HOME
    response = sign_up(jane_client, email="other@example.com")

    assert response.status_code == 302
    assert not User.objects.filter(email="other@example.com").exists()


def test_sign_up_never_answers_429_for_an_account_it_created(client, settings, user_factory):
    # The per-IP budget of failed sign-ins is spent (by anyone behind this IP). Sign-up must
    # either refuse before creating the account, or create it and sign in: a 429 saying "try
    # again" while the account exists leaves the user with "email taken" on the retry.
    set_rates(settings, SIGNIN_FAILURES_IP="1/hour")
    user_factory(email="someone@example.com")
    assert sign_in(client, "someone@example.com", "wrong-password-1").status_code == 400

    response = sign_up(client)

    created = User.objects.filter(email=EMAIL).exists()
    assert not (response.status_code == 429 and created), (
        "sign-up answered 429 'Too many attempts' but the account was created"
    )
