"""What the request path asks of Redis, against the Redis server on 127.0.0.1 whatever cache
the suite runs with: one round trip for a warm key and every rate limit of its request, and
every script and multi-key read confined to one Redis Cluster hash slot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from redis.connection import AbstractConnection
from redis.crc import key_slot

from apikeys import warm_cache
from lib.cache import RedisCache
from ratelimits.policies import signin_failure_policies
from tests.conftest import set_rates

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = "redis://127.0.0.1:6379/13"


@pytest.fixture(autouse=True)
def redis_cache(settings) -> Iterator[None]:
    settings.CACHES = {"default": {"BACKEND": "lib.cache.RedisCache", "LOCATION": REDIS}}
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    """Every command sent to Redis, as (name, args...), and a marker per round trip."""
    log: list[tuple] = []
    real_trip = RedisCache.round_trip
    real_send = AbstractConnection.send_packed_command

    def round_trip(self: RedisCache, commands: Any) -> list[Any]:
        log.extend(tuple(command) for command in commands)
        return real_trip(self, commands)

    def send_packed_command(self: AbstractConnection, command: Any, *args: Any, **kw: Any):
        log.append(("<round trip>",))
        return real_send(self, command, *args, **kw)

    real_execute = __import__("redis").Redis.execute_command

    def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        log.append(tuple(args))
        return real_execute(self, *args, **options)

    monkeypatch.setattr(RedisCache, "round_trip", round_trip)
    monkeypatch.setattr(AbstractConnection, "send_packed_command", send_packed_command)
    monkeypatch.setattr(__import__("redis").Redis, "execute_command", execute_command)
    return log


def keys_of(command: tuple) -> list[str]:
    name = str(command[0]).upper()
    if name == "EVALSHA":
        return [str(k) for k in command[3 : 3 + int(command[2])]]
    if name == "MGET":
        return [str(k) for k in command[1:]]
    return []


def test_a_warm_key_read_is_one_round_trip(
    team, api_key_factory, key_client, sent, django_assert_max_num_queries
):
    _key, raw = api_key_factory(user=team["admin"], scopes=["*"])
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200
    url = f"/api/user/organizations/{team['organization'].pk}/projects"
    assert client.get(url).status_code == 200
    sent.clear()

    with django_assert_max_num_queries(2):  # the list's own count and page
        listed = client.get(url)
    trips_for_list = sent.count(("<round trip>",))
    with django_assert_max_num_queries(0):
        me = client.get("/api/user/me")

    assert listed.status_code == 200 and listed["X-RateLimit-Limit"]
    assert me.status_code == 200 and me.json()["data"]["id"] == team["admin"].pk
    assert trips_for_list == 1
    assert sent.count(("<round trip>",)) == 2


def one_of_each(client_for, key_client, api_client, team, api_key_factory) -> None:
    """A request of each kind of caller, each spending its policies."""
    organization = team["organization"]
    _key, raw = api_key_factory(user=team["admin"], scopes=["*"])
    _pinned, pinned_raw = api_key_factory(user=team["admin"], organization=organization)
    keyed = key_client(raw)
    assert api_client.get("/api/user/me").status_code == 401  # anonymous, by IP
    assert api_client.post(
        "/api/auth/sign-up/email",
        {"email": "slots@example.com", "password": "correct horse battery", "name": "Slot"},
        format="json",
    ).status_code in (200, 201)
    assert (
        api_client.post(
            "/api/auth/sign-in/email",
            {"email": "slots@example.com", "password": "wrong password 123"},
            format="json",
        ).status_code
        == 401
    )
    assert client_for(team["member"]).get("/api/user/organizations").status_code == 200
    for _ in range(2):  # cold, then warm
        assert keyed.get(f"/api/user/organizations/{organization.pk}/projects").status_code == 200
        assert key_client(pinned_raw).get("/api/user/me").status_code == 200
    created = keyed.post(
        "/api/auth/api-key/create", {"name": "child", "scopes": ["user:read"]}, format="json"
    )
    assert created.status_code == 200


def test_every_script_and_read_stays_in_one_hash_slot(
    client_for, key_client, api_client, team, api_key_factory, sent
):
    one_of_each(client_for, key_client, api_client, team, api_key_factory)

    checked = [command for command in sent if keys_of(command)]
    evalshas = [command for command in checked if command[0] == "EVALSHA"]
    assert len(evalshas) >= 8
    assert any(command[0] == "MGET" for command in checked)  # a warm key's shared read
    for command in checked:
        slots = {key_slot(key.encode()) for key in keys_of(command)}
        assert len(slots) == 1, command


def test_a_requests_usual_policies_share_one_tag(
    key_client, team, api_key_factory, sent, settings
):
    # A key on a tenant route spends its own and its organization's budget in one script.
    set_rates(settings, KEY="100/min")
    _key, raw = api_key_factory(user=team["admin"], scopes=["*"])
    key_client(raw).get(f"/api/user/organizations/{team['organization'].pk}/projects")

    scripts = [command for command in sent if command[0] == "EVALSHA"]
    assert [int(command[2]) for command in scripts] == [2]
    assert all(f"{{{team['organization'].pk}}}" in str(k) for k in keys_of(scripts[0]))


def test_policies_of_two_tags_refuse_all_or_nothing(rf, settings):
    # Sign-in failures count per account and per network: two tags, two scripts. When one
    # refuses, the other's count is given back.
    from ratelimits.counters import check

    set_rates(settings, SIGNIN_FAILURES_IP="1/min", SIGNIN_FAILURES_ACCOUNT_IP="5/min")
    request = rf.post("/", REMOTE_ADDR="192.0.2.50")
    first = signin_failure_policies(request, "a@example.com")
    second = signin_failure_policies(request, "b@example.com")

    assert check(first).allowed
    refused = check(second)
    again = check(second[:1] + second[2:])  # its account's policies alone

    assert not refused.allowed and refused.policy.name == "signin-failures-ip"
    assert again.allowed and again.remaining == 4  # nothing kept from the refused attempt


def test_entry_and_tombstone_share_a_slot():
    lookup = "01J0ABCDEFGHJKMNPQRSTVWXYZ"
    keys = [cache.make_and_validate_key(warm_cache.entry_key(lookup))]
    keys.append(cache.make_and_validate_key(warm_cache.tombstone_key(lookup)))

    assert len({key_slot(key.encode()) for key in keys}) == 1
    assert "{" + lookup + "}" in keys[0]


def test_a_server_that_forgot_its_scripts_is_taught_them_again(settings):
    # After a Redis restart (or SCRIPT FLUSH) the first call is refused with NOSCRIPT.
    from ratelimits.counters import Policy, Rate, check

    policy = Policy("ip", "192.0.2.77", Rate(2, 60))
    assert check([policy]).remaining == 1
    cache.script_client().script_flush()

    outcome = check([policy])

    assert outcome.allowed and outcome.remaining == 0
    assert not check([policy]).allowed
