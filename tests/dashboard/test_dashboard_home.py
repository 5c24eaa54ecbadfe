"""/dashboard: where a signed-in person lands (the organization last looked at, else the
first joined), and what a person in no organization sees."""

from __future__ import annotations

import pytest

from tests.dashboard.helpers import API_KEYS, HOME, SIGN_IN, page_html

pytestmark = pytest.mark.django_db


def test_dashboard_sends_an_anonymous_visitor_to_sign_in(client):
    response = client.get(HOME)

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={HOME}"


def test_dashboard_opens_the_first_organization_joined(jane_client, jane, org_factory):
    first = org_factory(owner=jane, name="Zeta")
    org_factory(owner=jane, name="Alpha")

    response = jane_client.get(HOME)

    assert response.status_code == 302
    assert response["Location"] == f"/organizations/{first.pk}/projects"
    page = jane_client.get(response["Location"])
    assert page.status_code == 200
    assert "<h1>Projects</h1>" in page_html(page)


def test_dashboard_returns_to_the_organization_last_looked_at(jane_client, jane, org_factory):
    org_factory(owner=jane)
    second = org_factory(owner=jane)
    assert jane_client.get(f"/organizations/{second.pk}/projects").status_code == 200

    response = jane_client.get(HOME)

    assert response["Location"] == f"/organizations/{second.pk}/projects"


def test_dashboard_tells_a_user_without_organizations(jane_client):
    response = jane_client.get(HOME)

    assert response.status_code == 200
    assert "<h1>You are not in any organization</h1>" in page_html(response)
    assert f'href="{API_KEYS}"' in page_html(response)
