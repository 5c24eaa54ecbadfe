"""The API keys admin: list, filters, search by a pasted key, read-only change page, revoke."""

from __future__ import annotations

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
from apikeys.services import api_key_issue, api_key_revoke
from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:apikeys_apikey_changelist")


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


def test_a_pasted_key_finds_exactly_that_key_and_is_not_shown_back(admin_client, keys):
    key, raw = keys["expired"]

    response = admin_client.get(CHANGELIST, {"q": f" {raw} ", "status": "expired"})

    # The page would repeat its search term everywhere, so the key is swapped for its id.
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == CHANGELIST
    assert parse_qs(location.query) == {"q": [key.pk], "status": ["expired"]}
    assert raw not in response["Location"]
    followed = admin_client.get(response["Location"])
    assert followed.status_code == 200
    html = followed.content.decode()
    assert listed_names(html) == {"expired"}
    assert "1 result" in html
    assert_no_key_material(html, key, raw)


def test_a_pasted_key_is_found_whatever_its_status(admin_client, keys):
    key, raw = keys["revoked"]

    response = admin_client.get(CHANGELIST, {"q": raw}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert listed_names(html) == {"revoked"}
    assert_no_key_material(html, key, raw)


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


@pytest.mark.parametrize("mangle", [wrong_checksum, same_lookup_other_secret])
def test_a_pasted_key_that_is_not_a_real_key_finds_nothing(admin_client, keys, mangle):
    key, raw = keys["active"]
    presented = mangle(raw)

    response = admin_client.get(CHANGELIST, {"q": presented})

    assert response.status_code == 302
    assert presented not in response["Location"]
    followed = admin_client.get(response["Location"])
    assert followed.status_code == 200
    html = followed.content.decode()
    assert listed_names(html) == set()
    assert "0 results" in html
    assert "No API key matches the pasted key." in html
    assert presented not in html
    assert_no_key_material(html, key, raw)


def test_get_search_results_finds_a_pasted_key_by_its_digest(operator, keys):
    model_admin = ApiKeyAdmin(ApiKey, admin.site)
    request = RequestFactory().get(CHANGELIST)
    request.user = operator
    key, raw = keys["active"]

    found, may_have_duplicates = model_admin.get_search_results(request, ApiKey.objects.all(), raw)
    forged, _ = model_admin.get_search_results(
        request, ApiKey.objects.all(), same_lookup_other_secret(raw)
    )

    assert [k.pk for k in found] == [key.pk]
    assert may_have_duplicates is False
    assert list(forged) == []


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


def test_the_changelist_runs_the_same_queries_for_5_and_40_keys(
    admin_client, api_key_factory, org_factory
):
    def make_keys(count: int) -> None:
        for _ in range(count):
            organization = org_factory()
            api_key_factory(user=organization.memberships.get().user, organization=organization)

    def render() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(CHANGELIST)
        assert response.status_code == 200
        return len(queries)

    make_keys(5)
    with_5 = render()
    make_keys(35)
    with_40 = render()

    # session, operator, the organization filter's choices, the count of all keys and of
    # those shown, the page (owner and organization joined): none per row
    assert ApiKey.objects.count() == 40
    assert with_5 == 6
    assert with_40 == with_5
