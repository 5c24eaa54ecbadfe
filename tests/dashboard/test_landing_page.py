"""The landing page: an invitation to sign up or in, or the way back to one's dashboard."""

from __future__ import annotations

import pytest

from tests.dashboard.helpers import API_KEYS, EMAIL, LANDING, page_html

pytestmark = pytest.mark.django_db


def test_landing_invites_an_anonymous_visitor_to_sign_up_or_in(client):
    response = client.get(LANDING)

    page = page_html(response)
    assert response.status_code == 200
    assert '<a class="button" href="/sign-up">Create an account</a>' in page
    assert '<a class="button secondary" href="/sign-in">Sign in</a>' in page
    assert "Open your dashboard" not in page
    assert 'action="/sign-out"' not in page


def test_landing_sends_a_signed_in_user_to_their_dashboard(jane_client, org_factory, jane):
    org_factory(owner=jane, name="Acme")

    response = jane_client.get(LANDING)

    page = page_html(response)
    assert response.status_code == 200
    assert '<a class="button" href="/dashboard">Open your dashboard</a>' in page
    assert f'<a class="button secondary" href="{API_KEYS}">API keys</a>' in page
    assert 'action="/sign-out"' in page
    assert EMAIL in page
    assert "Create an account" not in page


def test_the_pages_carry_the_favicon(client):
    landing = client.get(LANDING)
    icon = client.get("/static/dashboard/favicon.svg")

    assert landing.status_code == 200
    assert '<link rel="icon" href="/static/dashboard/favicon.svg" type="image/svg+xml">' in (
        page_html(landing)
    )
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)
