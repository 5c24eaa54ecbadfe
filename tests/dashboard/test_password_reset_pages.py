"""The password reset link: its token leaves the URL, the new password (and its rules), one
use, every session ended, keys revoked on request, and garbage tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from accounts.tokens import make_password_reset_token
from tests.conftest import PASSWORD, set_rates
from tests.dashboard.helpers import (
    API_KEYS,
    EMAIL,
    INVALID_CREDENTIALS,
    LINK_NOT_VALID,
    NEW_PASSWORD,
    RESET,
    RESET_CHOOSE,
    SIGN_IN,
    TOO_SHORT,
    TOO_SHORT_MESSAGE,
    assert_rate_limited,
    emailed_path,
    field_errors,
    input_tag,
    is_sent_to_sign_in,
    non_field_errors,
    page_html,
    request_reset,
    set_password,
    sign_in,
    signed_in_as,
)

pytestmark = pytest.mark.django_db


def test_the_emailed_reset_link_moves_its_token_out_of_the_url(client, jane):
    assert client.post(RESET, {"email": EMAIL}).status_code == 302
    emailed = emailed_path()

    response = client.get(emailed)

    assert response.status_code == 302
    assert response["Location"] == RESET_CHOOSE
    form = client.get(RESET_CHOOSE)
    assert form.status_code == 200
    assert emailed.rsplit("/", 1)[1] not in form.content.decode()


@pytest.mark.parametrize(
    ("revoke_keys", "survives"), [(False, True), (True, False)], ids=["kept", "revoked"]
)
def test_the_reset_page_can_revoke_every_key(
    client, jane, api_key_factory, key_client, revoke_keys, survives
):
    _key, raw = api_key_factory(user=jane)
    path = request_reset(client)
    form = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    if revoke_keys:
        form["revoke_keys"] = "on"

    assert client.post(path, form).status_code == 302

    response = key_client(raw).get("/api/user/me")
    assert response.status_code == (200 if survives else 401)
    if not survives:
        assert response.json()["code"] == "KEY_REVOKED"


def test_the_emailed_reset_link_sets_a_new_password(client, jane):
    path = request_reset(client)

    form = client.get(path)
    reset = set_password(client, path, NEW_PASSWORD)

    assert form.status_code == 200
    assert "<h1>Choose a new password</h1>" in page_html(form)
    assert input_tag(form, "new_password") and input_tag(form, "confirm_password")
    assert reset.status_code == 302
    assert reset["Location"] == SIGN_IN  # no address in the URL (logs, Referer)

    landed = client.get(reset["Location"])
    assert "Your password is reset. Sign in with the new one." in page_html(landed)

    old = sign_in(client, password=PASSWORD)
    assert old.status_code == 400
    assert non_field_errors(old) == [INVALID_CREDENTIALS]
    assert sign_in(client, password=NEW_PASSWORD).status_code == 302
    assert signed_in_as(client) == jane.pk


def test_reset_link_shows_password_rules_inline(client, jane):
    path = request_reset(client)

    response = set_password(client, path, TOO_SHORT)

    assert response.status_code == 400
    assert TOO_SHORT_MESSAGE in field_errors(response, "new_password")
    assert 'aria-invalid="true"' in input_tag(response, "new_password")
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)
    assert client.get(path).status_code == 200  # the link is not spent


def test_reset_link_refuses_a_password_like_the_email(client, jane):
    path = request_reset(client)

    response = set_password(client, path, "jane@example.com")

    assert response.status_code == 400
    assert "The password is too similar to the email address." in field_errors(
        response, "new_password"
    )


def test_reset_link_refuses_a_mismatched_confirmation(client, jane):
    path = request_reset(client)

    response = set_password(client, path, NEW_PASSWORD, confirm=NEW_PASSWORD + "!")

    assert response.status_code == 400
    assert field_errors(response, "confirm_password") == ["The two passwords do not match."]
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_reset_link_works_once(client, jane):
    path = request_reset(client)
    assert set_password(client, path, NEW_PASSWORD).status_code == 302

    again = client.get(path)
    replay = set_password(client, path, "yet-another-passphrase")

    assert again.status_code == 400
    assert f"<h1>{LINK_NOT_VALID}</h1>" in page_html(again)
    assert f'href="{RESET}"' in page_html(again)
    assert replay.status_code == 400
    assert LINK_NOT_VALID in page_html(replay)
    jane.refresh_from_db()
    assert jane.check_password(NEW_PASSWORD)


def test_reset_link_dies_when_the_user_signs_in(client, jane):
    path = request_reset(client)
    assert sign_in(Client()).status_code == 302

    response = client.get(path)

    assert response.status_code == 400
    assert LINK_NOT_VALID in page_html(response)


def test_reset_ends_every_session_of_the_user(client, jane):
    elsewhere = Client()
    elsewhere.force_login(jane)
    assert elsewhere.get(API_KEYS).status_code == 200
    path = request_reset(client)

    assert set_password(client, path, NEW_PASSWORD).status_code == 302

    assert is_sent_to_sign_in(elsewhere.get(API_KEYS), API_KEYS)


def test_resetting_while_signed_in_here_signs_this_browser_out_too(jane_client, jane):
    path = request_reset(jane_client)

    response = set_password(jane_client, path, NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    landed = jane_client.get(SIGN_IN)
    assert "Your password is reset. Sign in with the new one." in page_html(landed)
    assert signed_in_as(jane_client) is None


def test_reset_confirm_is_rate_limited_with_a_friendly_message(client, settings, jane):
    set_rates(settings, PASSWORD_RESET="2/hour")
    path = request_reset(client)  # the request spends one of the two
    assert set_password(client, path, TOO_SHORT).status_code == 400

    response = set_password(client, path, NEW_PASSWORD)

    assert_rate_limited(response)
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("", 404),
        ("x", 400),
        ("a.b", 400),
        (".", 400),
        ("..", 400),
        ("x" * 5000, 400),
        ("x" * 190 + ".y", 400),
        ("é.ü", 400),
        ("😀.😀", 400),
        ("%00", 400),
        ("%00.%00", 400),
        ("%ff%fe.%c3", 400),
        ("MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA.abc-def", 400),  # 26 zeros: a ULID nobody has
        ("AAAA.abc", 400),  # decodes to NUL bytes
        ("%2e%2e", 400),
        ("<script>.x", 400),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_garbage_reset_tokens_are_invalid_never_an_error(client, jane, token, status, method):
    send = getattr(client, method)

    response = send(
        f"{RESET}/{token}",
        {"new_password": NEW_PASSWORD} if method == "post" else {},
        follow=True,
    )

    assert response.status_code == status
    if status == 400:
        assert LINK_NOT_VALID in page_html(response)
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_another_users_id_with_a_valid_key_is_refused(client, jane, user_factory):
    other = user_factory()
    own = make_password_reset_token(jane)
    other_id = make_password_reset_token(other).split(".", 1)[0]

    response = client.get(f"{RESET}/{other_id}.{own.split('.', 1)[1]}", follow=True)

    assert response.status_code == 400
    assert LINK_NOT_VALID in page_html(response)


def test_a_deactivated_users_reset_link_is_refused(client, jane):
    path = request_reset(client)
    User.objects.filter(pk=jane.pk).update(is_active=False)

    assert client.get(path).status_code == 400
    response = set_password(client, path, NEW_PASSWORD)

    assert response.status_code == 400
    assert LINK_NOT_VALID in page_html(response)
