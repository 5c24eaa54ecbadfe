"""Dashboard hardening: key ids, caching of signed-in pages, the per-user budget on writes, and
a create form posted twice at once."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apikeys.models import ApiKey
from dashboard.views.keys import FORM_TOKENS
from ratelimits.counters import Rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(user_factory, org_factory):
    user = user_factory()
    org_factory(owner=user)
    return user


@pytest.fixture
def browser(person):
    client = Client()
    client.force_login(person)
    return client


@pytest.mark.parametrize(
    "key_id", ["%00abc", "ak_%00" + "A" * 24, "ak_" + "A" * 27, "x" * 500, "ak_ü" + "A" * 25]
)
def test_a_malformed_key_id_is_the_404_page(browser, key_id):
    for method in (browser.get, browser.post):
        response = method(f"/settings/api-keys/{key_id}/revoke")

        assert response.status_code == 404
        assert "We could not find that page" in response.content.decode()


@pytest.mark.parametrize("path", ["/settings/api-keys", "/settings/password", "/dashboard"])
def test_signed_in_pages_are_never_cached(browser, path):
    response = browser.get(path)

    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_signed_in_writes_spend_the_per_user_budget(browser, person, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "USER": Rate.parse("2/min", setting="T")}
    organization = person.memberships.get().organization_id
    url = f"/organizations/{organization}/projects"

    for name in ("one", "two"):
        assert browser.post(url, {"name": name}).status_code == 302
    response = browser.post(url, {"name": "three"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert "Too many requests. Please wait" in response.content.decode()
    assert list(person.memberships.get().organization.projects.values_list("name", flat=True))
    assert not person.memberships.get().organization.projects.filter(name="three").exists()


def test_a_create_form_posted_twice_at_once_issues_one_key(browser, person):
    form = browser.get("/settings/api-keys/new").content.decode()
    nonce = re.search(r'name="nonce" value="([^"]+)"', form).group(1)
    data = {"name": "twice", "scopes": ["user:read"], "expiry": "30", "nonce": nonce}

    first = browser.post("/settings/api-keys/new", data)
    # A second request that read the session before the first one saved it still sees the
    # token as unspent.
    session = browser.session
    session[FORM_TOKENS] = [nonce]
    session.save()
    second = browser.post("/settings/api-keys/new", data)

    assert first.status_code == 200
    assert "ba_" in first.content.decode()
    assert second.status_code == 302
    assert second["Location"] == "/settings/api-keys"
    assert ApiKey.objects.filter(user=person).count() == 1


def test_an_empty_post_to_a_project_form_is_refused_and_changes_nothing(
    browser, person, project_factory
):
    organization = person.memberships.get().organization
    project = project_factory(organization, name="Kept")

    for url in (
        f"/organizations/{organization.pk}/projects",
        f"/organizations/{organization.pk}/projects/{project.pk}/edit",
    ):
        response = browser.post(url)

        assert response.status_code == 400
        assert "This field is required." in response.content.decode()
    project.refresh_from_db()
    assert project.name == "Kept"
    assert organization.projects.count() == 1
