"""Settings → API keys: the list, the create form (the key shown once), and revocation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from importlib import import_module
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from access import scopes
from accounts.models import User
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import AuditEvent
from dashboard.forms import FULL_ACCESS_DESCRIPTIONS, ApiKeyCreateForm
from ratelimits.counters import Rate

pytestmark = pytest.mark.django_db

LIST_URL = "/settings/api-keys"
CREATE_URL = "/settings/api-keys/new"
ME_URL = "/api/user/me"
DAY = timedelta(days=1)
ALREADY_SENT = "That form was already sent, so no new key was created."
NOT_FOUND = "We could not find that page"
RAW_KEY = re.compile(r"ba_[0-9A-Za-z]{46}")


@pytest.fixture
def owner(team) -> User:
    return team["owner"]


@pytest.fixture
def client(browser, owner) -> Client:
    """The owner's browser (shadows pytest-django's anonymous `client`)."""
    return browser(owner)


def revoke_url(key: ApiKey | str) -> str:
    return reverse("dashboard:api-key-revoke", args=[getattr(key, "pk", key)])


def html(response) -> str:
    return response.content.decode()


def nonce_of(response) -> str:
    match = re.search(r'<input type="hidden" name="nonce" value="([^"]+)"', html(response))
    assert match, "the form has no nonce"
    return match.group(1)


def form_data(client: Client, **overrides: Any) -> dict[str, Any]:
    """A valid create form, with the nonce of a freshly shown form."""
    data = {
        "name": "CI deploys",
        "scopes": ["user:read"],
        "expiry": "30",
        "organization": "",
        "nonce": nonce_of(client.get(CREATE_URL)),
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def shown_key(response) -> str:
    match = re.search(r'<input type="text" id="api-key" value="([^"]*)"', html(response))
    assert match, "no key on the page"
    return match.group(1)


def row(response, key: ApiKey) -> str:
    match = re.search(rf'<tr [^>]*data-key-id="{key.pk}">(.*?)</tr>', html(response), re.DOTALL)
    assert match, f"no row for {key.name}"
    return match.group(1)


def checked_scopes(response) -> set[str]:
    boxes = re.findall(
        r'<input type="checkbox" name="scopes" value="([^"]+)"[^>]*>', html(response)
    )
    checked = re.findall(
        r'<input type="checkbox" name="scopes" value="([^"]+)"[^>]*? checked>', html(response)
    )
    assert boxes, "no scope boxes"
    return set(checked)


def error_on(response, field: str) -> list[str]:
    """The errors shown for a form field, in the container its input points to (the
    expiry and organization errors sit in their fieldset)."""
    body = html(response)
    if field in ("expiry", "organization"):
        section = {"expiry": "Expiration", "organization": "Organization"}[field]
        container = re.search(rf"<legend>{section}</legend>(.*?)</fieldset>", body, re.DOTALL)
        if field == "expiry":  # not the date's errors, which have their own container
            text = re.sub(r'<div id="id_expiry_date_error">.*?</div>', "", container.group(1))
        else:
            text = container.group(1)
    else:
        container_id = "scopes-error" if field == "scopes" else f"id_{field}_error"
        container = re.search(rf'<div id="{container_id}"[^>]*>(.*?)</div>', body, re.DOTALL)
        text = container.group(1) if container else ""
    return re.findall(r'<p class="error">([^<]*)</p>', text)


def assert_no_secret(body: str, key: ApiKey, raw: str) -> None:
    assert raw not in body
    assert key.digest not in body
    assert key.digest.split("$")[-1] not in body
    assert key.lookup not in body
    assert not RAW_KEY.search(body)


# --- Anonymous visitors --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", [LIST_URL, CREATE_URL, "revoke"])
def test_anonymous_visitor_is_sent_to_sign_in(browser, api_key_factory, owner, path, method):
    key, _raw = api_key_factory(user=owner)
    url = revoke_url(key) if path == "revoke" else path

    client = browser()
    if method == "POST":
        response = client.post(url, {"name": "x", "scopes": "user:read", "expiry": "never"})
    else:
        response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/sign-in?next={url}"
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.count() == 1


# --- The list ------------------------------------------------------------------------------


def test_the_list_shows_the_users_keys_and_only_theirs(
    client, team, owner, api_key_factory, user_factory
):
    organization = team["organization"]
    pinned, _ = api_key_factory(
        user=owner,
        name="Deploys",
        scopes=["projects:read", "projects:write"],
        organization=organization,
        expires_in=90 * 86400,
    )
    unpinned, _ = api_key_factory(user=owner, name="Reporting", scopes=["read:all"])
    api_key_factory(user=team["member"], name="Colleague's key")
    api_key_factory(user=user_factory(), name="Stranger key")

    response = client.get(LIST_URL)

    assert response.status_code == 200
    body = html(response)
    assert re.findall(r'<td class="name"><strong><a [^>]*>([^<]*)</a></strong>', body) == [
        "Reporting",
        "Deploys",
    ]
    assert "Stranger key" not in body
    assert "Colleague" not in body

    deploys = row(response, pinned)
    assert f'<div class="subtle mono">{pinned.start}…</div>' in deploys
    chips = re.findall(r'<span class="chip">([^<]*)</span>', deploys)
    assert chips == ["projects:read", "projects:write"]
    assert f"<td>{organization.name}</td>" in deploys
    assert f">{pinned.created_at:%-d %b %Y}</time>" in deploys
    assert f">{pinned.expires_at:%-d %b %Y}</time>" in deploys
    assert '<span class="badge active">Active</span>' in deploys
    assert f'href="{revoke_url(pinned)}"' in deploys

    reporting = row(response, unpinned)
    assert re.findall(r'<span class="chip">([^<]*)</span>', reporting) == ["read:all"]
    assert '<span class="subtle">All organizations</span>' in reporting
    assert re.search(r'<td class="nowrap">\s*<span class="subtle">Never</span>', reporting)


def test_an_empty_list_invites_to_create_a_key(client):
    response = client.get(LIST_URL)

    assert response.status_code == 200
    assert "You have no API keys yet." in html(response)
    assert f'href="{CREATE_URL}"' in html(response)


def test_an_expired_key_says_so_plainly(client, owner, api_key_factory):
    key, _ = api_key_factory(user=owner, name="Old", expires_in=3600)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - 2 * DAY)
    key.refresh_from_db()

    response = client.get(LIST_URL)

    assert response.status_code == 200
    shown = row(response, key)
    assert (
        f'<span class="overdue">Expired</span> <span class="subtle">{key.expires_at:%-d %b %Y}'
        in shown
    )
    assert '<span class="badge expired">Expired</span>' in shown
    assert "Active" not in shown


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (None, r"<span class=\"subtle\">Never</span></td>\s*<td><span class=\"badge"),
        (timedelta(seconds=0), r">(now|a second ago|\d+\xa0seconds ago)</time>"),
        (timedelta(minutes=5), r">5\xa0minutes ago</time>"),
        (timedelta(hours=2), r">2\xa0hours ago</time>"),
    ],
    ids=["never", "now", "minutes", "hours"],
)
def test_last_use_is_shown_as_a_relative_time(client, owner, api_key_factory, ago, shown):
    key, _ = api_key_factory(user=owner, expires_in=86400)
    if ago is not None:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - ago)

    response = client.get(LIST_URL)

    assert response.status_code == 200
    assert re.search(shown, row(response, key)), row(response, key)


def test_each_key_has_its_status_badge_and_revoked_keys_no_revoke_button(
    client, owner, api_key_factory
):
    active, _ = api_key_factory(user=owner, name="Fresh")
    expired, _ = api_key_factory(user=owner, name="Stale", expires_in=3600)
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - DAY)
    revoked, _ = api_key_factory(user=owner, name="Gone")
    api_key_revoke(key=revoked, revoked_by=owner)
    revoked.refresh_from_db()

    response = client.get(LIST_URL, {"revoked": "show"})

    assert response.status_code == 200
    for key, status in [(active, "Active"), (expired, "Expired"), (revoked, "Revoked")]:
        shown = row(response, key)
        assert f'<span class="badge {status.lower()}">{status}</span>' in shown
        has_button = f'aria-label="Revoke {key.name}">Revoke</a>' in shown
        assert has_button == (status != "Revoked")
    assert revoke_url(revoked) not in html(response)
    # The revoked key says when: the badge, then "on <date>".
    assert re.search(
        rf'<span class="badge revoked">Revoked</span><div class="subtle nowrap">on '
        rf'<time datetime="{re.escape(revoked.revoked_at.isoformat())}"[^>]*>'
        rf"{revoked.revoked_at:%-d %b %Y}</time></div>",
        row(response, revoked),
    ), row(response, revoked)
    assert '<div class="subtle nowrap">on ' not in row(response, active)


def test_revoked_keys_are_hidden_until_asked_for(client, owner, api_key_factory):
    active, _ = api_key_factory(user=owner, name="Fresh")
    revoked, _ = api_key_factory(user=owner, name="Gone")
    api_key_revoke(key=revoked, revoked_by=owner)

    hidden = client.get(LIST_URL)
    shown = client.get(LIST_URL, {"revoked": "show"})
    junk = client.get(LIST_URL, {"revoked": "junk"})

    assert hidden.status_code == shown.status_code == junk.status_code == 200
    assert re.findall(r'data-key-id="([^"]+)"', html(hidden)) == [active.pk]
    assert "Gone" not in html(hidden)
    assert '<a href="?revoked=show">Show revoked keys</a>' in html(hidden)
    assert re.findall(r'data-key-id="([^"]+)"', html(shown)) == [revoked.pk, active.pk]
    assert f'<a href="{LIST_URL}">Hide revoked keys</a>' in html(shown)
    assert "Show revoked keys" not in html(shown)
    assert re.findall(r'data-key-id="([^"]+)"', html(junk)) == [active.pk]


def test_a_list_of_revoked_keys_only_says_they_are_hidden(client, owner, api_key_factory):
    key, _ = api_key_factory(user=owner, name="Gone")
    api_key_revoke(key=key, revoked_by=owner)

    hidden = client.get(LIST_URL)
    shown = client.get(LIST_URL, {"revoked": "show"})

    assert hidden.status_code == shown.status_code == 200
    assert "every key you made is revoked" in html(hidden)
    assert "You have no API keys yet." not in html(hidden)
    assert '<a href="?revoked=show">Show revoked keys</a>' in html(hidden)
    assert "data-key-id" not in html(hidden)
    assert f'data-key-id="{key.pk}"' in html(shown)


def test_an_empty_list_offers_no_revoked_keys_to_show(client):
    response = client.get(LIST_URL)

    assert response.status_code == 200
    assert "You have no API keys yet." in html(response)
    assert "revoked" not in html(response)


def test_the_list_never_shows_key_material(client, owner, api_key_factory):
    keys = [api_key_factory(user=owner, name=f"Key {n}") for n in range(3)]

    response = client.get(LIST_URL)

    assert response.status_code == 200
    for key, raw in keys:
        assert key.start in html(response)
        assert_no_secret(html(response), key, raw)


def test_the_list_is_paginated(client, owner, api_key_factory):
    for n in range(30):
        api_key_factory(user=owner, name=f"Key {n:02}")

    first = client.get(LIST_URL)
    second = client.get(LIST_URL, {"page": 2})
    junk = client.get(LIST_URL, {"page": "junk"})

    assert first.status_code == second.status_code == junk.status_code == 200
    assert html(first).count("data-key-id=") == 25
    assert html(second).count("data-key-id=") == 5
    assert "Page 2 of 2" in html(second)
    assert html(junk).count("data-key-id=") == 25


def test_the_pages_of_the_list_keep_revoked_keys_shown(client, owner, api_key_factory):
    for n in range(30):
        key, _ = api_key_factory(user=owner, name=f"Key {n:02}")
        if n < 10:
            api_key_revoke(key=key, revoked_by=owner)

    hidden = client.get(LIST_URL)
    shown = client.get(LIST_URL, {"revoked": "show"})
    second = client.get(LIST_URL, {"revoked": "show", "page": 2})

    assert hidden.status_code == shown.status_code == second.status_code == 200
    assert 'aria-label="Pages"' not in html(hidden)  # 20 keys in use: one page, no links
    assert html(hidden).count("data-key-id=") == 20
    assert "Page 1 of 2" in html(shown)
    assert '<a href="?revoked=show&amp;page=2">Next →</a>' in html(shown)
    assert html(second).count("data-key-id=") == 5
    assert '<a href="?revoked=show&amp;page=1">← Previous</a>' in html(second)


def test_the_list_has_a_fixed_query_budget(
    client, owner, team, org_factory, member_factory, api_key_factory
):
    other = org_factory(name="Second org")
    member_factory(other, user=owner)
    api_key_factory(user=owner, organization=team["organization"])
    client.get(LIST_URL)  # the session settles
    with CaptureQueriesContext(connection) as one_key:
        assert client.get(LIST_URL).status_code == 200

    for n in range(30):
        pin = [team["organization"], other, None][n % 3]
        api_key_factory(user=owner, name=f"Key {n:02}", organization=pin)
    # 1 session, 2 user, 3 paginator count, 4 the page of keys joined to their organizations,
    # 5 the switcher's memberships joined to their organizations. Nothing per key.
    with CaptureQueriesContext(connection) as thirty_keys:
        response = client.get(LIST_URL)

    assert response.status_code == 200
    assert html(response).count("data-key-id=") == 25
    assert "Second org" in html(response)
    assert len(thirty_keys) == len(one_key) <= 5, [q["sql"] for q in thirty_keys]


def test_the_list_query_budget_is_pinned(
    client, owner, team, api_key_factory, django_assert_max_num_queries
):
    for n in range(30):
        api_key_factory(user=owner, name=f"Key {n:02}", organization=team["organization"])

    # session, user, count, keys with organizations, switcher memberships.
    with django_assert_max_num_queries(5):
        response = client.get(LIST_URL)

    assert response.status_code == 200
    assert html(response).count(f"<td>{team['organization'].name}</td>") == 25


# --- The create form ----------------------------------------------------------------------


def test_the_form_offers_every_scope_grouped_by_resource(client):
    response = client.get(CREATE_URL)

    assert response.status_code == 200
    body = html(response)
    groups = dict(
        re.findall(
            r'<fieldset class="scope-group">\s*<legend>([^<]+)</legend>(.*?)</fieldset>',
            body,
            re.DOTALL,
        )
    )
    expected: dict[str, list[str]] = {}
    for entry in scopes.catalogue():
        resource = entry["resource"]
        name = "Every resource" if resource == "*" else resource.replace("-", " ").capitalize()
        expected.setdefault(name, []).append(entry["scope"])
        if entry["scope"] not in FULL_ACCESS_DESCRIPTIONS:
            assert escape(entry["description"]) in body, entry
    assert list(groups) == list(expected)
    for name, members in expected.items():
        assert re.findall(r'name="scopes" value="([^"]+)"', groups[name]) == members
    assert {"User", "Projects", "Api keys", "Every resource"} <= set(groups)
    assert checked_scopes(response) == set()


def test_the_two_full_access_scopes_are_told_apart(client):
    response = client.get(CREATE_URL)

    assert response.status_code == 200
    described = dict(
        re.findall(
            r'<code>([^<]+)</code><span class="description" id="[^"]+">([^<]+)</span>',
            html(response),
        )
    )
    assert described["*"] == (
        "Everything: every scope of every resource, administration included."
    )
    assert described["admin"] == "The same as *, under the name some tools expect: everything."
    # Neither claims to be less than the other: both grant everything.
    assert scopes.scope_grants(["*"], "members:write")
    assert scopes.scope_grants(["admin"], "members:write")


def test_the_custom_date_is_labelled_and_explained(client):
    response = client.get(CREATE_URL)

    assert response.status_code == 200
    body = html(response)
    assert '<label for="id_expiry_date">Expires on</label>' in body
    assert (
        '<p class="help" id="id_expiry_date_helptext">The key works until the end of this day '
        "(UTC).</p>"
    ) in body
    date_input = re.search(r'<input type="date" name="expiry_date"[^>]*>', body).group(0)
    assert 'aria-describedby="id_expiry_date_helptext"' in date_input
    assert "(with" not in body
    # Shown without JavaScript; latchkey.js hides it unless "Custom date" is chosen.
    assert '<div class="field date-field" id="custom-date">' in body


def test_the_form_offers_presets_expiries_and_the_users_organizations(
    client, team, owner, org_factory, member_factory
):
    joined = org_factory(name="Zeta Works")
    member_factory(joined, user=owner)
    org_factory(name="Not Mine Inc")

    response = client.get(CREATE_URL)

    assert response.status_code == 200
    body = html(response)
    assert 'name="preset" value="read-only"' in body
    assert ">Read-only</button>" in body
    assert 'name="preset" value="full-access"' in body
    assert ">Full access</button>" in body
    radios = re.findall(r'<input type="radio" name="expiry" value="([^"]+)"', body)
    assert radios == ["7", "30", "90", "365", "custom", "never"]
    labels = re.findall(r'<label for="id_expiry_\d">([^<]+)</label>', body)
    assert labels == ["7 days", "30 days", "90 days", "1 year", "Custom date", "No expiration"]
    assert re.search(r'<input type="radio" name="expiry" value="30"[^>]* checked', body)
    assert "such a key works until you revoke it" in body
    assert 'type="date" name="expiry_date"' in body

    select = re.search(r'<select name="organization"[^>]*>(.*?)</select>', body, re.DOTALL)
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))
    assert options == [
        ("", "All my organizations"),
        *sorted(
            [(team["organization"].pk, team["organization"].name), (joined.pk, "Zeta Works")],
            key=lambda option: option[1],
        ),
    ]
    assert "Not Mine Inc" not in body
    assert nonce_of(response)


def test_each_form_gets_its_own_nonce(client):
    assert nonce_of(client.get(CREATE_URL)) != nonce_of(client.get(CREATE_URL))


# --- Creating a key ------------------------------------------------------------------------


def test_creating_a_key_shows_it_once_with_examples(client, owner, key_client):
    before = timezone.now()

    response = client.post(CREATE_URL, form_data(client))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    raw = shown_key(response)
    assert RAW_KEY.fullmatch(raw)
    assert raw.startswith(key.start)
    body = html(response)
    assert "Copy this key now. It will not be shown again." in body
    assert f'curl http://testserver{ME_URL} \\\n  -H "X-Api-Key: {raw}"' in body
    assert f'"http://testserver{ME_URL}",\n    headers={{"X-Api-Key": "{raw}"}},' in body
    assert body.count(raw) == 3
    assert '<span class="chip">user:read</span>' in body
    assert "All your organizations" in body

    assert (key.user, key.name, key.scopes, key.organization_id) == (
        owner,
        "CI deploys",
        ["user:read"],
        None,
    )
    assert before + 30 * DAY <= key.expires_at <= timezone.now() + 30 * DAY
    me = key_client(raw).get(ME_URL)
    assert me.status_code == 200
    assert me.json()["data"]["email"] == owner.email
    event = AuditEvent.objects.get(action="api_key.created")
    assert (event.actor, event.target_id) == (owner, key.pk)


def test_the_key_is_never_shown_after_its_creation_page(client, owner):
    data = form_data(client)
    created = client.post(CREATE_URL, data)
    assert created.status_code == 200
    raw = shown_key(created)
    key = ApiKey.objects.get()

    for later in (
        client.get(LIST_URL),
        client.get(revoke_url(key)),
        client.get(CREATE_URL),
        client.get(reverse("dashboard:home"), follow=True),
    ):
        assert later.status_code == 200
        assert_no_secret(html(later), key, raw)

    reloaded = client.post(CREATE_URL, data)  # a reload of the result page
    assert reloaded.status_code == 302
    assert reloaded["Location"] == LIST_URL
    assert_no_secret(html(reloaded), key, raw)
    listing = client.get(reloaded["Location"])
    assert ALREADY_SENT in html(listing)
    assert_no_secret(html(listing), key, raw)
    assert ApiKey.objects.count() == 1


def test_a_double_submission_creates_one_key(client):
    data = form_data(client)

    first = client.post(CREATE_URL, data)
    second = client.post(CREATE_URL, data)

    assert first.status_code == 200
    assert second.status_code == 302
    assert shown_key(first) not in html(second)
    assert ApiKey.objects.count() == 1


def test_two_forms_create_two_keys(client):
    first, second = form_data(client, name="One"), form_data(client, name="Two")

    assert client.post(CREATE_URL, second).status_code == 200
    assert client.post(CREATE_URL, first).status_code == 200

    assert sorted(ApiKey.objects.values_list("name", flat=True)) == ["One", "Two"]


def test_a_nonce_from_another_session_creates_nothing(browser, client, team):
    stolen = nonce_of(client.get(CREATE_URL))
    other = browser(team["member"])

    response = other.post(CREATE_URL, form_data(other, nonce=stolen))

    assert response.status_code == 302
    assert ALREADY_SENT in html(other.get(response["Location"]))
    assert ApiKey.objects.count() == 0


def test_a_key_without_user_read_points_its_examples_at_auth_status(client, key_client):
    response = client.post(CREATE_URL, form_data(client, scopes=["projects:read"]))

    assert response.status_code == 200
    raw = shown_key(response)
    assert "curl http://testserver/api/auth/status \\" in html(response)
    assert '"http://testserver/api/auth/status",' in html(response)
    assert ME_URL not in html(response)
    assert key_client(raw).get("/api/auth/status").status_code == 200


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("read-only", {e["scope"] for e in scopes.catalogue() if e["scope"].endswith(":read")}),
        ("full-access", set(scopes.CATALOGUE)),
    ],
)
def test_a_preset_ticks_the_boxes_without_javascript(client, team, preset, expected):
    data = form_data(
        client,
        name="Preset key",
        scopes=["audit:read"],
        expiry="90",
        organization=team["organization"].pk,
        preset=preset,
    )

    response = client.post(CREATE_URL, data)

    assert response.status_code == 200
    assert ApiKey.objects.count() == 0
    assert checked_scopes(response) == expected
    body = html(response)
    assert 'name="name" value="Preset key"' in body
    assert re.search(r'<input type="radio" name="expiry" value="90"[^>]* checked', body)
    assert re.search(rf'<option value="{team["organization"].pk}" selected>', body)
    assert nonce_of(response) == data["nonce"]

    # The form is then sent as it stands.
    sent = client.post(CREATE_URL, {**data, "preset": "", "scopes": sorted(expected)})
    assert sent.status_code == 200
    assert set(ApiKey.objects.get().scopes) == expected


def test_a_custom_date_expires_at_the_end_of_that_day(client):
    chosen = timezone.now().date() + timedelta(days=10)

    response = client.post(
        CREATE_URL, form_data(client, expiry="custom", expiry_date=chosen.isoformat())
    )

    assert response.status_code == 200
    end_of_day = datetime.combine(chosen + DAY, time.min, tzinfo=UTC)
    assert abs(ApiKey.objects.get().expires_at - end_of_day) < timedelta(seconds=2)


@pytest.mark.parametrize("when", ["tomorrow", "latest"])
def test_the_custom_date_bounds_are_inclusive(client, when):
    chosen = timezone.now().date() + DAY if when == "tomorrow" else ApiKeyCreateForm.latest_date()

    response = client.post(
        CREATE_URL, form_data(client, expiry="custom", expiry_date=chosen.isoformat())
    )

    assert response.status_code == 200, error_on(response, "expiry_date")
    end_of_day = datetime.combine(chosen + DAY, time.min, tzinfo=UTC)
    assert abs(ApiKey.objects.get().expires_at - end_of_day) < timedelta(seconds=2)


@pytest.mark.parametrize(
    ("expiry_date", "error"),
    [
        (lambda today: today - DAY, "Pick a date from"),
        (lambda today: today, "Pick a date from"),
        (lambda today: ApiKeyCreateForm.latest_date() + DAY, "Pick a date from"),
        (lambda today: today + timedelta(days=5000), "Pick a date from"),
        (lambda today: "", "Pick a date from"),
        (lambda today: "not-a-date", "Enter a valid date."),
        (lambda today: "2025-02-31", "Enter a valid date."),
        (lambda today: "99999-01-01", "Enter a valid date."),
    ],
    ids=["past", "today", "beyond-max", "far-future", "missing", "junk", "feb-31", "year-99999"],
)
def test_a_bad_custom_date_is_refused_on_the_date_field(client, expiry_date, error):
    value = expiry_date(timezone.now().date())
    data = form_data(client, expiry="custom", expiry_date=str(value))

    response = client.post(CREATE_URL, data)

    assert response.status_code == 400
    errors = error_on(response, "expiry_date")
    assert len(errors) == 1
    assert errors[0].startswith(error)
    assert ApiKey.objects.count() == 0
    assert not RAW_KEY.search(html(response))


def test_the_date_error_names_the_allowed_range(client):
    today = timezone.now().date()
    latest = ApiKeyCreateForm.latest_date()

    response = client.post(CREATE_URL, form_data(client, expiry="custom", expiry_date=""))

    assert error_on(response, "expiry_date") == [
        f"Pick a date from {today + DAY:%-d %B %Y} to {latest:%-d %B %Y}."
    ]


def test_a_shorter_maximum_lifetime_removes_the_longer_choices(client, settings):
    settings.APIKEYS = {**settings.APIKEYS, "MAX_EXPIRES_IN": 40 * 86400}

    form = client.get(CREATE_URL)
    too_long = client.post(CREATE_URL, form_data(client, expiry="90"))
    dated = client.post(
        CREATE_URL,
        form_data(
            client,
            expiry="custom",
            expiry_date=(timezone.now().date() + timedelta(days=45)).isoformat(),
        ),
    )

    radios = re.findall(r'<input type="radio" name="expiry" value="([^"]+)"', html(form))
    assert radios == ["7", "30", "custom", "never"]
    assert too_long.status_code == 400
    assert error_on(too_long, "expiry")[0].startswith("Select a valid choice.")
    assert dated.status_code == 400
    assert error_on(dated, "expiry_date")[0].startswith("Pick a date from")
    assert ApiKey.objects.count() == 0


def test_no_expiration_creates_a_key_that_never_expires(client):
    response = client.post(CREATE_URL, form_data(client, expiry="never"))

    assert response.status_code == 200
    assert ApiKey.objects.get().expires_at is None
    assert "<dt>Expires</dt><dd>Never</dd>" in html(response)


def test_a_key_pinned_to_the_users_organization(client, team):
    organization = team["organization"]

    response = client.post(CREATE_URL, form_data(client, organization=organization.pk))

    assert response.status_code == 200
    assert ApiKey.objects.get().organization == organization
    assert f"<dt>Organization</dt><dd>{organization.name}</dd>" in html(response)


@pytest.mark.parametrize("which", ["foreign", "unknown", "lower-case-own"])
def test_a_key_cannot_be_pinned_outside_the_users_organizations(client, team, which):
    organization_id = {
        "foreign": team["outsider"].memberships.get().organization_id,
        "unknown": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "lower-case-own": team["organization"].pk.lower(),
    }[which]

    response = client.post(CREATE_URL, form_data(client, organization=organization_id))

    assert response.status_code == 400
    errors = error_on(response, "organization")
    assert errors == [
        f"Select a valid choice. {organization_id} is not one of the available choices."
    ]
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "   "}, "name", "This field is required."),
        (
            {"name": "n" * 101},
            "name",
            "Ensure this value has at most 100 characters (it has 101).",
        ),
        ({"scopes": []}, "scopes", "Choose at least one scope."),
        (
            {"scopes": ["user:read", "root:all"]},
            "scopes",
            "Select a valid choice. root:all is not one of the available choices.",
        ),
        ({"expiry": "forever"}, "expiry", "Select a valid choice."),
        ({"expiry": ""}, "expiry", "This field is required."),
    ],
    ids=[
        "blank-name",
        "whitespace-name",
        "long-name",
        "no-scopes",
        "unknown-scope",
        "junk-expiry",
        "no-expiry",
    ],
)
def test_an_invalid_key_is_refused_with_the_reason(client, overrides, field, error):
    response = client.post(CREATE_URL, form_data(client, **overrides))

    assert response.status_code == 400
    assert any(shown.startswith(error) for shown in error_on(response, field)), html(response)
    assert ApiKey.objects.count() == 0
    assert not RAW_KEY.search(html(response))


@pytest.mark.parametrize("nonce", ["", "x" * 65])
def test_a_form_without_a_usable_nonce_creates_nothing(client, nonce):
    response = client.post(CREATE_URL, form_data(client, nonce=nonce))

    assert response.status_code == 400
    assert ApiKey.objects.count() == 0
    assert not RAW_KEY.search(html(response))


def test_a_refused_form_keeps_its_nonce_and_can_be_corrected(client):
    data = form_data(client, name="")
    refused = client.post(CREATE_URL, data)
    assert refused.status_code == 400
    assert nonce_of(refused) == data["nonce"]

    response = client.post(CREATE_URL, {**data, "name": "Fixed"})

    assert response.status_code == 200
    assert ApiKey.objects.get().name == "Fixed"


def test_creating_keys_is_rate_limited(client, settings):
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "KEY_CREATE": Rate.parse("1/hour", setting="RATELIMIT_KEY_CREATE"),
    }
    assert client.post(CREATE_URL, form_data(client, name="First")).status_code == 200

    response = client.post(CREATE_URL, form_data(client, name="Second"))

    assert response.status_code == 429
    assert "Too many attempts. Please wait" in html(response)
    assert int(response["Retry-After"]) > 0
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["First"]
    assert not RAW_KEY.search(html(response))


# --- Revoking a key ------------------------------------------------------------------------


def test_the_revoke_page_asks_first(client, owner, api_key_factory, key_client):
    key, raw = api_key_factory(user=owner, name="Deploys")

    response = client.get(revoke_url(key))

    assert response.status_code == 200
    assert "Revoke “Deploys”?" in html(response)
    assert f"<code>{key.start}…</code>" in html(response)
    assert_no_secret(html(response), key, raw)
    key.refresh_from_db()
    assert key.revoked_at is None
    assert key_client(raw).get(ME_URL).status_code == 200


def test_revoking_a_key_stops_it_at_once(client, owner, api_key_factory, key_client):
    key, raw = api_key_factory(user=owner, name="Deploys")

    response = client.post(revoke_url(key))

    assert response.status_code == 302
    # Back to the list with revoked keys shown: the key is seen revoked.
    assert response["Location"] == f"{LIST_URL}?revoked=show"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_by == owner
    listing = client.get(response["Location"])
    assert "“Deploys” is revoked. It stops working immediately." in html(listing)
    assert '<span class="badge revoked">Revoked</span>' in row(listing, key)
    refused = key_client(raw).get(ME_URL)
    assert refused.status_code == 401
    assert refused.json()["code"] == "KEY_REVOKED"


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_users_key_is_not_found(client, team, api_key_factory, key_client, method):
    key, raw = api_key_factory(user=team["member"], name="Colleague key")

    response = getattr(client, method)(revoke_url(key))

    assert response.status_code == 404
    assert NOT_FOUND in html(response)
    assert "Colleague key" not in html(response)
    key.refresh_from_db()
    assert key.revoked_at is None
    assert key_client(raw).get(ME_URL).status_code == 200


@pytest.mark.parametrize(
    "key_id",
    [
        "ak_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "junk",
        "x" * 500,
        "%00",
        "ключ",
        "ak_' OR '1'='1",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_key_is_not_found(client, owner, api_key_factory, key_id, method):
    key, _ = api_key_factory(user=owner)

    response = getattr(client, method)(f"/settings/api-keys/{key_id}/revoke")

    assert response.status_code == 404
    assert NOT_FOUND in html(response)
    key.refresh_from_db()
    assert key.revoked_at is None


def test_a_revoked_keys_page_says_it_is_already_revoked(client, owner, api_key_factory):
    key, _ = api_key_factory(user=owner, name="Gone")
    api_key_revoke(key=key, revoked_by=owner)
    key.refresh_from_db()
    revoked_at = key.revoked_at

    page = client.get(revoke_url(key))
    again = client.post(revoke_url(key))

    assert page.status_code == 200
    assert "“Gone” is already revoked" in html(page)
    assert "Revoke key</button>" not in html(page)
    assert again.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at == revoked_at


def test_revoking_needs_the_csrf_token(browser, owner, api_key_factory):
    key, _ = api_key_factory(user=owner)
    client = browser(owner, enforce_csrf_checks=True)

    response = client.post(revoke_url(key))

    assert response.status_code == 403
    assert "This form has expired" in html(response)
    key.refresh_from_db()
    assert key.revoked_at is None


def test_creating_needs_the_csrf_token(browser, owner):
    client = browser(owner, enforce_csrf_checks=True)

    response = client.post(CREATE_URL, form_data(client))

    assert response.status_code == 403
    assert ApiKey.objects.count() == 0


# --- Odd input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": ["One", "Two"]},
        {"expiry": ["30", "never"]},
        {"organization": ["", "x"]},
        {"nonce": ["a", "b"]},
        {"name": "x" * 100_000},
        {"name": "Ключ 🔑 鍵"},
        {"name": "\u202eevil"},
        {"name": "nul\x00"},
        {"scopes": [""]},
        {"scopes": ["user:read\x00"]},
        {"scopes": ["x" * 10_000]},
        {"scopes": ["🔑"]},
        {"scopes": ["1", "None", "{}", "[]"]},
        {"scopes": ["user:read"] * 500},
        {"expiry": "\uff13\uff10"},
        {"expiry": "30.0"},
        {"expiry": "-30"},
        {"expiry": "custom", "expiry_date": "\u0662\u0660\u0663\u0660-\u0660\u0661-\u0660\u0661"},
        {"expiry": "custom", "expiry_date": "9999-12-31"},
        {"expiry": "custom", "expiry_date": "0001-01-01"},
        {"expiry": "custom", "expiry_date": "x" * 10_000},
        {"organization": "\x00"},
        {"organization": "x" * 10_000},
        {"nonce": "\x00"},
        {"preset": "read-only", "expiry_date": "junk", "organization": "nope"},
        {"preset": ["read-only", "nope"]},
        {"preset": "nope"},
        {"scopes[]": "user:read"},
    ],
)
def test_odd_input_never_breaks_the_form(client, overrides):
    response = client.post(CREATE_URL, form_data(client, **overrides))

    assert response.status_code in (200, 302, 400)
    if response.status_code != 200:
        assert ApiKey.objects.count() == 0
        assert not RAW_KEY.search(html(response))


def test_a_json_body_creates_nothing(client):
    response = client.post(
        CREATE_URL,
        {"name": "Sneaky", "scopes": ["user:read"], "expiry": "30"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert ApiKey.objects.count() == 0


def test_a_name_with_markup_is_escaped(client, owner, api_key_factory):
    api_key_factory(user=owner, name="<img src=x onerror=alert(1)>")

    response = client.get(LIST_URL)

    assert "<img src=x" not in html(response)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html(response)


# --- Races and configuration -----------------------------------------------------------------


def test_a_membership_lost_while_issuing_gives_the_form_back(client, team, monkeypatch):
    from apikeys import services

    organization = team["organization"]
    issue = services.api_key_issue

    def removed_meanwhile(**kwargs: Any):
        # The owner leaves the organization between the form's check and the issuing.
        organization.memberships.filter(user=team["owner"]).delete()
        return issue(**kwargs)

    monkeypatch.setattr(services, "api_key_issue", removed_meanwhile)
    data = form_data(client, organization=organization.pk)

    response = client.post(CREATE_URL, data)

    assert response.status_code == 400
    assert (
        '<div class="notice error" role="alert"><p>This credential does not belong to the '
        "requested organization.</p></div>"
    ) in html(response)
    assert ApiKey.objects.count() == 0
    # The spent nonce is replaced, so the corrected form can still be sent.
    assert nonce_of(response) != data["nonce"]
    retry = client.post(CREATE_URL, {**data, "organization": "", "nonce": nonce_of(response)})
    assert retry.status_code == 200
    assert ApiKey.objects.get().organization_id is None


def test_concurrent_submissions_of_one_form_create_one_key(client):
    # Two requests of a double click that both loaded the session before either saved it:
    # the second one sees the session as it was before the first spent the nonce.
    data = form_data(client)
    Session = import_module(django_settings.SESSION_ENGINE).SessionStore.get_model_class()
    session = Session.objects.get()
    before = session.session_data

    first = client.post(CREATE_URL, data)
    Session.objects.filter(pk=session.pk).update(session_data=before)
    second = client.post(CREATE_URL, data)

    assert first.status_code == 200
    assert second.status_code == 302, "the same form issued a second key"
    assert ApiKey.objects.count() == 1


class DownCache(BaseCache):
    """A cache whose server does not answer, as when Redis is down."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise redis.exceptions.ConnectionError("Error 111 connecting to redis. Refused.")

    add = get = set = touch = delete = has_key = incr = clear = _refuse
    get_many = set_many = delete_many = _refuse


