"""The API keys admin: list, filters, search, finding a reported key (posted, never in a URL),
read-only change page, revoke."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apikeys import conf, crypto
from apikeys.admin import ApiKeyAdmin
from apikeys.models import ApiKey
from apikeys.services import api_key_issue, api_key_revoke, api_key_roll
from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:apikeys_apikey_changelist")
FIND_KEY = reverse("admin:apikeys_apikey_find_key")


def change_url(key: ApiKey) -> str:
    return reverse("admin:apikeys_apikey_change", args=[quote(key.pk)])


@pytest.fixture
def keys(api_key_factory, org_factory, user_factory):
    """Three keys of three owners: active and pinned, expired, revoked."""
    pinned_owner = user_factory(email="pinned-owner@example.com")
    organization = org_factory(owner=pinned_owner, name="Acme Widgets")
    active, active_raw = api_key_factory(
        user=pinned_owner,
        name="Alpha deploy",
        scopes=["projects:read", "user:read"],
        organization=organization,
    )
    expired, expired_raw = api_key_factory(
        user=user_factory(email="expired-owner@example.com"),
        name="Bravo nightly",
        scopes=["projects:*"],
        expires_in=60,
    )
    expired.expires_at = timezone.now() - timedelta(minutes=1)
    expired.save(update_fields=["expires_at"])
    revoked, revoked_raw = api_key_factory(
        user=user_factory(email="revoked-owner@example.com"),
        name="Charlie laptop",
        scopes=["read:all", "api-keys:write"],
    )
    api_key_revoke(key=revoked, revoked_by=None, by="command")
    return {
        "active": (active, active_raw),
        "expired": (expired, expired_raw),
        "revoked": (revoked, revoked_raw),
        "organization": organization,
    }


NAMES = {"active": "Alpha deploy", "expired": "Bravo nightly", "revoked": "Charlie laptop"}


def listed_names(html: str) -> set[str]:
    return {state for state, name in NAMES.items() if name in html}


def assert_no_key_material(html: str, key: ApiKey, raw: str) -> None:
    """Neither the key, nor its digest (whole or its hex), nor its lookup id is on the page."""
    assert raw not in html
    assert key.digest not in html
    assert key.digest.partition("$")[2] not in html
    assert key.lookup not in html


def test_the_list_shows_owner_organization_start_scopes_dates_and_status(admin_client, keys):
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert listed_names(html) == {"active", "expired", "revoked"}
    for column in (
        "owner_email",
        "organization",
        "start",
        "scope_list",
        "created_at",
        "expires_at",
        "last_used_at",
        "key_status",
    ):
        assert f'class="field-{column}' in html
    active, _raw = keys["active"]
    assert "pinned-owner@example.com" in html
    assert '<td class="field-organization nowrap">Acme Widgets</td>' in html
    assert f'<td class="field-start">{active.start}</td>' in html
    assert '<td class="field-scope_list">projects:read, user:read</td>' in html
    for status in ("active", "expired", "revoked"):
        assert f'<td class="field-key_status">{status}</td>' in html
    for key, raw in (keys["active"], keys["expired"], keys["revoked"]):
        assert_no_key_material(html, key, raw)


@pytest.mark.parametrize("status", ["active", "expired", "revoked"])
def test_the_status_filter_lists_only_keys_in_that_status(admin_client, keys, status):
    response = admin_client.get(CHANGELIST, {"status": status})

    assert response.status_code == 200
    assert listed_names(response.content.decode()) == {status}


def test_the_organization_filter_lists_only_keys_pinned_to_it(admin_client, keys):
    organization = keys["organization"]

    response = admin_client.get(CHANGELIST, {"organization__id__exact": organization.pk})

    assert response.status_code == 200
    html = response.content.decode()
    assert listed_names(html) == {"active"}
    assert "By organization" in html


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("projects:read", {"active"}),
        ("user:read", {"active"}),
        ("projects:*", {"expired"}),  # the wildcard as granted, not what it implies
        ("read:all", {"revoked"}),
        ("api-keys:write", {"revoked"}),
        ("members:read", set()),
        ("no-such:scope", set()),
    ],
)
def test_the_scope_filter_lists_keys_holding_that_scope(admin_client, keys, scope, expected):
    response = admin_client.get(CHANGELIST, {"scope": scope})

    assert response.status_code == 200
    assert listed_names(response.content.decode()) == expected


def test_the_scope_filter_offers_the_catalogue(admin_client, keys):
    response = admin_client.get(CHANGELIST)

    html = response.content.decode()
    assert "By scope" in html
    for scope in ("user:read", "projects:write", "subscription:read", "projects:*", "read:all"):
        assert f"?{urlencode({'scope': scope})}" in html


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("expired-owner@example", {"expired"}),
        ("charlie LAPTOP", {"revoked"}),
        ("__id__", {"active"}),
        ("__start__", {"active"}),
    ],
)
def test_search_by_owner_email_name_key_id_and_start(admin_client, keys, term, expected):
    active, _raw = keys["active"]
    term = term.replace("__id__", active.pk).replace("__start__", active.start)

    response = admin_client.get(CHANGELIST, {"q": term})

    assert response.status_code == 200
    assert listed_names(response.content.decode()) == expected


def test_the_changelist_offers_a_form_that_posts_a_reported_key(admin_client, keys):
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)" id="find-key-form"[^>]*>(.*?)</form>', html, re.S
    )
    assert form, "no find-key form on the changelist"
    assert form.group(1) == FIND_KEY
    assert 'name="csrfmiddlewaretoken"' in form.group(2)
    assert 'name="key"' in form.group(2)
    assert "Find a reported key" in html
    # The search box's help sends a whole key to the form, not to the URL.
    assert "use “Find a reported key”" in html


@pytest.mark.parametrize("state", ["active", "expired", "revoked"])
@pytest.mark.parametrize(
    "pasted",
    [
        pytest.param("{raw}", id="the-key"),
        pytest.param("  {raw}\n", id="with-whitespace"),
        pytest.param("X-Api-Key: {raw}", id="a-header-line"),
        pytest.param("Found in a public gist: {raw} (line 12)", id="a-sentence"),
    ],
)
def test_a_posted_key_leads_to_a_token_free_list_of_exactly_that_key(
    admin_client, keys, state, pasted
):
    key, raw = keys[state]

    response = admin_client.post(FIND_KEY, {"key": pasted.format(raw=raw)})

    # Answered with a URL that names the key by its id, which is no secret.
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == CHANGELIST
    assert parse_qs(location.query) == {"q": [key.pk]}
    assert raw not in response["Location"]
    followed = admin_client.get(response["Location"])
    assert followed.status_code == 200
    html = followed.content.decode()
    assert listed_names(html) == {state}
    assert "1 result" in html
    assert f"Found the key you pasted: “{NAMES[state]}” ({key.start}…)." in html
    assert_no_key_material(html, key, raw)


@pytest.mark.parametrize("secret", ["previous", "current"])
def test_a_rolled_keys_previous_secret_is_found_too(admin_client, keys, secret):
    # A leaked secret still works during a roll's overlap: pasting it must find its key.
    key, previous = keys["active"]
    _key, current = api_key_roll(key=key, expires_old_in=3600)

    response = admin_client.post(FIND_KEY, {"key": previous if secret == "previous" else current})

    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query) == {"q": [key.pk]}


def wrong_checksum(raw: str) -> str:
    last = raw[-1]
    return raw[:-1] + ("A" if last != "A" else "B")


def same_lookup_other_secret(raw: str) -> str:
    """A well-formed key (right checksum) with the real key's lookup id but another secret:
    the lookup alone must prove nothing."""
    prefix = conf.prefix()
    body = raw[: -crypto.CHECKSUM_LENGTH]
    flipped = body[:-1] + ("a" if body[-1] != "a" else "b")
    forged = flipped + crypto.checksum(flipped)
    assert crypto.parse(forged, prefix).lookup == crypto.parse(raw, prefix).lookup
    return forged


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (wrong_checksum, "No API key matches the pasted key."),
        (same_lookup_other_secret, "No API key matches the pasted key."),
        (lambda raw: raw[:20], "That is not an API key: paste the whole key, as it was reported."),
        (lambda raw: "", "That is not an API key: paste the whole key, as it was reported."),
        (
            lambda raw: "x" * 5000,
            "That is not an API key: paste the whole key, as it was reported.",
        ),
    ],
    ids=["wrong-checksum", "same-lookup-other-secret", "truncated", "empty", "junk"],
)
def test_a_posted_text_that_is_no_real_key_finds_nothing(admin_client, keys, mangle, message):
    key, raw = keys["active"]
    presented = mangle(raw)

    response = admin_client.post(FIND_KEY, {"key": presented})

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    followed = admin_client.get(response["Location"])
    assert followed.status_code == 200
    html = followed.content.decode()
    assert message in html
    assert listed_names(html) == {"active", "expired", "revoked"}  # the unfiltered list
    if presented:
        assert presented not in html
    assert_no_key_material(html, key, raw)


@pytest.mark.parametrize(
    "term",
    [
        pytest.param("{raw}", id="the-key"),
        pytest.param(" {raw} ", id="with-spaces"),
        pytest.param("key {raw}", id="inside-other-text"),
        pytest.param("{wrong}", id="wrong-checksum"),
    ],
)
def test_a_whole_key_in_the_search_box_is_neither_looked_up_nor_shown(admin_client, keys, term):
    key, raw = keys["expired"]
    term = term.format(raw=raw, wrong=wrong_checksum(raw))

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST, {"q": term, "status": "expired"})

    # Not looked up: no query asked for the key's lookup id.
    assert not [q for q in queries if key.lookup in q["sql"]]
    # The key goes no further than this URL: the answer drops it and keeps the filters.
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == CHANGELIST
    assert parse_qs(location.query) == {"status": ["expired"]}
    followed = admin_client.get(response["Location"])
    assert followed.status_code == 200
    html = followed.content.decode()
    assert "A whole key is not searched for in the search box" in html
    assert "Paste it into “Find a reported key” instead." in html
    assert_no_key_material(html, key, raw)
    assert term.strip() not in html


def test_get_search_results_never_looks_a_key_up(operator, keys, django_assert_num_queries):
    model_admin = ApiKeyAdmin(ApiKey, admin.site)
    request = RequestFactory().get(CHANGELIST)
    request.user = operator
    _key, raw = keys["active"]

    with django_assert_num_queries(0):
        found, may_have_duplicates = model_admin.get_search_results(
            request, ApiKey.objects.all(), raw
        )
        assert list(found) == []
    assert may_have_duplicates is False


def test_the_find_key_form_takes_only_a_post(admin_client, keys):
    _key, raw = keys["active"]

    response = admin_client.get(FIND_KEY, {"key": raw})

    assert response.status_code == 405
    assert raw not in response.content.decode()


def test_the_find_key_form_needs_its_csrf_token(operator, keys):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    key, raw = keys["active"]

    response = client.post(FIND_KEY, {"key": raw})

    assert response.status_code == 403
    assert raw not in response.content.decode()
    assert key.pk not in response.get("Location", "")


def test_the_find_key_form_is_for_operators_only(client, keys, user_factory):
    _key, raw = keys["active"]
    anonymous = client.post(FIND_KEY, {"key": raw})
    staff_without_permission = Client()
    staff_without_permission.force_login(user_factory(is_staff=True))

    refused = staff_without_permission.post(FIND_KEY, {"key": raw})

    assert anonymous.status_code == 302
    assert urlsplit(anonymous["Location"]).path == reverse("admin:login")
    assert refused.status_code == 403
    assert raw not in refused.content.decode()


def test_the_change_page_shows_the_key_without_its_digest_or_lookup(admin_client, keys):
    key, raw = keys["active"]

    response = admin_client.get(change_url(key))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alpha deploy" in html
    assert key.start in html
    assert "projects:read, user:read" in html
    assert 'name="name"' in html
    # Read-only: the only inputs are the name, the CSRF token and the save buttons.
    for field in ("scopes", "expires_at", "revoked_at", "user", "organization", "digest"):
        assert f'name="{field}"' not in html
    assert_no_key_material(html, key, raw)


def test_the_change_page_changes_the_name_and_nothing_else(admin_client, keys, operator):
    key, _raw = keys["active"]
    before = ApiKey.objects.get(pk=key.pk)
    other_user = keys["expired"][0].user

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.post(
            change_url(key),
            {
                "name": "Alpha renamed",
                "scopes": '["*"]',
                "expires_at": "2000-01-01 00:00:00",
                "revoked_at": "2000-01-01 00:00:00",
                "user": other_user.pk,
                "organization": "",
                "lookup": "0" * 12,
                "digest": "v1$" + "0" * 64,
                "start": "ba_zzzzzz",
                "_save": "Save",
            },
        )

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    # Only the name is written, so a revocation committed meanwhile is never overwritten.
    (update,) = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "apikeys_apikey"')]
    assigned = update.split(" WHERE ", 1)[0]
    assert assigned.startswith('UPDATE "apikeys_apikey" SET "name" = ')
    for column in ("revoked_at", "revoked_by_id", "last_used_at", "scopes", "digest"):
        assert f'"{column}"' not in assigned
    after = ApiKey.objects.get(pk=key.pk)
    assert after.name == "Alpha renamed"
    for field in ("scopes", "expires_at", "revoked_at", "user_id", "organization_id"):
        assert getattr(after, field) == getattr(before, field)
    for field in ("lookup", "digest", "start"):
        assert getattr(after, field) == getattr(before, field)
    event = AuditEvent.objects.get(action=Action.KEY_RENAMED, target_id=key.pk)
    assert event.actor == operator
    assert event.detail == {
        "name": {"from": "Alpha deploy", "to": "Alpha renamed"},
        "by": "operator",
    }


def test_keys_cannot_be_added_or_deleted_in_the_admin(admin_client, keys):
    key, _raw = keys["active"]

    add = admin_client.get(reverse("admin:apikeys_apikey_add"))
    delete = admin_client.post(
        reverse("admin:apikeys_apikey_delete", args=[quote(key.pk)]), {"post": "yes"}
    )
    changelist = admin_client.get(CHANGELIST)

    assert add.status_code == 403
    assert delete.status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert 'value="revoke_selected"' in html
    assert "delete_selected" not in html
    assert reverse("admin:apikeys_apikey_add") not in html


def revoke_post(client: Client, *keys_to_revoke: ApiKey, confirm: bool):
    data = {"action": "revoke_selected", "_selected_action": [k.pk for k in keys_to_revoke]}
    if confirm:
        data["post"] = "yes"
    else:
        data["index"] = 0  # the changelist's own action form
    return client.post(CHANGELIST, data)


def test_revoking_asks_for_confirmation_first(admin_client, keys):
    key, raw = keys["active"]

    response = revoke_post(admin_client, key, confirm=False)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Revoke 1 API key(s)?" in html
    assert "Alpha deploy" in html
    assert "pinned-owner@example.com" in html
    assert f'<input type="hidden" name="_selected_action" value="{key.pk}">' in html
    assert '<input type="hidden" name="post" value="yes">' in html
    assert 'value="Yes, revoke"' in html
    assert_no_key_material(html, key, raw)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert not AuditEvent.objects.filter(action=Action.KEY_REVOKED, target_id=key.pk).exists()


def test_confirming_revokes_as_the_operator_audits_and_the_key_stops_working(
    admin_client, keys, operator, key_client
):
    key, raw = keys["active"]
    child, child_raw = api_key_issue(
        user=key.user, name="child", scopes=["user:read"], creator_key=key
    )
    assert key_client(raw).get("/api/user/me").status_code == 200

    response = revoke_post(admin_client, key, confirm=True)

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    revoked = ApiKey.objects.get(pk=key.pk)
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == operator
    event = AuditEvent.objects.get(action=Action.KEY_REVOKED, target_id=key.pk)
    assert event.actor == operator
    assert event.organization_id == key.organization_id
    assert event.detail == {"by": "operator"}
    assert event.request_id == response["X-Request-Id"]
    # The keys it created go with it.
    assert ApiKey.objects.get(pk=child.pk).revoked_by == operator
    after = key_client(raw).get("/api/user/me")
    assert after.status_code == 401
    assert after.json()["code"] == "KEY_REVOKED"
    assert key_client(child_raw).get("/api/user/me").json()["code"] == "KEY_REVOKED"
    listing = admin_client.get(response["Location"])
    assert "Revoked 1 API key(s)." in listing.content.decode()


def test_revoking_an_already_revoked_key_records_nothing_more(admin_client, keys):
    key, _raw = keys["revoked"]
    revoked_at = key.revoked_at
    events = AuditEvent.objects.filter(action=Action.KEY_REVOKED, target_id=key.pk).count()

    response = revoke_post(admin_client, key, confirm=True)

    assert response.status_code == 302
    after = ApiKey.objects.get(pk=key.pk)
    assert after.revoked_at == revoked_at
    assert after.revoked_by is None
    assert AuditEvent.objects.filter(action=Action.KEY_REVOKED, target_id=key.pk).count() == events


@pytest.mark.django_db(transaction=True)
def test_a_revocation_in_the_admin_is_felt_at_once_by_a_warm_key(
    settings, admin_client, api_key_factory, key_client
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    key, raw = api_key_factory(name="Warm key")
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200  # now in the warm-key cache

    assert revoke_post(admin_client, key, confirm=True).status_code == 302
    response = client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"
