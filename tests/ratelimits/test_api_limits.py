"""Rate limits on /api/: policies per IP, user and key, tighter ones on sensitive endpoints,
failed sign-ins, the headers, and what happens when the cache is gone."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.hashers import MD5PasswordHasher

from accounts.models import User
from api.base import ApiView
from ratelimits import counters as ratelimit
from ratelimits.counters import Rate
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGN_IN = "/api/auth/sign-in/email"


@pytest.fixture
def limits(settings):
    def set_limits(**rates: str) -> None:
        settings.RATELIMITS = {
            **settings.RATELIMITS,
            **{name: Rate.parse(rate) for name, rate in rates.items()},
        }

    return set_limits


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ratelimit, "timer", clock)
    return clock


def test_every_limited_response_carries_the_headers(api_client, limits):
    limits(ANON="5/min")

    first = api_client.get("/api/scopes")
    second = api_client.get("/api/scopes")

    assert first.status_code == second.status_code == 200
    assert first["X-RateLimit-Limit"] == "5"
    assert (first["X-RateLimit-Remaining"], second["X-RateLimit-Remaining"]) == ("4", "3")
    assert int(first["X-RateLimit-Reset"]) > time.time()
    assert first["RateLimit-Policy"] == '"ip";q=5;w=60'
    assert first["RateLimit"].startswith('"ip";r=4;t=')


def test_error_responses_carry_the_headers_too(api_client, limits):
    limits(ANON="5/min")

    response = api_client.get("/api/user/me")

    assert response.status_code == 401
    assert response["X-RateLimit-Remaining"] == "4"


def test_over_the_limit_is_429_in_the_envelope_with_retry_after(api_client, limits):
    limits(ANON="2/min")
    for _ in range(2):
        assert api_client.get("/api/scopes").status_code == 200

    response = api_client.get("/api/scopes")

    assert response.status_code == 429
    body = response.json()
    assert (body["success"], body["code"]) == (False, "RATE_LIMITED")
    assert body["error"] == body["message"]
    assert int(response["Retry-After"]) >= 1
    assert body["retryAfter"] == int(response["Retry-After"])
    assert response["X-RateLimit-Remaining"] == "0"


def test_a_refused_request_does_no_work(api_client, limits):
    limits(SIGNUP="1/hour")
    payload = {"email": "a@example.com", "password": "a-long-secure-passphrase"}
    assert api_client.post("/api/auth/sign-up/email", payload).status_code == 200

    response = api_client.post("/api/auth/sign-up/email", {**payload, "email": "b@example.com"})

    assert response.status_code == 429
    assert not User.objects.filter(email="b@example.com").exists()


def test_a_failing_credential_counts_against_the_ip(api_client, limits):
    limits(ANON="2/min")
    bad = {"HTTP_X_API_KEY": "ba_nonsense"}

    statuses = [api_client.get("/api/user/me", **bad).status_code for _ in range(3)]

    assert statuses == [401, 401, 429]


def test_sessions_count_per_user(client_for, user_factory, limits):
    limits(USER="2/min")
    alice, bob = client_for(user_factory()), client_for(user_factory())

    statuses = [alice.get("/api/user/me").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert bob.get("/api/user/me").status_code == 200


def test_each_key_has_its_own_budget(api_key_factory, key_client, user_factory, limits):
    limits(KEY="2/min")
    user = user_factory()
    first, second = (key_client(api_key_factory(user=user)[1]) for _ in range(2))

    statuses = [first.get("/api/user/me").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert second.get("/api/user/me").status_code == 200
    assert first.get("/api/user/me")["RateLimit-Policy"] == '"key";q=2;w=60'


def test_key_creation_has_its_own_tighter_policy(client_for, user_factory, limits):
    limits(KEY_CREATE="1/hour")
    client = client_for(user_factory())
    body = {"name": "k", "scopes": ["user:read"]}

    assert client.post("/api/auth/api-key/create", body).status_code == 200
    refused = client.post("/api/auth/api-key/create", body)

    assert refused.status_code == 429
    assert refused["RateLimit-Policy"] == '"key_create";q=1;w=3600'
    assert client.get("/api/user/me").status_code == 200


def test_verification_emails_are_limited_per_ip(api_client, limits):
    limits(VERIFY_EMAIL="2/hour")
    url = "/api/auth/send-verification-email"

    statuses = [api_client.post(url, {"email": "x@example.com"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


# --- Failed sign-ins ---------------------------------------------------------------------


def _sign_in(client, email, password):
    return client.post(SIGN_IN, {"email": email, "password": password})


def test_failed_sign_ins_lock_the_account_from_that_network_even_for_the_right_password(
    api_client, user_factory, limits, clock
):
    limits(SIGNIN_FAILURES_ACCOUNT_IP="3/5min")
    user_factory(email="jane@example.com")
    for _ in range(3):
        assert _sign_in(api_client, "jane@example.com", "wrong-password").status_code == 401

    locked = _sign_in(api_client, "JANE@example.com", PASSWORD)

    assert locked.status_code == 429
    assert locked.json()["code"] == "RATE_LIMITED"
    assert int(locked["Retry-After"]) >= 1
    assert locked["RateLimit-Policy"] == '"signin-failures-account-ip";q=3;w=300'

    clock.now += 300
    assert _sign_in(api_client, "jane@example.com", PASSWORD).status_code == 200


def test_a_locked_account_costs_no_password_hashing(api_client, user_factory, limits, monkeypatch):
    limits(SIGNIN_FAILURES_ACCOUNT_IP="1/5min")
    user_factory(email="jane@example.com")
    _sign_in(api_client, "jane@example.com", "wrong-password")
    calls = []
    original = MD5PasswordHasher.encode
    monkeypatch.setattr(
        MD5PasswordHasher, "encode", lambda self, *a: calls.append(1) or original(self, *a)
    )

    response = _sign_in(api_client, "jane@example.com", PASSWORD)

    assert response.status_code == 429
    assert calls == []


def test_another_account_on_the_same_network_can_still_sign_in(api_client, user_factory, limits):
    limits(SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    user_factory(email="jane@example.com")
    user_factory(email="joe@example.com")
    for _ in range(2):
        _sign_in(api_client, "jane@example.com", "wrong-password")

    assert _sign_in(api_client, "jane@example.com", PASSWORD).status_code == 429
    assert _sign_in(api_client, "joe@example.com", PASSWORD).status_code == 200


def test_successful_sign_ins_do_not_count_as_failures(api_client, user_factory, limits):
    limits(SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    user_factory(email="jane@example.com")

    statuses = [_sign_in(api_client, "jane@example.com", PASSWORD).status_code for _ in range(5)]

    assert statuses == [200] * 5


def test_failures_are_limited_per_ip_across_accounts(api_client, limits):
    limits(SIGNIN_FAILURES_IP="3/min")
    for n in range(3):
        assert _sign_in(api_client, f"who{n}@example.com", "wrong-password").status_code == 401

    response = _sign_in(api_client, "someone-new@example.com", "wrong-password")

    assert response.status_code == 429
    assert response["RateLimit-Policy"] == '"signin-failures-ip";q=3;w=60'


# --- Client IP ---------------------------------------------------------------------------


def test_a_spoofed_forwarded_for_is_ignored_without_trusted_proxies(api_client, limits, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    limits(ANON="2/min")

    statuses = [
        api_client.get("/api/scopes", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_with_one_proxy_the_address_it_saw_is_the_client(api_client, limits, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    limits(ANON="2/min")

    def get(forwarded_for: str) -> int:
        return api_client.get("/api/scopes", HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # The client may prepend anything; the proxy appends what it saw, the last entry.
    spoofed = [get(f"10.0.0.{n}, 198.51.100.1") for n in range(3)]
    other_client = get("198.51.100.2")

    assert spoofed == [200, 200, 429]
    assert other_client == 200


def test_ipv6_clients_are_counted_by_their_64(api_client, limits):
    limits(ANON="2/min")

    statuses = [
        api_client.get("/api/scopes", REMOTE_ADDR=f"2001:db8:1:2::{n}").status_code
        for n in range(1, 4)
    ]

    assert statuses == [200, 200, 429]


# --- Robustness --------------------------------------------------------------------------


def test_requests_are_served_when_the_cache_is_down(
    api_client, client_for, user_factory, settings
):
    settings.CACHES = {
        "default": {"BACKEND": "lib.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    user_factory(email="jane@example.com")

    assert api_client.get("/api/scopes").status_code == 200
    assert _sign_in(api_client, "jane@example.com", PASSWORD).status_code == 200
    assert api_client.get("/api/user/me").status_code == 200


def test_limits_can_be_switched_off(api_client, limits, settings):
    limits(ANON="1/min")
    settings.RATELIMITS = {**settings.RATELIMITS, "ENABLED": False}

    statuses = [api_client.get("/api/scopes").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


def test_every_api_view_counts_its_requests():
    from django.urls import URLPattern, URLResolver, get_resolver

    from api.views import ApiNotFoundView, HealthView

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and hasattr(entry.callback, "view_class"):
                yield prefix + str(entry.pattern), entry.callback.view_class

    for route, view in walk(get_resolver()):
        if route.startswith("api") and view not in (HealthView, ApiNotFoundView):
            assert issubclass(view, ApiView), route


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_requests_against_a_limit_of_ten(live_server, limits):
    limits(ANON="10/hour")
    url = f"{live_server.url}/api/scopes"

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: requests.get(url, timeout=30).status_code, range(50)))

    assert statuses.count(200) == 10
    assert statuses.count(429) == 40