@pytest.fixture
def cache_switch(settings):
    """Take the cache down (True) or bring it back (False)."""
    working = settings.CACHES

    def down(is_down: bool) -> None:
        settings.CACHES = {"default": {"BACKEND": f"{__name__}.DownCache"}} if is_down else working

    return down


def test_with_the_cache_down_no_key_is_issued_and_the_form_comes_back(client, cache_switch):
    data = form_data(client, name="During the outage")
    cache_switch(True)

    # A double click while the cache is down: neither post can be told from the other.
    responses = [client.post(CREATE_URL, data) for _ in range(2)]

    for response in responses:
        assert response.status_code == 503
        assert response["Retry-After"] == "60"
        body = html(response)
        assert (
            "Keys cannot be created right now: a service we rely on is unavailable. Nothing "
            "was created. Please try again in a minute."
        ) in body
        assert 'value="During the outage"' in body  # the form as it was sent
        assert RAW_KEY.search(body) is None
        assert nonce_of(response) == data["nonce"]  # unspent: nothing was created with it
    assert ApiKey.objects.count() == 0
    # Once the cache is back, the form as it came back creates exactly one key.
    cache_switch(False)
    retry = client.post(CREATE_URL, data)
    again = client.post(CREATE_URL, data)
    assert retry.status_code == 200
    assert RAW_KEY.search(shown_key(retry))
    assert again.status_code == 302
    assert ApiKey.objects.get().name == "During the outage"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("get", LIST_URL, 200), ("get", CREATE_URL, 200), ("post", "revoke", 302)],
)
def test_the_other_key_pages_work_with_the_cache_down(
    client, owner, api_key_factory, cache_switch, method, path, status
):
    key, _raw = api_key_factory(user=owner, name="Old key")
    cache_switch(True)

    response = getattr(client, method)(revoke_url(key) if path == "revoke" else path)

    assert response.status_code == status
    if method == "post":
        assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    else:
        assert "API key" in html(response)


def test_expiry_choices_below_the_minimum_lifetime_are_not_offered(client, settings):
    settings.APIKEYS = {**settings.APIKEYS, "MIN_EXPIRES_IN": 10 * 86400}
    soon = (timezone.now().date() + 2 * DAY).isoformat()

    form = client.get(CREATE_URL)
    preset = client.post(CREATE_URL, form_data(client, expiry="7"))
    dated = client.post(CREATE_URL, form_data(client, expiry="custom", expiry_date=soon))

    radios = re.findall(r'<input type="radio" name="expiry" value="([^"]+)"', html(form))
    assert "7" not in radios, "a lifetime the server refuses is offered"
    assert preset.status_code == dated.status_code == 400
    assert not any("seconds" in error for error in error_on(preset, "expiry"))
    assert error_on(dated, "expiry_date"), "a too-near date is not refused on the date field"
    assert ApiKey.objects.count() == 0
