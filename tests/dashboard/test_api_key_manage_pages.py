"""Settings → API keys → a key: its page, editing its name and scopes, rolling it (the new key
shown once, the current one kept for the overlap chosen)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from apikeys.models import ApiKey
from audit.models import Action, AuditEvent
from ratelimits.counters import Rate

pytestmark = pytest.mark.django_db

ME_URL = "/api/user/me"
NOT_FOUND = "We could not find that page"
RAW_KEY = re.compile(r"ba_[0-9A-Za-z]{46}")


@pytest.fixture
def owner(team) -> User:
    return team["owner"]


@pytest.fixture
def client(browser, owner) -> Client:
    """The owner's browser (shadows pytest-django's anonymous `client`)."""
    return browser(owner)


def page_url(key: ApiKey | str) -> str:
    return reverse("dashboard:api-key", args=[getattr(key, "pk", key)])


def edit_url(key: ApiKey | str) -> str:
    return reverse("dashboard:api-key-edit", args=[getattr(key, "pk", key)])


def roll_url(key: ApiKey | str) -> str:
    return reverse("dashboard:api-key-roll", args=[getattr(key, "pk", key)])


def html(response) -> str:
    return response.content.decode()


def nonce_of(response) -> str:
    match = re.search(r'<input type="hidden" name="nonce" value="([^"]+)"', html(response))
    assert match, "the roll form has no nonce"
    return match.group(1)


def checked_scopes(response) -> set[str]:
    return set(
        re.findall(
            r'<input type="checkbox" name="scopes" value="([^"]+)"[^>]*? checked>', html(response)
        )
    )


def shown_key(response) -> str:
    match = re.search(r'<input type="text" id="api-key" value="([^"]*)"', html(response))
    assert match, "no key on the page"
    return match.group(1)


def roll(client: Client, key: ApiKey, overlap: str = "3600", **extra: Any):
    data = {"overlap": overlap, "nonce": nonce_of(client.get(page_url(key))), **extra}
    return client.post(roll_url(key), data)


# --- The page --------------------------------------------------------------------------------


def test_a_keys_page_shows_it_and_offers_edit_and_roll(client, owner, team, api_key_factory):
    key, raw = api_key_factory(
        user=owner,
        name="Deploys",
        scopes=["projects:read", "projects:write"],
        organization=team["organization"],
        expires_in=86400,
    )

    response = client.get(page_url(key))

    assert response.status_code == 200
    body = html(response)
    assert "<h1>Deploys</h1>" in body
    assert f"{key.start}… · {key.pk}" in body
    assert re.findall(r'<span class="chip">([^<]*)</span>', body) == [
        "projects:read",
        "projects:write",
    ]
    assert team["organization"].name in body
    assert checked_scopes(response) == {"projects:read", "projects:write"}
    assert 'name="name"' in body and 'value="Deploys"' in body
    assert f'action="{edit_url(key)}"' in body and f'action="{roll_url(key)}"' in body
    labels = re.findall(r'name="overlap" value="(\d+)"[^>]*>\s*<label[^>]*>([^<]+)</label>', body)
    assert labels == [
        ("0", "Now"),
        ("3600", "In 1 hour"),
        ("86400", "In 24 hours"),
        ("604800", "In 7 days"),
    ]
    assert 'name="csrfmiddlewaretoken"' in body
    assert raw not in body and key.lookup not in body and not RAW_KEY.search(body)
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_list_links_each_key_to_its_page(client, owner, api_key_factory):
    key, _raw = api_key_factory(user=owner, name="Deploys")

    response = client.get(reverse("dashboard:api-keys"))

    assert f'<strong><a href="{page_url(key)}" title="Edit or roll Deploys">Deploys</a>' in html(
        response
    )


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_key_that_no_longer_works_offers_neither_form(client, owner, api_key_factory, state):
    key, _raw = api_key_factory(user=owner, **{state: True})

    response = client.get(page_url(key))

    assert response.status_code == 200
    assert f'<span class="badge {state}">{state.capitalize()}</span>' in html(response)
    assert "key-edit-form" not in html(response)
    assert "Roll key" not in html(response)


@pytest.mark.parametrize("path", [page_url, edit_url, roll_url], ids=["page", "edit", "roll"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_persons_or_an_unknown_key_is_not_found(
    client, team, api_key_factory, path, method
):
    theirs, _raw = api_key_factory(user=team["member"], name="Colleague key")

    for key_id in (theirs.pk, "ak_01ARZ3NDEKTSV4RRFFQ69G5FAV", "junk", "%00", "x" * 500):
        response = getattr(client, method)(path(key_id), {"name": "x", "scopes": "user:read"})
        assert response.status_code == 404, key_id
        assert NOT_FOUND in html(response)
        assert "Colleague key" not in html(response)
    after = ApiKey.objects.get(pk=theirs.pk)
    assert (after.name, after.lookup) == ("Colleague key", theirs.lookup)


@pytest.mark.parametrize("path", [page_url, edit_url, roll_url], ids=["page", "edit", "roll"])
def test_an_anonymous_visitor_is_sent_to_sign_in(browser, owner, api_key_factory, path):
    key, _raw = api_key_factory(user=owner)

    response = browser().post(path(key), {"overlap": "0"})

    assert response.status_code == 302
    assert response["Location"] == f"/sign-in?next={path(key)}"
    assert ApiKey.objects.get(pk=key.pk).lookup == key.lookup


@pytest.mark.parametrize("path", [edit_url, roll_url], ids=["edit", "roll"])
def test_a_get_of_a_form_address_goes_back_to_the_page(client, owner, api_key_factory, path):
    key, _raw = api_key_factory(user=owner)

    response = client.get(path(key))

    assert response.status_code == 302
    assert response["Location"] == page_url(key)


@pytest.mark.parametrize("path", [edit_url, roll_url], ids=["edit", "roll"])
def test_the_forms_need_the_csrf_token(browser, owner, api_key_factory, path):
    key, _raw = api_key_factory(user=owner, name="Kept")
    client = browser(owner, enforce_csrf_checks=True)

    response = client.post(path(key), {"name": "x", "scopes": "user:read", "overlap": "0"})

    assert response.status_code == 403
    assert "This form has expired" in html(response)
    after = ApiKey.objects.get(pk=key.pk)
    assert (after.name, after.lookup) == ("Kept", key.lookup)


# --- Edit ------------------------------------------------------------------------------------


def test_editing_saves_the_name_and_scopes(client, owner, api_key_factory, key_client):
    key, raw = api_key_factory(user=owner, name="Before", scopes=["user:read", "projects:read"])

    response = client.post(edit_url(key), {"name": "After", "scopes": ["projects:read"]})

    assert response.status_code == 302
    assert response["Location"] == page_url(key)
    after = ApiKey.objects.get(pk=key.pk)
    assert (after.name, after.scopes) == ("After", ["projects:read"])
    page = client.get(response["Location"])
    assert "“After” is saved. It works as shown from its next request." in html(page)
    assert checked_scopes(page) == {"projects:read"}
    assert key_client(raw).get(ME_URL).status_code == 403  # user:read is gone
    assert AuditEvent.objects.filter(action=Action.KEY_UPDATED, target_id=key.pk).exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "Kept"}, "Choose at least one scope."),
        ({"name": "", "scopes": ["user:read"]}, "This field is required."),
        ({"name": "Kept", "scopes": ["nope:read"]}, "Select a valid choice."),
        ({"name": "x" * 101, "scopes": ["user:read"]}, "at most 100 characters"),
    ],
    ids=["no-scope", "no-name", "unknown-scope", "long-name"],
)
def test_a_refused_edit_comes_back_with_its_error_and_changes_nothing(
    client, owner, api_key_factory, data, error
):
    key, _raw = api_key_factory(user=owner, name="Kept", scopes=["user:read"])

    response = client.post(edit_url(key), data)

    assert response.status_code == 400
    assert error in html(response)
    after = ApiKey.objects.get(pk=key.pk)
    assert (after.name, after.scopes) == ("Kept", ["user:read"])


def test_a_preset_ticks_its_boxes_without_javascript(client, owner, api_key_factory):
    key, _raw = api_key_factory(user=owner, name="Kept", scopes=["user:write"])

    response = client.post(edit_url(key), {"name": "Renamed", "preset": "read-only"})

    assert response.status_code == 200
    assert checked_scopes(response) == {
        scope for scope in checked_scopes(response) if scope.endswith(":read")
    }
    assert "user:read" in checked_scopes(response)
    assert 'value="Renamed"' in html(response)
    assert ApiKey.objects.get(pk=key.pk).scopes == ["user:write"]


def test_an_edit_of_a_key_revoked_meanwhile_says_so(client, owner, api_key_factory):
    key, _raw = api_key_factory(user=owner, name="Kept", revoked=True)

    response = client.post(edit_url(key), {"name": "New", "scopes": ["user:read"]}, follow=True)

    assert "This API key is revoked or expired" in html(response)
    assert ApiKey.objects.get(pk=key.pk).name == "Kept"


# --- Roll ------------------------------------------------------------------------------------


def test_rolling_shows_the_new_key_once_and_keeps_the_old_one_for_the_overlap(
    client, owner, api_key_factory, key_client
):
    key, old = api_key_factory(user=owner, name="Deploys", scopes=["user:read"])

    response = roll(client, key, "3600")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = shown_key(response)
    assert new != old and RAW_KEY.fullmatch(new)
    body = html(response)
    assert "Your rolled API key" in body
    assert "The key it replaces keeps working until" in body
    assert f'data-leave-to="{page_url(key)}"' in body
    assert old not in body
    assert key_client(old).get(ME_URL).status_code == 200
    assert key_client(new).get(ME_URL).status_code == 200
    after = ApiKey.objects.get(pk=key.pk)
    assert (after.name, after.scopes, after.previous_lookup) == (
        "Deploys",
        ["user:read"],
        key.lookup,
    )
    page = client.get(page_url(key))
    assert 'id="previous-key"' in html(page)
    assert new not in html(page)


def test_rolling_now_stops_the_old_key_at_once(client, owner, api_key_factory, key_client):
    key, old = api_key_factory(user=owner, scopes=["user:read"])

    response = roll(client, key, "0")

    assert "The key it replaces has stopped working." in html(response)
    refused = key_client(old).get(ME_URL)
    assert (refused.status_code, refused.json()["code"]) == (401, "KEY_EXPIRED")
    assert key_client(shown_key(response)).get(ME_URL).status_code == 200


def test_a_resent_roll_form_does_not_roll_again(client, owner, api_key_factory, key_client):
    key, _old = api_key_factory(user=owner, scopes=["user:read"])
    nonce = nonce_of(client.get(page_url(key)))
    first = client.post(roll_url(key), {"overlap": "0", "nonce": nonce})

    again = client.post(roll_url(key), {"overlap": "0", "nonce": nonce})

    assert again.status_code == 302
    assert again["Location"] == page_url(key)
    assert not RAW_KEY.search(html(again))
    assert "That form was already sent, so the key was not rolled again." in html(
        client.get(again["Location"])
    )
    assert key_client(shown_key(first)).get(ME_URL).status_code == 200
    assert AuditEvent.objects.filter(action=Action.KEY_ROLLED).count() == 1


@pytest.mark.parametrize(
    "data",
    [{"overlap": "60"}, {"overlap": "-1"}, {"overlap": ""}, {}, {"overlap": "0", "nonce": ""}],
    ids=["not-offered", "negative", "blank", "nothing", "no-nonce"],
)
def test_a_refused_roll_form_rolls_nothing(client, owner, api_key_factory, data):
    key, _old = api_key_factory(user=owner)
    nonce = nonce_of(client.get(page_url(key)))

    response = client.post(roll_url(key), {"nonce": nonce, **data})

    assert response.status_code == 400
    assert not RAW_KEY.search(html(response))
    assert ApiKey.objects.get(pk=key.pk).lookup == key.lookup


def test_rolling_spends_the_key_creation_budget(client, owner, api_key_factory, settings):
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "KEY_CREATE": Rate.parse("1/hour", setting="RATELIMIT_KEY_CREATE"),
    }
    key, _old = api_key_factory(user=owner)
    assert roll(client, key).status_code == 200
    lookup = ApiKey.objects.get(pk=key.pk).lookup

    response = roll(client, key)

    assert response.status_code == 429
    assert "Too many attempts. Please wait" in html(response)
    assert int(response["Retry-After"]) > 0
    assert ApiKey.objects.get(pk=key.pk).lookup == lookup
