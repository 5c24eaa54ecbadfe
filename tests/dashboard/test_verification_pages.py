"""The emailed verification link: its token leaves the URL, the "is this your account?"
page changes nothing, and verify or secure is chosen once."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD
from tests.dashboard.helpers import (
    API_KEYS,
    EMAIL,
    LINK_NOT_VALID,
    NEW_PASSWORD,
    RESEND,
    RESET_CHOOSE,
    SIGN_IN,
    VERIFY,
    is_sent_to_sign_in,
    page_html,
    set_password,
    sign_in,
    verification_path,
)

pytestmark = pytest.mark.django_db


def test_the_emailed_verification_link_moves_its_token_out_of_the_url(client, user_factory):
    user_factory(email=EMAIL, verified=False)
    path = verification_path(client)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == VERIFY
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_verification_page_shows_the_account_and_changes_nothing(
    client, user_factory, api_key_factory
):
    user = user_factory(email=EMAIL, verified=False)
    api_key_factory(user=user)
    Client().force_login(user)
    client.get(verification_path(client))

    page = client.get(VERIFY)

    assert page.status_code == 200
    html = page_html(page)
    assert "<h1>Is this your account?</h1>" in html
    assert f"<dt>Created</dt><dd>{user.created_at:%-d %B %Y, %H:%M} UTC</dd>" in html
    assert "<dt>Signed-in sessions</dt><dd>1</dd>" in html
    assert "<dt>Active API keys</dt><dd>1</dd>" in html
    assert 'value="verify"' in html and 'value="secure"' in html
    user.refresh_from_db()
    assert user.is_verified is False


def test_choosing_verify_verifies_once(client, user_factory):
    user = user_factory(email=EMAIL, verified=False)
    client.get(verification_path(client))

    response = client.post(VERIFY, {"choice": "verify"})

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert "Your email address is verified." in page_html(client.get(SIGN_IN))
    user.refresh_from_db()
    assert user.is_verified is True
    again = client.get(VERIFY)
    assert again.status_code == 400
    assert f"<h1>{LINK_NOT_VALID}</h1>" in page_html(again)
    assert f'href="{RESEND}"' in page_html(again)


def test_choosing_secure_takes_the_account_back_and_leads_to_a_new_password(
    client, user_factory, api_key_factory, key_client
):
    user = user_factory(email=EMAIL, verified=False)
    _key, raw = api_key_factory(user=user)
    impostor = Client()
    impostor.force_login(user)
    client.get(verification_path(client))

    secured = client.post(VERIFY, {"choice": "secure"})

    assert secured.status_code == 302
    assert secured["Location"] == RESET_CHOOSE
    assert is_sent_to_sign_in(impostor.get(API_KEYS), API_KEYS)
    by_key = key_client(raw).get("/api/user/me")
    assert (by_key.status_code, by_key.json()["code"]) == (401, "KEY_REVOKED")
    assert sign_in(Client(), password=PASSWORD).status_code == 400
    form = client.get(RESET_CHOOSE)
    assert form.status_code == 200
    assert "Your account is secured" in page_html(form)
    assert set_password(client, RESET_CHOOSE, NEW_PASSWORD).status_code == 302
    assert sign_in(Client(), password=NEW_PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.is_verified is True


@pytest.mark.parametrize("choice", ["", "both", "<script>"])
def test_an_unknown_choice_changes_nothing(client, user_factory, choice):
    user = user_factory(email=EMAIL, verified=False)
    client.get(verification_path(client))

    response = client.post(VERIFY, {"choice": choice})

    assert response.status_code == 400
    assert "<h1>Is this your account?</h1>" in page_html(response)
    user.refresh_from_db()
    assert user.is_verified is False


@pytest.mark.parametrize("token", ["x", "a:b:c", "x" * 600, "%00"])
def test_a_bad_verification_link_says_so(client, token):
    response = client.get(f"/verify-email/{token}", follow=True)

    assert response.status_code == 400
    assert f"<h1>{LINK_NOT_VALID}</h1>" in page_html(response)
