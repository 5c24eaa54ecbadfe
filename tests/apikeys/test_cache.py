"""The warm-key cache: no query on a hit, and every change felt on the very next request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from apikeys import authentication, warm_cache
from apikeys.models import ApiKey
from tenants.models import Membership, Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}


@pytest.fixture
def member_key(team, api_key_factory, key_client):
    """A warm key of the team's admin with every scope, used once so it is cached."""
    key, raw = api_key_factory(user=team["admin"], scopes=["*"])
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200
    return key, client


def projects_url(team) -> str:
    return f"/api/user/organizations/{team['organization'].pk}/projects"


def test_a_warm_key_needs_no_query_for_authentication_or_the_gate(
    team, member_key, project_factory, django_assert_num_queries
):
    _key, client = member_key
    project_factory(team["organization"])

    # count and page: the same two queries the view runs with no authentication at all
    with django_assert_num_queries(2):
        response = client.get(projects_url(team))
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


def test_the_cache_is_off_without_a_timeout(settings, team, api_key_factory, key_client):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 0}
    key, raw = api_key_factory(user=team["admin"])

    key_client(raw).get("/api/user/me")

    assert cache.get(warm_cache.entry_key(key.lookup)) is None


def test_revoking_through_the_api_is_felt_at_once(member_key, client_for, team):
    key, client = member_key

    client_for(team["admin"]).post("/api/auth/api-key/revoke", {"keyId": key.pk})
    response = client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"


def test_revoking_by_saving_the_row_is_felt_at_once(member_key):
    key, client = member_key
    key = ApiKey.objects.get(pk=key.pk)
    key.revoked_at = timezone.now()
    key.save()

    assert client.get("/api/user/me").json()["code"] == "KEY_REVOKED"


@pytest.mark.parametrize("copy", ["shared", "worker"])
def test_expiry_is_checked_on_every_hit(team, api_key_factory, key_client, monkeypatch, copy):
    _key, raw = api_key_factory(user=team["admin"], expires_in=60)
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200  # warm, in both copies
    if copy == "shared":  # another worker's first request reads the shared cache's entry
        warm_cache.clear_local()
    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr(authentication.timezone, "now", lambda: later)

    response = client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_EXPIRED"


def test_deactivating_the_owner_is_felt_at_once(member_key, team):
    _key, client = member_key
    team["admin"].is_active = False
    team["admin"].save()

    assert client.get("/api/user/me").status_code == 401


def test_removing_the_member_is_felt_at_once(member_key, team):
    _key, client = member_key
    assert client.get(projects_url(team)).status_code == 200

    Membership.objects.get(user=team["admin"], organization=team["organization"]).delete()
    response = client.get(projects_url(team))

    assert response.status_code == 403
    assert response.json()["code"] == "NOT_ORGANIZATION_MEMBER"


def test_a_role_change_is_felt_at_once(member_key, team):
    _key, client = member_key
    url = f"/api/user/organizations/{team['organization'].pk}"
    assert client.patch(url, {"name": "By admin"}).status_code == 200

    membership = Membership.objects.get(user=team["admin"], organization=team["organization"])
    membership.role = Role.MEMBER
    membership.save()
    response = client.patch(url, {"name": "By member"})

    assert response.status_code == 403
    assert response.json()["code"] == "INSUFFICIENT_ROLE"


def test_a_stale_entry_stored_after_a_revocation_is_ignored(member_key):
    # A request that read the row just before the revocation stores it just after: the
    # tombstone written at the revocation keeps that entry from being used.
    key, client = member_key
    stale = cache.get(warm_cache.entry_key(key.lookup))
    key = ApiKey.objects.get(pk=key.pk)
    key.revoked_at = timezone.now()
    key.save()
    warm_cache.put(stale)

    assert client.get("/api/user/me").json()["code"] == "KEY_REVOKED"


def test_a_wrong_secret_with_a_cached_lookup_is_refused(member_key, key_client):
    from apikeys import conf, crypto

    key, _client = member_key
    prefix = conf.prefix()
    body = prefix + key.lookup + "x" * (crypto.RANDOM_LENGTH - crypto.LOOKUP_LENGTH)
    forged = body + crypto.checksum(body)

    response = key_client(forged).get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_INVALID"


