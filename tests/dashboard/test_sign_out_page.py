"""The sign-out page: a GET asks, a POST ends the session for good."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from tests.dashboard.helpers import (
    API_KEYS,
    EMAIL,
    LANDING,
    SIGN_OUT,
    is_sent_to_sign_in,
    page_html,
    signed_in_as,
)

pytestmark = pytest.mark.django_db


def test_sign_out_get_asks_and_keeps_the_session(jane_client, jane):
    response = jane_client.get(SIGN_OUT)

    page = page_html(response)
    assert response.status_code == 200
    assert "<h1>Sign out?</h1>" in page
    assert f"You are signed in as <strong>{EMAIL}</strong>" in page
    assert '<form method="post">' in page
    assert signed_in_as(jane_client) == jane.pk
    assert jane_client.get(API_KEYS).status_code == 200


def test_sign_out_post_ends_the_session(jane_client):
    old_cookie = jane_client.cookies["sessionid"].value

    response = jane_client.post(SIGN_OUT, follow=True)

    assert response.redirect_chain == [(LANDING, 302)]
    assert "You are signed out." in page_html(response)
    assert signed_in_as(jane_client) is None
    assert is_sent_to_sign_in(jane_client.get(API_KEYS), API_KEYS)
    assert not Session.objects.filter(session_key=old_cookie).exists()

    replay = Client()
    replay.cookies["sessionid"] = old_cookie
    assert is_sent_to_sign_in(replay.get(API_KEYS), API_KEYS)


def test_sign_out_when_anonymous_goes_to_the_landing_page(client):
    assert client.get(SIGN_OUT)["Location"] == LANDING
    assert client.post(SIGN_OUT)["Location"] == LANDING
