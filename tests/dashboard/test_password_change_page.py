"""The password change page: this session kept and the others ended, the current password
checked, the password rules inline, the rate limit on wrong current passwords."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD, set_rates
from tests.dashboard.helpers import (
    API_KEYS,
    CHANGE,
    NEW_PASSWORD,
    SIGN_IN,
    TOO_SHORT,
    TOO_SHORT_MESSAGE,
    assert_rate_limited,
    change_password,
    field_errors,
    input_tag,
    is_sent_to_sign_in,
    page_html,
    sign_in,
)

pytestmark = pytest.mark.django_db


def test_password_change_needs_a_signed_in_user(client):
    response = client.get(CHANGE)

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={CHANGE}"
    assert is_sent_to_sign_in(client.post(CHANGE, {}), CHANGE)


def test_password_change_form_renders(jane_client):
    response = jane_client.get(CHANGE)

    assert response.status_code == 200
    assert "<h1>Password</h1>" in page_html(response)
    for name in ("current_password", "new_password", "confirm_password"):
        assert 'type="password"' in input_tag(response, name)


def test_password_change_keeps_this_session_and_ends_the_others(jane_client, jane):
    elsewhere = Client()
    elsewhere.force_login(jane)

    response = change_password(jane_client, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == CHANGE
    landed = jane_client.get(CHANGE)
    assert landed.status_code == 200
    assert "Password changed. Every other session has been signed out." in page_html(landed)
    assert jane_client.get(API_KEYS).status_code == 200
    assert is_sent_to_sign_in(elsewhere.get(API_KEYS), API_KEYS)
    jane.refresh_from_db()
    assert jane.check_password(NEW_PASSWORD)
    assert sign_in(Client(), password=NEW_PASSWORD).status_code == 302


def test_password_change_refuses_a_wrong_current_password(jane_client, jane):
    response = change_password(jane_client, "not-the-password", NEW_PASSWORD)

    assert response.status_code == 400
    assert field_errors(response, "current_password") == ["The current password is incorrect."]
    assert 'aria-invalid="true"' in input_tag(response, "current_password")
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_password_change_refuses_the_current_password_as_the_new_one(jane_client):
    response = change_password(jane_client, PASSWORD, PASSWORD)

    assert response.status_code == 400
    assert field_errors(response, "new_password") == [
        "Choose a password different from the current one."
    ]


def test_password_change_refuses_a_mismatched_confirmation(jane_client, jane):
    response = change_password(
        jane_client, PASSWORD, NEW_PASSWORD, confirm="something-else-entirely"
    )

    assert response.status_code == 400
    assert field_errors(response, "confirm_password") == ["The two passwords do not match."]
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (TOO_SHORT, TOO_SHORT_MESSAGE),
        ("password123", "This password is too common."),
        ("jane@example.com!", "The password is too similar to the email address."),
    ],
)
def test_password_change_shows_password_rules_inline(jane_client, jane, password, message):
    response = change_password(jane_client, PASSWORD, password)

    assert response.status_code == 400
    assert message in field_errors(response, "new_password")
    assert 'aria-invalid="true"' in input_tag(response, "new_password")
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_repeated_wrong_current_passwords_are_rate_limited(jane_client, jane, settings):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min")
    for n in range(3):
        assert change_password(jane_client, f"wrong-password-{n}", NEW_PASSWORD).status_code == 400

    guessed = change_password(jane_client, PASSWORD, NEW_PASSWORD)

    assert_rate_limited(guessed)
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)
