"""/api/auth/api-key/* and /api/scopes"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db

CREATE = "/api/auth/api-key/create"
LIST = "/api/auth/api-key/list"
GET = "/api/auth/api-key/get"
UPDATE = "/api/auth/api-key/update"
REVOKE = "/api/auth/api-key/revoke"
SEED_BODY = {
    "name": "CI deploy bot",
    "expiresIn": 2592000,
    "scopes": ["user:read", "projects:read", "projects:write"],
}
LIST_FIELDS = {
    "id",
    "name",
    "start",
    "scopes",
    "organizationId",
    "allowedCidrs",
    "expiresAt",
    "lastUsedAt",
    "lastUsedIp",
    "createdAt",
    "revokedAt",
    "status",
}


def test_create_answers_as_the_quick_start_shows(client_for, user_factory):
    before = timezone.now()

    response = client_for(user_factory()).post(CREATE, SEED_BODY)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert {k: body[k] for k in ("success", "status", "code", "message")} == {
        "success": True,
        "status": 200,
        "code": "OK",
        "message": "API key created",
    }
    data = body["data"]
    assert data["id"].startswith("ak_")
    assert data["name"] == "CI deploy bot"
    assert data["key"].startswith("ba_")
    assert data["scopes"] == ["user:read", "projects:read", "projects:write"]
    assert data["organizationId"] is None
    expires = timezone.datetime.fromisoformat(data["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(days=30) <= expires - before <= timedelta(days=30, seconds=5)
    stored = ApiKey.objects.get(pk=data["id"])
    assert data["key"] not in stored.digest
    assert stored.start == data["key"][: len(stored.start)]


def test_a_created_key_works_at_once(client_for, key_client, user_factory):
    user = user_factory()
    raw = client_for(user).post(CREATE, SEED_BODY).json()["data"]["key"]

    response = key_client(raw).get("/api/user/me")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == user.pk


def test_omitting_expires_in_means_no_expiry(client_for, user_factory):
    body = {"name": "forever", "scopes": ["user:read"]}

    response = client_for(user_factory()).post(CREATE, body)

    assert response.status_code == 200
    assert response.json()["data"]["expiresAt"] is None


def test_the_key_is_never_shown_again(client_for, user_factory):
    client = client_for(user_factory())
    created = client.post(CREATE, SEED_BODY).json()["data"]

    listed = client.get(LIST)
    fetched = client.get(GET, {"id": created["id"]})
    renamed = client.post(UPDATE, {"keyId": created["id"], "name": "renamed"})
    revoked = client.post(REVOKE, {"keyId": created["id"]})

    for response in (listed, fetched, renamed, revoked):
        assert response.status_code == 200
        assert created["key"] not in response.content.decode()
        assert "v1$" not in response.content.decode()
        assert "v2$" not in response.content.decode()
    assert set(listed.json()["data"][0]) == LIST_FIELDS
    assert set(fetched.json()["data"]) == LIST_FIELDS


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"scopes": ["user:read"]}, "name"),
        ({"name": "", "scopes": ["user:read"]}, "name"),
        ({"name": "   ", "scopes": ["user:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["user:read"]}, "name"),
        ({"name": "k"}, "scopes"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": "user:read"}, "scopes"),
        ({"name": "k", "scopes": ["widgets:read"]}, "scopes"),
        ({"name": "k", "scopes": [1]}, "scopes"),
        ({"name": "k", "scopes": ["user:read"], "expiresIn": 59}, "expiresIn"),
        ({"name": "k", "scopes": ["user:read"], "expiresIn": 365 * 86400 + 1}, "expiresIn"),
        ({"name": "k", "scopes": ["user:read"], "expiresIn": "3600"}, "expiresIn"),
        ({"name": "k", "scopes": ["user:read"], "expiresIn": 3600.5}, "expiresIn"),
        ({"name": "k", "scopes": ["user:read"], "expiresIn": True}, "expiresIn"),
        ({"name": "k", "scopes": ["user:read"], "expiresIn": -1}, "expiresIn"),
        ({"name": "k", "scopes": ["user:read"], "metadata": "org"}, "metadata"),
        (
            {"name": "k", "scopes": ["user:read"], "metadata": {"organizationId": 5 * ["x"]}},
            "metadata.organizationId",
        ),
    ],
)
def test_create_with_bad_input_is_400_and_issues_nothing(client_for, user_factory, payload, field):
    response = client_for(user_factory()).post(CREATE, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]
    assert ApiKey.objects.count() == 0


def test_an_unknown_scope_error_lists_the_valid_ones(client_for, user_factory):
    response = client_for(user_factory()).post(CREATE, {"name": "k", "scopes": ["nope:read"]})

    message = response.json()["details"]["scopes"][0]
    assert "nope:read" in message
    assert "projects:read" in message
    assert "api-keys:write" in message


def test_expiry_bounds_are_settings(client_for, user_factory, settings):
    settings.APIKEYS = {**settings.APIKEYS, "MIN_EXPIRES_IN": 10, "MAX_EXPIRES_IN": 100}
    client = client_for(user_factory())

    short = client.post(CREATE, {"name": "k", "scopes": ["user:read"], "expiresIn": 10})
    long = client.post(CREATE, {"name": "k", "scopes": ["user:read"], "expiresIn": 101})

    assert short.status_code == 200
    assert long.status_code == 400
    assert "between 10 and 100" in long.json()["details"]["expiresIn"][0]


def test_pinning_to_an_organization_of_the_caller(client_for, user_factory, org_factory):
    user = user_factory()
    organization = org_factory(owner=user)
    body = {**SEED_BODY, "metadata": {"organizationId": organization.pk}}

    response = client_for(user).post(CREATE, body)

    assert response.status_code == 200
    assert response.json()["data"]["organizationId"] == organization.pk


def test_pinning_to_someone_elses_organization_is_403(client_for, user_factory, org_factory):
    body = {**SEED_BODY, "metadata": {"organizationId": org_factory().pk}}

    response = client_for(user_factory()).post(CREATE, body)

    assert response.status_code == 403
    assert response.json()["code"] == "NOT_ORGANIZATION_MEMBER"
    assert ApiKey.objects.count() == 0


def test_create_without_credentials_is_401(api_client):
    response = api_client.post(CREATE, SEED_BODY)

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


def test_a_key_with_api_keys_write_can_create_a_narrower_key(
    key_client, api_key_factory, user_factory
):
    user = user_factory()
    _key, raw = api_key_factory(user=user, scopes=["api-keys:write", "projects:*"])

    response = key_client(raw).post(CREATE, {"name": "child", "scopes": ["projects:read"]})

    assert response.status_code == 200
    assert ApiKey.objects.get(pk=response.json()["data"]["id"]).user == user


def test_a_key_without_api_keys_write_cannot_create_keys(key_client, api_key_factory):
    _key, raw = api_key_factory(scopes=["projects:*"])

    response = key_client(raw).post(CREATE, {"name": "child", "scopes": ["projects:read"]})

    assert response.status_code == 403
    assert response.json()["code"] == "INSUFFICIENT_SCOPE"
    assert response.json()["required_scopes"] == ["api-keys:write"]


@pytest.mark.parametrize("scopes", [["members:read"], ["*"], ["read:all"], ["projects:*"]])
def test_a_key_cannot_create_a_broader_key(key_client, api_key_factory, scopes):
    _key, raw = api_key_factory(scopes=["api-keys:write", "projects:read"])

    response = key_client(raw).post(CREATE, {"name": "child", "scopes": scopes})

    assert response.status_code == 403
    assert response.json()["code"] == "KEY_BROADER_THAN_CREATOR"
    assert ApiKey.objects.count() == 1


def test_a_pinned_key_creates_keys_pinned_the_same_way(
    key_client, api_key_factory, user_factory, org_factory
):
    user = user_factory()
    pinned_to, other = org_factory(owner=user), org_factory(owner=user)
    _key, raw = api_key_factory(user=user, scopes=["*"], organization=pinned_to)
    client = key_client(raw)

    inherited = client.post(CREATE, {"name": "child", "scopes": ["user:read"]})
    elsewhere = client.post(
        CREATE,
        {"name": "child", "scopes": ["user:read"], "metadata": {"organizationId": other.pk}},
    )

    assert inherited.status_code == 200
    assert inherited.json()["data"]["organizationId"] == pinned_to.pk
    assert elsewhere.status_code == 403
    assert elsewhere.json()["code"] == "ORGANIZATION_MISMATCH"


def test_a_key_cannot_create_a_key_that_outlives_it(key_client, api_key_factory):
    parent, raw = api_key_factory(scopes=["*"], expires_in=3600)
    client = key_client(raw)

    longer = client.post(CREATE, {"name": "c", "scopes": ["user:read"], "expiresIn": 7200})
    unbounded = client.post(CREATE, {"name": "c", "scopes": ["user:read"]})

    assert longer.status_code == 403
    assert longer.json()["code"] == "KEY_BROADER_THAN_CREATOR"
    assert unbounded.status_code == 200
    assert ApiKey.objects.get(pk=unbounded.json()["data"]["id"]).expires_at == parent.expires_at


def test_list_shows_only_the_callers_keys_newest_first(client_for, api_key_factory, user_factory):
    user = user_factory()
    older, _ = api_key_factory(user=user, name="older")
    newer, _ = api_key_factory(user=user, name="newer")
    api_key_factory(name="someone else's")

    response = client_for(user).get(LIST)

    assert response.status_code == 200
    assert [k["id"] for k in response.json()["data"]] == [newer.pk, older.pk]
    assert response.json()["pagination"]["totalItems"] == 2


def test_list_reports_status_plainly(client_for, api_key_factory, user_factory):
    user = user_factory()
    active, _ = api_key_factory(user=user)
    expired, _ = api_key_factory(user=user)
    revoked, _ = api_key_factory(user=user)
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())

    response = client_for(user).get(LIST)

    statuses = {k["id"]: k["status"] for k in response.json()["data"]}
    assert statuses == {active.pk: "active", expired.pk: "expired", revoked.pk: "revoked"}


def test_a_pinned_key_lists_only_keys_pinned_to_its_organization(
    key_client, api_key_factory, user_factory, org_factory
):
    user = user_factory()
    organization = org_factory(owner=user)
    pinned, raw = api_key_factory(user=user, scopes=["api-keys:read"], organization=organization)
    api_key_factory(user=user, name="unpinned")

    response = key_client(raw).get(LIST)

    assert [k["id"] for k in response.json()["data"]] == [pinned.pk]


def test_list_bad_page_is_400(client_for, user_factory):
    assert client_for(user_factory()).get(LIST, {"page": "first"}).status_code == 400


def test_get_returns_one_of_the_callers_keys(client_for, api_key_factory, user_factory):
    user = user_factory()
    key, _ = api_key_factory(user=user, scopes=["projects:read"], name="reader")

    response = client_for(user).get(GET, {"id": key.pk})

    assert response.status_code == 200
    assert response.json()["data"]["name"] == "reader"
    assert response.json()["data"]["scopes"] == ["projects:read"]


@pytest.mark.parametrize("path", [GET, UPDATE, REVOKE])
def test_another_users_key_is_404(client_for, api_key_factory, user_factory, path):
    key, _raw = api_key_factory(name="theirs")
    client = client_for(user_factory())

    if path == GET:
        response = client.get(GET, {"id": key.pk})
    else:
        response = client.post(path, {"keyId": key.pk, "name": "mine now"})

    assert response.status_code == 404
    assert response.json()["message"] == "API key not found."
    key.refresh_from_db()
    assert key.name == "theirs"
    assert key.revoked_at is None


def test_get_without_an_id_is_400(client_for, user_factory):
    response = client_for(user_factory()).get(GET)

    assert response.status_code == 400
    assert "id" in response.json()["details"]


def test_update_renames_and_nothing_else(client_for, api_key_factory, user_factory):
    user = user_factory()
    key, _ = api_key_factory(user=user, scopes=["user:read"])
    client = client_for(user)

    renamed = client.post(UPDATE, {"keyId": key.pk, "name": "Deploy"})
    widened = client.post(UPDATE, {"keyId": key.pk, "name": "x", "scopes": ["*"]})

    assert renamed.status_code == 200
    assert renamed.json()["data"]["name"] == "Deploy"
    assert widened.status_code == 400
    assert "scopes" in widened.json()["details"]
    key.refresh_from_db()
    assert (key.name, key.scopes) == ("Deploy", ["user:read"])


@pytest.mark.parametrize("payload", [{}, {"keyId": "x"}, {"name": "x"}, {"keyId": 1, "name": ""}])
def test_update_with_bad_input_is_400(client_for, user_factory, payload):
    response = client_for(user_factory()).post(UPDATE, payload)

    assert response.status_code == 400


def test_revoke_stops_the_key_on_the_next_request(client_for, key_client, api_key_factory):
    key, raw = api_key_factory()
    assert key_client(raw).get("/api/user/me").status_code == 200

    response = client_for(key.user).post(REVOKE, {"keyId": key.pk})
    after = key_client(raw).get("/api/user/me")

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "revoked"
    assert response.json()["data"]["revokedAt"] is not None
    assert after.status_code == 401
    assert after.json()["code"] == "KEY_REVOKED"
    assert after.json()["error"] == "Unauthorized"


def test_revoking_twice_keeps_the_first_revocation(client_for, api_key_factory):
    key, _ = api_key_factory()
    client = client_for(key.user)

    first = client.post(REVOKE, {"keyId": key.pk}).json()["data"]["revokedAt"]
    second = client.post(REVOKE, {"keyId": key.pk}).json()["data"]["revokedAt"]

    assert first == second


def test_revoke_records_who_revoked(client_for, api_key_factory):
    key, _ = api_key_factory()

    client_for(key.user).post(REVOKE, {"keyId": key.pk})

    key.refresh_from_db()
    assert key.revoked_by == key.user


def test_a_key_can_revoke_itself(key_client, api_key_factory):
    key, raw = api_key_factory(scopes=["api-keys:write"])
    client = key_client(raw)

    response = client.post(REVOKE, {"keyId": key.pk})

    assert response.status_code == 200
    assert client.get("/api/auth/status").status_code == 401


def test_revoke_with_bad_input_is_400(client_for, user_factory):
    assert client_for(user_factory()).post(REVOKE, {"keyId": None}).status_code == 400


def test_scopes_catalogue_is_public_and_described(api_client):
    response = api_client.get("/api/scopes")

    assert response.status_code == 200
    entries = {entry["scope"]: entry for entry in response.json()["data"]}
    assert entries["projects:read"]["description"] == "List and retrieve projects."
    assert entries["projects:read"]["resource"] == "projects"
    assert {"projects:*", "*", "admin", "read:all", "write:all"} <= set(entries)


def test_last_used_is_recorded_at_first_use_then_at_most_once_a_minute(
    key_client, api_key_factory, settings
):
    key, raw = api_key_factory()
    client = key_client(raw)

    client.get("/api/user/me")
    key.refresh_from_db()
    first = key.last_used_at
    client.get("/api/user/me")
    key.refresh_from_db()

    assert first is not None
    assert key.last_used_at == first

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(seconds=61))
    client.get("/api/user/me")
    key.refresh_from_db()
    assert key.last_used_at > first


def test_a_huge_list_of_junk_scopes_is_refused_cheaply_with_one_error(client_for, user_factory):
    payload = {"name": "k", "scopes": [{}] * 50_000}

    response = client_for(user_factory()).post(CREATE, payload)

    assert response.status_code == 400
    assert response.json()["details"] == {
        "scopes": ["Ensure this field has no more than 64 elements."]
    }
    assert len(response.content) < 1000


def test_many_bad_scopes_list_at_most_twenty_details(client_for, user_factory):
    response = client_for(user_factory()).post(CREATE, {"name": "k", "scopes": [{}] * 60})

    assert response.status_code == 400
    assert len(response.json()["details"]) == 20


def test_revoking_a_key_revokes_the_keys_it_created(client_for, key_client, api_key_factory):
    parent, parent_raw = api_key_factory(scopes=["api-keys:write", "user:read"])
    child_raw = (
        key_client(parent_raw)
        .post(CREATE, {"name": "child", "scopes": ["api-keys:write", "user:read"]})
        .json()["data"]["key"]
    )
    grandchild_raw = (
        key_client(child_raw)
        .post(CREATE, {"name": "grandchild", "scopes": ["user:read"]})
        .json()["data"]["key"]
    )
    assert key_client(grandchild_raw).get("/api/user/me").status_code == 200

    client_for(parent.user).post(REVOKE, {"keyId": parent.pk})

    for raw in (parent_raw, child_raw, grandchild_raw):
        response = key_client(raw).get("/api/user/me")
        assert response.status_code == 401
        assert response.json()["code"] == "KEY_REVOKED"


def test_a_key_cannot_manage_a_broader_key(key_client, api_key_factory, user_factory):
    user = user_factory()
    broad, _ = api_key_factory(user=user, scopes=["*"], name="broad")
    _narrow, raw = api_key_factory(user=user, scopes=["api-keys:write"])
    client = key_client(raw)

    renamed = client.post(UPDATE, {"keyId": broad.pk, "name": "hijacked"})
    revoked = client.post(REVOKE, {"keyId": broad.pk})

    for response in (renamed, revoked):
        assert response.status_code == 403
        assert response.json()["code"] == "KEY_OUTRANKS_CALLER"
    broad.refresh_from_db()
    assert (broad.name, broad.revoked_at) == ("broad", None)


def test_a_key_manages_keys_it_covers(key_client, api_key_factory, user_factory):
    user = user_factory()
    narrow, _ = api_key_factory(user=user, scopes=["projects:read"])
    _manager, raw = api_key_factory(user=user, scopes=["api-keys:write", "projects:*"])

    response = key_client(raw).post(REVOKE, {"keyId": narrow.pk})

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "revoked"