def test_an_unreachable_cache_falls_back_to_the_database(
    settings, team, api_key_factory, key_client
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    _key, raw = api_key_factory(user=team["admin"])

    response = key_client(raw).get("/api/user/me")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == team["admin"].pk


def test_query_budget_of_a_cold_and_a_warm_key_on_me(
    team, api_key_factory, key_client, django_assert_max_num_queries
):
    _key, raw = api_key_factory(user=team["admin"])
    client = key_client(raw)

    # cold: the key joined to its owner, the owner's memberships (which also count them),
    # lastUsedAt
    with django_assert_max_num_queries(3):
        assert client.get("/api/user/me").status_code == 200
    # warm: none, the organization count included
    with django_assert_max_num_queries(0):
        response = client.get("/api/user/me")
    assert response.status_code == 200
    assert response.json()["data"]["organizationCount"] == 1


@pytest.mark.parametrize("pinned", [False, True])
def test_a_warm_organization_count_follows_the_memberships(
    team, org_factory, api_key_factory, key_client, pinned
):
    # A pinned key still shows how many organizations its owner belongs to.
    home = team["organization"]
    _key, raw = api_key_factory(user=team["admin"], organization=home if pinned else None)
    client = key_client(raw)
    assert client.get("/api/user/me").json()["data"]["organizationCount"] == 1

    other = org_factory(owner=team["admin"])
    assert client.get("/api/user/me").json()["data"]["organizationCount"] == 2

    Membership.objects.filter(user=team["admin"], organization=other).delete()
    assert client.get("/api/user/me").json()["data"]["organizationCount"] == 1


def test_the_cache_never_holds_the_key_or_the_owners_password_hash(member_key, team):
    import pickle

    key, _client = member_key
    entry = cache.get(warm_cache.entry_key(key.lookup))
    blob = pickle.dumps(entry)

    assert entry.key.user.pk == team["admin"].pk
    assert team["admin"].password.encode() not in blob
    assert b"argon2" not in blob and b"md5$" not in blob


# --- Rolled and edited keys ------------------------------------------------------------------


def roll(client, key, expires_old_in: int) -> str:
    response = client.post(
        f"/api/auth/api-key/{key.pk}/roll", {"expiresOldIn": expires_old_in}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]["key"]


def tombstones_lapse() -> None:
    """As if the roll's tombstones had run their time out: nothing stops an entry now."""
    cache.clear()
    warm_cache.clear_local()


@pytest.fixture
def session_then_warm_key(team, client_for, api_key_factory, key_client):
    """The admin's session, then a warm key of theirs with every scope. In this order: signing
    in saves the user, which withdraws every key of theirs, and so would hide whether the
    change a test makes withdraws the key."""
    session = client_for(team["admin"])
    key, raw = api_key_factory(user=team["admin"], scopes=["*"])
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200
    assert cache.get(warm_cache.entry_key(key.lookup)) is not None
    assert cache.get(warm_cache.tombstone_key(key.lookup)) is None
    return session, key, client


def test_a_roll_withdraws_the_old_secrets_warm_entry_at_once(session_then_warm_key):
    session, key, client = session_then_warm_key

    new = roll(session, key, 0)
    response = client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_EXPIRED"
    assert response.json()["reason"] == "The API key has expired."
    assert client.credentials(HTTP_X_API_KEY=new) is None
    assert client.get("/api/user/me").status_code == 200


@pytest.mark.parametrize("copy", ["shared", "worker"])
def test_a_warm_old_secret_stops_when_the_overlap_ends(
    team, api_key_factory, key_client, client_for, monkeypatch, django_assert_num_queries, copy
):
    key, old = api_key_factory(user=team["admin"], scopes=["user:read"])
    new = roll(client_for(team["admin"]), key, 60)
    tombstones_lapse()
    old_client = key_client(old)
    assert old_client.get("/api/user/me").status_code == 200  # cold: stores its entry
    ends = ApiKey.objects.get(pk=key.pk).previous_expires_at

    with django_assert_num_queries(0):  # warm: the entry of the old secret's lookup id
        warm = old_client.get("/api/user/me")
    if copy == "shared":  # another worker's first request reads the shared cache's entry
        warm_cache.clear_local()
    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr(authentication.timezone, "now", lambda: later)
    after, new_after = old_client.get("/api/user/me"), key_client(new).get("/api/user/me")

    assert warm.status_code == 200
    assert warm["Latchkey-Key-Expires"] == ends.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert after.status_code == 401
    assert after.json()["code"] == "KEY_EXPIRED"
    assert new_after.status_code == 200


def test_rolling_again_withdraws_the_warm_secret_before_the_previous_one(
    team, api_key_factory, key_client, client_for
):
    key, first = api_key_factory(user=team["admin"], scopes=["user:read"])
    session = client_for(team["admin"])
    roll(session, key, 3600)
    tombstones_lapse()
    first_client = key_client(first)
    for _ in range(2):  # cold, then warm
        assert first_client.get("/api/user/me").status_code == 200

    roll(session, key, 3600)
    response = first_client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_INVALID"


def test_a_cold_old_secret_costs_one_query_for_the_key(
    team, api_key_factory, key_client, client_for, django_assert_max_num_queries
):
    key, old = api_key_factory(user=team["admin"])
    roll(client_for(team["admin"]), key, 3600)
    tombstones_lapse()

    # cold: the key by either lookup id joined to its owner (one query), the owner's
    # memberships, lastUsedAt
    with django_assert_max_num_queries(3):
        assert key_client(old).get("/api/user/me").status_code == 200
    with django_assert_max_num_queries(0):
        assert key_client(old).get("/api/user/me").status_code == 200


def test_a_narrowed_warm_key_loses_the_scope_on_the_next_request(session_then_warm_key):
    session, key, client = session_then_warm_key

    edited = session.patch(
        f"/api/auth/api-key/{key.pk}", {"scopes": ["projects:read"]}, format="json"
    )
    response = client.get("/api/user/me")

    assert edited.status_code == 200
    assert response.status_code == 403
    assert response.json()["code"] == "INSUFFICIENT_SCOPE"
    assert response.json()["required_scopes"] == ["user:read"]
