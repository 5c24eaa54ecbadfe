"""Revocation, deactivation and removal while the cache refuses writes: no write gets through
once the change has committed, and reads stop within APIKEY_CACHE_TIMEOUT seconds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone
from redis.exceptions import OutOfMemoryError, ReadOnlyError

from apikeys import warm_cache
from apikeys.models import ApiKey
from tenants.models import Membership, Project

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 60  # APIKEY_CACHE_TIMEOUT in these tests: the bound on reads


class WriteRefusingCache(LocMemCache):
    """A cache that serves what it holds and, while `refusal` is set, raises it on every
    write, as Redis does when full under `maxmemory-policy noeviction`, or after a failover
    has left clients on a read-only replica. Entries also outlive their age, as they may on
    a replica that does not expire keys itself: only the seam clock moves in these tests."""

    refusal: Exception | None = None

    def _refuse(self) -> None:
        if WriteRefusingCache.refusal is not None:
            raise WriteRefusingCache.refusal

    def add(self, *args: Any, **kwargs: Any) -> bool:
        self._refuse()
        return super().add(*args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        self._refuse()
        super().set(*args, **kwargs)

    def set_many(self, *args: Any, **kwargs: Any) -> list:
        self._refuse()
        return super().set_many(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> bool:
        self._refuse()
        return super().delete(*args, **kwargs)

    def delete_many(self, *args: Any, **kwargs: Any) -> None:
        self._refuse()
        super().delete_many(*args, **kwargs)

    def incr(self, *args: Any, **kwargs: Any) -> int:
        self._refuse()
        return super().incr(*args, **kwargs)

    def touch(self, *args: Any, **kwargs: Any) -> bool:
        self._refuse()
        return super().touch(*args, **kwargs)


REFUSALS = [
    pytest.param(
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        id="full-noeviction",
    ),
    pytest.param(ReadOnlyError("You can't write against a read only replica."), id="replica"),
]


class Clock:
    """The warm-key cache's clock (apikeys.warm_cache.timer), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(warm_cache, "timer", clock)
    return clock


@pytest.fixture
def outage(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[Exception], None]:
    """The stand-in cache, working until `outage(error)`; the warm-key cache on."""
    settings.CACHES = {
        "default": {
            "BACKEND": f"{__name__}.WriteRefusingCache",
            "LOCATION": "latchkey-outage",
        }
    }
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": TIMEOUT}
    monkeypatch.setattr(WriteRefusingCache, "refusal", None)
    cache.clear()

    def start(error: Exception) -> None:
        monkeypatch.setattr(WriteRefusingCache, "refusal", error)

    return start


def revoke(team: dict[str, Any], key: ApiKey, client_for: Callable) -> None:
    response = client_for(key.user).post("/api/auth/api-key/revoke", {"keyId": key.pk})
    assert response.status_code == 200


def deactivate(team: dict[str, Any], key: ApiKey, client_for: Callable) -> None:
    key.user.is_active = False
    key.user.save()


def remove(team: dict[str, Any], key: ApiKey, client_for: Callable) -> None:
    Membership.objects.get(user=key.user, organization=team["organization"]).delete()


KEY_INVALID_REASON = "The API key is malformed, unknown, or its owner is deactivated."
CHANGES = [
    pytest.param(
        revoke,
        (401, "KEY_REVOKED", "Unauthorized", "The API key has been revoked."),
        id="revoked-key",
    ),
    pytest.param(
        deactivate,
        (401, "KEY_INVALID", "Unauthorized", KEY_INVALID_REASON),
        id="deactivated-owner",
    ),
    pytest.param(
        remove,
        (
            403,
            "NOT_ORGANIZATION_MEMBER",
            "This credential does not belong to the requested organization.",
            None,
        ),
        id="removed-member",
    ),
]


def refusal(response: Any) -> tuple[int, str, str, str | None]:
    body = response.json()
    assert body["success"] is False
    assert body["status"] == response.status_code
    return response.status_code, body["code"], body["error"], body.get("reason")


