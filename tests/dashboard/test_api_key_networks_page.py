"""The create form's allowed networks, and the key policy's refusals shown on the form."""

from __future__ import annotations

import pytest

from apikeys.models import ApiKey
from tests.dashboard.test_api_key_pages import CREATE_URL, form_data, html, shown_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(browser, team):
    return browser(team["owner"])


def test_a_key_is_created_with_its_own_networks_and_works_only_from_them(client, key_client):
    response = client.post(
        CREATE_URL, form_data(client, allowed_networks="203.0.113.0/24\n  198.51.100.7\n")
    )

    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert key.allowed_cidrs == ["203.0.113.0/24", "198.51.100.7/32"]
    api = key_client(shown_key(response))
    assert api.get("/api/user/me", REMOTE_ADDR="203.0.113.50").status_code == 200
    refused = api.get("/api/user/me", REMOTE_ADDR="192.0.2.1")
    assert (refused.status_code, refused.json()["code"]) == (403, "KEY_POLICY_VIOLATION")


def test_a_bad_network_is_shown_beside_its_field_and_creates_nothing(client):
    response = client.post(CREATE_URL, form_data(client, allowed_networks="10.0.0.0/33"))

    assert response.status_code == 400
    assert "&#x27;10.0.0.0/33&#x27; is not an IP network such as 203.0.113.0/24." in html(response)
    assert 'id="id_allowed_networks_error"' in html(response)
    assert not ApiKey.objects.exists()


def test_a_key_the_organization_policy_refuses_is_not_created(client, team):
    organization = team["organization"]
    organization.key_policy = {"requireExpiry": True}
    organization.save()

    response = client.post(
        CREATE_URL, form_data(client, expiry="never", organization=organization.pk)
    )

    assert response.status_code == 400
    assert "requireExpiry" in html(response)
    assert not ApiKey.objects.exists()
