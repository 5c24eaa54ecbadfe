"""The pages that email a link (resend verification, request a password reset): the same
answer for every address, the rate limits, and the session a link opens."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from tests.conftest import set_rates
from tests.dashboard.helpers import (
    EMAIL,
    RESEND,
    RESEND_SENT,
    RESET,
    RESET_SENT,
    assert_rate_limited,
    field_errors,
    input_tag,
    page_html,
    without_csrf,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def addresses(user_factory: Any) -> dict[str, str]:
    user_factory(email="verified@example.com", verified=True)
    user_factory(email="unverified@example.com", verified=False)
    user_factory(email="inactive@example.com", verified=False, is_active=False)
    return {
        "verified": "verified@example.com",
        "unverified": "unverified@example.com",
        "inactive": "inactive@example.com",
        "unknown": "nobody@example.com",
    }


@pytest.mark.parametrize(
    ("url", "sent_text", "mailed"),
    [
        (RESEND, RESEND_SENT, {"unverified"}),
        (RESET, RESET_SENT, {"verified", "unverified"}),
    ],
)
def test_email_pages_answer_the_same_for_every_address(client, addresses, url, sent_text, mailed):
    pages = {}
    for kind, email in addresses.items():
        mail.outbox.clear()
        response = client.post(url, {"email": email})
        assert response.status_code == 302, kind
        assert response["Location"] == f"{url}?sent=1", kind
        assert len(mail.outbox) == (1 if kind in mailed else 0), kind
        if kind in mailed:
            assert mail.outbox[0].to == [email]
        pages[kind] = client.get(response["Location"])

    assert all(page.status_code == 200 for page in pages.values())
    assert all(sent_text in page_html(page) for page in pages.values())
    assert len({without_csrf(page) for page in pages.values()}) == 1


@pytest.mark.parametrize("url", [RESEND, RESET])
def test_email_pages_show_a_form_error_for_a_bad_address(client, addresses, url):
    response = client.post(url, {"email": "not-an-email"})

    assert response.status_code == 400
    assert field_errors(response, "email") == ["Enter a valid email address."]
    assert 'aria-invalid="true"' in input_tag(response, "email")
    assert mail.outbox == []


@pytest.mark.parametrize("url", [RESEND, RESET])
def test_email_pages_without_sent_show_no_confirmation(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert RESEND_SENT not in page_html(response)
    assert RESET_SENT not in page_html(response)


@pytest.mark.parametrize(("url", "policy"), [(RESEND, "VERIFY_EMAIL"), (RESET, "PASSWORD_RESET")])
def test_email_pages_are_rate_limited_with_a_friendly_message(
    client, settings, addresses, url, policy
):
    set_rates(settings, **{policy: "2/hour"})
    for _ in range(2):
        assert client.post(url, {"email": addresses["unknown"]}).status_code == 302

    response = client.post(url, {"email": addresses["unverified"]})

    assert_rate_limited(response)
    assert mail.outbox == []


@pytest.mark.parametrize("url", [RESEND, RESET])
def test_email_pages_mail_the_stored_address_not_the_typed_one(client, user_factory, url):
    user_factory(email="Jane@Example.com", verified=False)

    response = client.post(url, {"email": "jANE@eXAMPLE.COM"})

    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [["Jane@Example.com"]]


def test_resend_page_prefills_a_signed_in_users_address(jane_client):
    response = jane_client.get(RESEND)

    assert f'value="{EMAIL}"' in input_tag(response, "email")


@pytest.mark.parametrize(
    ("path", "lifetime"),
    [("/verify-email/abc", "VERIFY_EMAIL_MAX_AGE"), ("/reset-password/abc", "PASSWORD_RESET")],
)
def test_opening_a_link_gives_a_new_session_that_lives_as_long_as_the_token(
    client, settings, path, lifetime
):
    before = client.get(path).cookies[settings.SESSION_COOKIE_NAME].value

    response = client.get(path)  # the same browser, its session already holding a token

    assert response.status_code == 302
    after = response.cookies[settings.SESSION_COOKIE_NAME]
    assert after.value != before
    expected = (
        settings.ACCOUNTS["VERIFY_EMAIL_MAX_AGE"]
        if lifetime == "VERIFY_EMAIL_MAX_AGE"
        else settings.PASSWORD_RESET_TIMEOUT
    )
    assert int(after["max-age"]) == expected