@pytest.mark.parametrize("limiter", ["on", "off"])
@pytest.mark.parametrize("error", REFUSALS)
@pytest.mark.parametrize(("change", "refused"), CHANGES)
def test_no_write_after_the_change_and_no_read_past_the_timeout(
    outage,
    clock,
    caplog,
    settings,
    team,
    api_key_factory,
    key_client,
    client_for,
    change,
    refused,
    error,
    limiter,
):
    settings.RATELIMITS = {**settings.RATELIMITS, "ENABLED": limiter == "on"}
    key, raw = api_key_factory(user=team["member"], scopes=["projects:read", "projects:write"])
    client = key_client(raw)
    url = f"/api/user/organizations/{team['organization'].pk}/projects"
    assert client.get(url).status_code == 200  # the key, its owner and roles are now warm

    outage(error)
    caplog.set_level(logging.ERROR, logger="apikeys.warm_cache")
    change(team, key, client_for)
    assert "tombstones not written" in caplog.text  # the cache kept the old entry

    written = client.post(url, {"name": "After the change"})
    assert refusal(written) == refused
    assert not Project.objects.filter(name="After the change").exists()

    clock.advance(TIMEOUT - 1)
    if limiter == "on":
        # The rate limiter's count is a write, which this cache refuses: the round trip that
        # would have confirmed the entry fails, so the database decides at once.
        assert refusal(client.get(url)) == refused
    else:
        # Reads may still be answered from the entry, for what is left of its timeout...
        assert client.get(url).status_code == 200
    # ...and no longer, although the cache still holds it.
    clock.advance(1)
    assert refusal(client.get(url)) == refused


@pytest.mark.parametrize("error", REFUSALS)
def test_a_working_key_still_reads_and_writes_while_the_cache_refuses_writes(
    outage, clock, team, api_key_factory, key_client, error
):
    _key, raw = api_key_factory(user=team["member"], scopes=["projects:read", "projects:write"])
    client = key_client(raw)
    url = f"/api/user/organizations/{team['organization'].pk}/projects"
    assert client.get(url).status_code == 200

    outage(error)
    created = client.post(url, {"name": "During the outage"})
    clock.advance(TIMEOUT)  # the entry is too old: the database answers, nothing is stored
    listed = client.get(url)

    assert (created.status_code, created.json()["data"]["name"]) == (201, "During the outage")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["data"]] == ["During the outage"]


def test_storing_an_entry_again_never_makes_it_younger(
    outage, clock, settings, team, api_key_factory, key_client
):
    # lastUsedAt moves on every request here, so every hit stores its entry again; a change
    # made without signals (a bulk update: no tombstone) must still be seen once the entry's
    # row is TIMEOUT seconds old, however often it was stored since.
    settings.APIKEYS = {**settings.APIKEYS, "LAST_USED_RESOLUTION": 0}
    key, raw = api_key_factory(user=team["member"])
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200

    clock.advance(TIMEOUT - 10)
    assert client.get("/api/user/me").status_code == 200  # a hit, stored again
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    clock.advance(9)
    assert client.get("/api/user/me").status_code == 200  # still within the bound
    clock.advance(1)
    response = client.get("/api/user/me")

    assert refusal(response) == (
        401,
        "KEY_REVOKED",
        "Unauthorized",
        "The API key has been revoked.",
    )


def test_a_write_by_a_warm_key_reads_the_database(
    outage, clock, team, api_key_factory, key_client, django_assert_max_num_queries
):
    _key, raw = api_key_factory(user=team["member"], scopes=["projects:read", "projects:write"])
    client = key_client(raw)
    url = f"/api/user/organizations/{team['organization'].pk}/projects"
    assert client.get(url).status_code == 200

    # 1. the key joined to its owner; 2. the membership joined to its organization;
    # 3. the project's INSERT, with SQLite's BEGIN and COMMIT around it (PostgreSQL's are not
    # statements). The warm entry is not read: the key and the membership come first.
    with django_assert_max_num_queries(5) as captured:
        response = client.post(url, {"name": "Written"})

    assert response.status_code == 201
    sql = [query["sql"] for query in captured.captured_queries]
    assert 'FROM "apikeys_apikey"' in sql[0]
    assert 'FROM "tenants_membership"' in sql[1]
