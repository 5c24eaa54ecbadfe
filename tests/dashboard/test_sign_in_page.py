"""The sign-in page: a new session key, a safe `next`, one answer for a wrong password and
an unknown address, inactive and unverified accounts, the rate limits and the lock."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from tests.conftest import PASSWORD, set_rates
from tests.dashboard.helpers import (
    API_KEYS,
    EMAIL,
    HOME,
    INVALID_CREDENTIALS,
    RESEND,
    SIGN_IN,
    assert_rate_limited,
    field_errors,
    input_tag,
    non_field_errors,
    page_html,
    require_verification,
    sign_in,
    signed_in_as,
    without_csrf,
)

pytestmark = pytest.mark.django_db


def test_sign_in_signs_in_and_goes_to_the_dashboard(client, jane):
    response = sign_in(client)

    assert response.status_code == 302
    assert response["Location"] == HOME
    assert signed_in_as(client) == jane.pk
    assert client.get(API_KEYS).status_code == 200


def test_sign_in_ignores_the_case_of_the_email(client, jane):
    response = sign_in(client, email="  JANE@example.COM ")

    assert response.status_code == 302
    assert signed_in_as(client) == jane.pk


def test_sign_in_issues_a_new_session_key(client, jane):
    # A session that exists before sign-in (planted by an attacker, say) must not become the
    # signed-in one: session fixation.
    session = client.session
    session["planted"] = True
    session.save()
    before = client.cookies["sessionid"].value

    response = sign_in(client)

    after = client.cookies["sessionid"].value
    assert response.status_code == 302
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert signed_in_as(client) == jane.pk


def test_signing_in_again_as_the_same_user_still_issues_a_new_session_key(jane_client):
    before = jane_client.cookies["sessionid"].value

    response = sign_in(jane_client)

    assert response.status_code == 302
    assert jane_client.cookies["sessionid"].value != before
    assert not Session.objects.filter(session_key=before).exists()


@pytest.mark.parametrize("where", ["query", "form"])
def test_sign_in_follows_a_safe_next(client, jane, where):
    target = f"{API_KEYS}?page=2"
    if where == "query":
        response = client.post(
            f"{SIGN_IN}?next=/settings/api-keys%3Fpage%3D2", {"email": EMAIL, "password": PASSWORD}
        )
    else:
        response = sign_in(client, next=target)

    assert response.status_code == 302
    assert response["Location"] == target


def test_sign_in_form_carries_next_in_a_hidden_field(client):
    response = client.get(f"{SIGN_IN}?next={API_KEYS}")

    assert response.status_code == 200
    assert f'<input type="hidden" name="next" value="{API_KEYS}">' in page_html(response)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "//evil.example/settings/api-keys",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        " //evil.example",
        "\t//evil.example",
        "javascript:alert(1)",
        "http://testserver.evil.example/",
    ],
)
def test_sign_in_ignores_an_off_site_next(client, jane, target):
    response = sign_in(client, next=target)

    assert response.status_code == 302
    assert response["Location"] == HOME


def test_sign_in_page_escapes_next(client):
    response = client.get(SIGN_IN, {"next": '"><script>alert(1)</script>'})

    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_wrong_password_is_refused_without_a_session(client, jane):
    response = sign_in(client, password="not-the-password")

    assert response.status_code == 400
    assert non_field_errors(response) == [INVALID_CREDENTIALS]
    assert signed_in_as(client) is None
    assert input_tag(response, "email").count(f'value="{EMAIL}"') == 1


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, jane):
    wrong = sign_in(client, password="not-the-password")
    unknown = sign_in(client, email="nobody@example.com", password="not-the-password")

    assert wrong.status_code == unknown.status_code == 400
    assert non_field_errors(wrong) == non_field_errors(unknown) == [INVALID_CREDENTIALS]
    assert without_csrf(wrong).replace(EMAIL, "@") == without_csrf(unknown).replace(
        "nobody@example.com", "@"
    )


def test_inactive_user_cannot_sign_in(client, user_factory):
    user_factory(email=EMAIL, is_active=False)

    response = sign_in(client)

    assert response.status_code == 400
    assert non_field_errors(response) == [INVALID_CREDENTIALS]
    assert signed_in_as(client) is None


def test_unverified_user_is_offered_a_new_link_when_verification_is_required(
    client, settings, user_factory
):
    require_verification(settings)
    user_factory(email=EMAIL, verified=False)

    response = sign_in(client)

    assert response.status_code == 400
    assert non_field_errors(response) == ["Verify your email address before signing in."]
    assert f'<a href="{RESEND}">Send me a new verification link</a>' in page_html(response)
    assert signed_in_as(client) is None


def test_unverified_user_signs_in_when_verification_is_not_required(client, user_factory):
    user = user_factory(email=EMAIL, verified=False)

    response = sign_in(client)

    assert response.status_code == 302
    assert signed_in_as(client) == user.pk


@pytest.mark.parametrize(
    ("email", "password"), [("", ""), (EMAIL, ""), ("", PASSWORD), ("   ", "   ")]
)
def test_sign_in_with_blank_fields_shows_required_errors(client, jane, email, password):
    response = sign_in(client, email=email, password=password)

    assert response.status_code == 400
    errors = field_errors(response, "email") + field_errors(response, "password")
    assert "This field is required." in errors
    assert signed_in_as(client) is None


def test_sign_in_is_rate_limited_per_ip_with_a_friendly_message(client, settings, jane):
    set_rates(settings, SIGNIN="2/min")
    assert sign_in(client, password="wrong-wrong-1").status_code == 400
    assert sign_in(client, password="wrong-wrong-2").status_code == 400

    response = sign_in(client)

    assert_rate_limited(response)
    assert signed_in_as(client) is None


def test_failed_sign_ins_lock_the_account_even_for_the_right_password(
    client, settings, jane, user_factory
):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min")
    for n in range(3):
        assert sign_in(client, password=f"wrong-password-{n}").status_code == 400

    locked = sign_in(client)
    user_factory(email="other@example.com")
    elsewhere = sign_in(Client(), email="other@example.com")

    assert_rate_limited(locked)
    assert signed_in_as(client) is None
    assert INVALID_CREDENTIALS not in page_html(locked)
    assert PASSWORD not in page_html(locked)
    # The lock is per account: another account from the same IP still signs in.
    assert elsewhere.status_code == 302


def test_sign_in_page_sends_a_signed_in_user_away(jane_client):
    assert jane_client.get(SIGN_IN)["Location"] == HOME
    assert jane_client.get(f"{SIGN_IN}?next={API_KEYS}")["Location"] == API_KEYS
    assert jane_client.get(f"{SIGN_IN}?next=https://evil.example/")["Location"] == HOME


def test_sign_in_prefills_the_email_from_the_query(client):
    response = client.get(SIGN_IN, {"email": EMAIL})

    assert f'value="{EMAIL}"' in input_tag(response, "email")
