"""Each worker's own copy of warm keys: it saves the shared cache's read, and is confirmed in the
rate limiter's round trip before anything it decided stands."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys import warm_cache
from apikeys.models import ApiKey
from tenants.models import Membership, Role
from tests.conftest import set_rates

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}


@pytest.fixture
def warm(team, api_key_factory, key_client):
    """The admin's key with every scope, used once: this worker holds its copy."""
    key, raw = api_key_factory(user=team["admin"], scopes=["*"])
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200
    assert warm_cache.local_get(key.lookup) is not None
    return key, client


def test_a_warm_key_reads_no_entry_from_the_shared_cache(warm, monkeypatch, team):
    _key, client = warm
    reads: list[Any] = []
    real = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys, **kw: reads.append(keys) or real(keys))

    response = client.get("/api/user/me")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == team["admin"].pk
    assert [k for keys in reads for k in keys if k.startswith("apikey:")] == []


def test_a_tombstone_sends_the_request_back_to_the_database(warm, team):
    # The key is still good: the request is answered, from the rows read again.
    key, client = warm
    cache.set(warm_cache.tombstone_key(key.lookup), 1)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/user/me")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == team["admin"].pk
    assert len(queries) >= 1
    assert warm_cache.local_get(key.lookup) is None


def test_a_request_read_again_is_counted_once(one_ratelimit_window, warm, settings):
    set_rates(settings, KEY="5/min")
    key, client = warm
    first = client.get("/api/user/me")
    cache.set(warm_cache.tombstone_key(key.lookup), 1)

    second = client.get("/api/user/me")
    third = client.get("/api/user/me")

    # The fixture's request spent the first of the five.
    remaining = [r["X-RateLimit-Remaining"] for r in (first, second, third)]
    assert remaining == ["3", "2", "1"]


def test_a_refusal_by_a_stale_copy_is_decided_again(
    team, api_key_factory, key_client, org_factory
):
    # The copy says the owner is not a member; a membership made since withdrew it.
    other = org_factory()
    key, raw = api_key_factory(user=team["admin"], scopes=["*"])
    client = key_client(raw)
    url = f"/api/user/organizations/{other.pk}/projects"
    assert client.get("/api/user/me").status_code == 200  # warm: a refusal caches nothing
    assert client.get(url).json()["code"] == "NOT_ORGANIZATION_MEMBER"
    assert warm_cache.local_get(key.lookup) is not None

    Membership.objects.create(user=team["admin"], organization=other, role=Role.MEMBER)
    response = client.get(url)

    assert response.status_code == 200
    assert response.json()["data"] == []


def test_a_copy_the_cache_cannot_confirm_is_read_again(warm, settings, team):
    key, client = warm
    settings.CACHES = {"default": {"BACKEND": "tests.conftest.BrokenCache"}}

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/user/me")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == team["admin"].pk
    assert len(queries) >= 1
    assert warm_cache.local_get(key.lookup) is None


def test_a_write_never_uses_the_copy(warm, monkeypatch):
    _key, client = warm
    monkeypatch.setattr(warm_cache, "local_get", lambda lookup: pytest.fail("copy read"))

    response = client.post(
        "/api/auth/api-key/create", {"name": "child", "scopes": ["user:read"]}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["data"]["name"] == "child"


def test_a_cache_that_lost_its_state_cannot_vouch_for_a_copy(warm):
    # Revoked without a tombstone (a bulk update sends no signal), then the cache restarts
    # empty: the worker's copy is not confirmed, since the entry is gone too.
    key, client = warm
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    cache.clear()

    response = client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"


def test_a_tombstone_under_the_former_name_is_honoured(warm):
    # Written by a server of the previous version during a rolling upgrade.
    key, client = warm
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    cache.set(f"apikey:v1:stale:{key.lookup}", 1)

    response = client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"
