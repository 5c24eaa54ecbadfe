"""Failed sign-in lockouts that an attacker cannot aim at someone else: budgets per (account,
client network), per network and per account, a known-device cookie that exempts its browser
from the account's ceiling, successes that give their attempt back, one budget for every
spelling of an address, no more hashing than the budget allows, and a per-process fallback
while the cache is down."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import signing
from django.db import connection
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts import devices, services
from accounts.models import User
from accounts.services import user_authenticate
from accounts.tokens import make_password_reset_token, make_verification_token
from api.errors import InvalidCredentials, RateLimited
from ratelimits import policies as throttling
from ratelimits.counters import Rate
from ratelimits.policies import account_identity
from tests.conftest import PASSWORD, set_rates

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_ratelimit_window")]

SIGN_IN = "/api/auth/sign-in/email"
EMAIL = "jane@example.com"
WRONG = "not-the-password"
NEW_PASSWORD = "a-brand-new-passphrase"
OWNER_IP = "198.51.100.7"
ATTACKER_IP = "203.0.113.5"


# --- Helpers ---------------------------------------------------------------------------------


def _sign_in(client: Client, email: str, password: str, ip: str = OWNER_IP) -> Any:
    return client.post(
        SIGN_IN,
        {"email": email, "password": password},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def _dashboard_sign_in(client: Client, email: str, password: str, ip: str = OWNER_IP) -> Any:
    return client.post("/sign-in", {"email": email, "password": password}, REMOTE_ADDR=ip)


def _admin_sign_in(client: Client, email: str, password: str, ip: str = OWNER_IP) -> Any:
    return client.post(
        "/admin/login/",
        {"username": email, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
    )


# How each sign-in form answers the right password, when it lets it through.
SURFACES = {
    "api": (_sign_in, 200),
    "dashboard": (_dashboard_sign_in, 302),
    "admin": (_admin_sign_in, 302),
}


def _policy(name: str, rate: str) -> str:
    parsed = Rate.parse(rate)
    return f'"{name}";q={parsed.limit};w={parsed.window}'


def _assert_locked(response: Any, policy: str) -> None:
    """The API's 429 for a spent failure budget, naming the policy that refused."""
    assert response.status_code == 429
    body = response.json()
    assert (body["success"], body["code"]) == (False, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert body["retryAfter"] == int(response["Retry-After"])
    assert response["RateLimit-Policy"] == policy


@pytest.fixture
def jane(user_factory) -> User:
    return user_factory(email=EMAIL, is_staff=True)


# --- Per (account, network): the attacker locks only themselves --------------------------------


@pytest.mark.parametrize(
    ("attacker", "same_network", "other_network"),
    [
        ("203.0.113.5", "203.0.113.5", "203.0.113.6"),
        # IPv6 is counted by /64: a subscriber's next address is the same network.
        ("2001:db8:1:2::5", "2001:db8:1:2:ffff::9", "2001:db8:1:3::5"),
    ],
    ids=["ipv4", "ipv6"],
)
def test_failures_from_one_network_lock_that_network_only(
    settings, jane, attacker, same_network, other_network
):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min")

    statuses = [_sign_in(Client(), EMAIL, WRONG, attacker).status_code for _ in range(3)]
    locked = _sign_in(Client(), EMAIL, PASSWORD, same_network)
    owner = _sign_in(Client(), EMAIL, PASSWORD, other_network)

    assert statuses == [401, 401, 401]
    _assert_locked(locked, '"signin-failures-account-ip";q=3;w=300')
    assert owner.status_code == 200
    assert owner.json()["data"]["email"] == EMAIL


def test_the_default_budget_per_account_and_network_is_five_in_five_minutes(jane):
    statuses = [_sign_in(Client(), EMAIL, WRONG, ATTACKER_IP).status_code for _ in range(5)]
    locked = _sign_in(Client(), EMAIL, PASSWORD, ATTACKER_IP)

    assert statuses == [401] * 5
    _assert_locked(locked, '"signin-failures-account-ip";q=5;w=300')
    assert _sign_in(Client(), EMAIL, PASSWORD, OWNER_IP).status_code == 200


def test_one_networks_failures_do_not_lock_another_account_from_it(settings, jane, user_factory):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    user_factory(email="joe@example.com")
    for _ in range(2):
        _sign_in(Client(), EMAIL, WRONG, ATTACKER_IP)

    assert _sign_in(Client(), EMAIL, PASSWORD, ATTACKER_IP).status_code == 429
    assert _sign_in(Client(), "joe@example.com", PASSWORD, ATTACKER_IP).status_code == 200


def test_one_network_guessing_many_accounts_is_limited(settings, user_factory):
    set_rates(settings, SIGNIN_FAILURES_IP="3/min")
    user_factory(email="victim@example.com")
    for n in range(3):
        assert _sign_in(Client(), f"who{n}@example.com", WRONG, ATTACKER_IP).status_code == 401

    locked = _sign_in(Client(), "victim@example.com", PASSWORD, ATTACKER_IP)
    elsewhere = _sign_in(Client(), "victim@example.com", PASSWORD, OWNER_IP)

    _assert_locked(locked, '"signin-failures-ip";q=3;w=60')
    assert elsewhere.status_code == 200


# --- Per account: a ceiling, and the owner's known browser ------------------------------------


@pytest.mark.parametrize("surface", ["api", "dashboard", "admin"])
def test_the_accounts_ceiling_locks_new_networks_but_not_a_known_browser(settings, jane, surface):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT="3/hour")
    sign_in, admitted = SURFACES[surface]
    browser = Client()
    first = sign_in(browser, EMAIL, PASSWORD, OWNER_IP)
    assert first.status_code == admitted
    assert devices.cookie_name() in first.cookies
    # A spread-out attack: one guess from each of many networks.
    spread = [_sign_in(Client(), EMAIL, WRONG, f"203.0.113.{n}").status_code for n in (1, 2, 3)]

    stranger = sign_in(Client(), EMAIL, PASSWORD, "192.0.2.10")
    api_stranger = _sign_in(Client(), EMAIL, PASSWORD, "192.0.2.11")
    # The owner, travelling: a new network, but the browser that signed in before.
    known = sign_in(browser, EMAIL, PASSWORD, "192.0.2.12")

    assert spread == [401, 401, 401]
    assert stranger.status_code == 429
    assert int(stranger["Retry-After"]) >= 1
    _assert_locked(api_stranger, '"signin-failures-account";q=3;w=3600')
    assert known.status_code == admitted


def _secure(user: Any) -> None:
    services.email_secure(token=make_verification_token(user))


def _reset(user: Any) -> None:
    services.password_reset_confirm(
        token=make_password_reset_token(user), new_password=NEW_PASSWORD
    )


def _change_elsewhere(user: Any) -> None:
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password", "updated_at"])


@pytest.mark.parametrize(
    "new_password", [_secure, _reset, _change_elsewhere], ids=["secured", "reset", "changed"]
)
def test_a_browser_known_before_a_new_password_is_no_longer_known(
    settings, user_factory, new_password
):
    user = user_factory(email=EMAIL, verified=False)
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT="2/hour")
    old_browser = Client()
    assert _sign_in(old_browser, EMAIL, PASSWORD).status_code == 200
    new_password(User.objects.get(pk=user.pk))
    for n in (1, 2):
        assert _sign_in(Client(), EMAIL, WRONG, f"203.0.113.{n}").status_code == 401

    # The cookie from before the new password, from a new network, past the ceiling.
    response = _sign_in(old_browser, EMAIL, WRONG, "192.0.2.40")

    _assert_locked(response, '"signin-failures-account";q=2;w=3600')


class SignerFromLongAgo(signing.TimestampSigner):
    """Signs as if it were a minute past the cookie's lifetime ago."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - django_settings.DEVICE_COOKIE_AGE - 60)


def _forged_cookie(kind: str, genuine: str) -> str:
    """A known-device cookie for jane's account that this server did not issue (or no
    longer honours)."""
    identity = account_identity(EMAIL)
    if kind == "unsigned":
        return identity
    if kind == "wrong-salt":
        return signing.dumps([identity], salt="another-salt", compress=True)
    if kind == "wrong-key":
        return signing.dumps([identity], key="not-the-secret-key" * 4, salt=devices.SALT)
    if kind == "tampered":
        return genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB")
    if kind == "expired":
        return SignerFromLongAgo(salt=devices.SALT).sign_object([identity], compress=True)
    if kind == "not-a-list":
        return signing.dumps(identity, salt=devices.SALT, compress=True)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("cookie", "status"),
    [
        ("genuine", 200),
        ("unsigned", 429),
        ("wrong-salt", 429),
        ("wrong-key", 429),
        ("tampered", 429),
        ("expired", 429),
        ("another-account", 429),
        ("not-a-list", 429),
    ],
)
def test_only_a_genuine_known_device_cookie_passes_the_ceiling(
    settings, jane, user_factory, cookie, status
):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT="2/hour")
    browser = Client()
    if cookie in {"genuine", "tampered"}:
        assert _sign_in(browser, EMAIL, PASSWORD, OWNER_IP).status_code == 200
    if cookie == "another-account":
        # The attacker's own account, signed in from this browser: a genuine cookie, for them.
        user_factory(email="mallory@example.com")
        assert _sign_in(browser, "mallory@example.com", PASSWORD, OWNER_IP).status_code == 200
    if cookie not in {"genuine", "another-account"}:
        held = browser.cookies.get(devices.cookie_name())
        browser.cookies[devices.cookie_name()] = _forged_cookie(cookie, held.value if held else "")
    for n in (1, 2):
        assert _sign_in(Client(), EMAIL, WRONG, f"203.0.113.{n}").status_code == 401

    response = _sign_in(browser, EMAIL, PASSWORD, "192.0.2.10")

    assert response.status_code == status
    if status == 429:
        _assert_locked(response, '"signin-failures-account";q=2;w=3600')
    else:
        assert response.json()["data"]["email"] == EMAIL


def test_the_cookie_is_set_only_by_a_successful_sign_in(jane):
    client = Client()

    failed = _sign_in(client, EMAIL, WRONG)
    succeeded = _sign_in(client, EMAIL, PASSWORD)

    assert failed.status_code == 401
    assert devices.cookie_name() not in failed.cookies
    assert succeeded.status_code == 200
    cookie = succeeded.cookies[devices.cookie_name()]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) > 0


def test_with_secure_cookies_the_cookie_is_host_only_and_still_known(settings, jane):
    settings.SESSION_COOKIE_SECURE = True
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT="1/hour")
    browser = Client()

    response = browser.post(
        SIGN_IN,
        {"email": EMAIL, "password": PASSWORD},
        content_type="application/json",
        secure=True,
        REMOTE_ADDR=OWNER_IP,
    )
    assert _sign_in(Client(), EMAIL, WRONG, ATTACKER_IP).status_code == 401
    known = browser.post(
        SIGN_IN,
        {"email": EMAIL, "password": PASSWORD},
        content_type="application/json",
        secure=True,
        REMOTE_ADDR="192.0.2.10",
    )
    stranger = _sign_in(Client(), EMAIL, PASSWORD, "192.0.2.11")

    assert response.status_code == 200
    assert "latchkey_device" not in response.cookies
    cookie = response.cookies["__Host-latchkey_device"]
    assert (cookie["secure"], cookie["httponly"], cookie["path"]) == (True, True, "/")
    assert cookie["domain"] == ""
    assert stranger.status_code == 429
    assert known.status_code == 200


# --- A success gives its attempt back -----------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "policy"),
    [
        ("SIGNIN_FAILURES_ACCOUNT_IP", '"signin-failures-account-ip";q=2;w=300'),
        ("SIGNIN_FAILURES_IP", '"signin-failures-ip";q=2;w=300'),
        ("SIGNIN_FAILURES_ACCOUNT", '"signin-failures-account";q=2;w=300'),
    ],
)
def test_successful_sign_ins_give_their_attempt_back(settings, jane, budget, policy):
    set_rates(settings, **{budget: "2/5min"})
    # A fresh client each time: no known-device cookie, so every budget applies.
    attempts = [PASSWORD, PASSWORD, PASSWORD, WRONG, PASSWORD, PASSWORD, PASSWORD, WRONG]

    statuses = [_sign_in(Client(), EMAIL, password).status_code for password in attempts]
    locked = _sign_in(Client(), EMAIL, PASSWORD)

    # Only the two failures count: the budget of two is spent by them alone.
    assert statuses == [200, 200, 200, 401, 200, 200, 200, 401]
    _assert_locked(locked, policy)


# --- One budget per account, however its address is spelt --------------------------------------


@pytest.mark.parametrize(
    ("account", "spellings"),
    [
        (
            "jane.doe@example.com",
            ["JANE.DOE@example.com", "Jane.Doe@EXAMPLE.COM", " jane.doe@example.com"],
        ),
        # U+212A KELVIN SIGN and a fullwidth k: NFKC makes them k.
        (
            "kate@example.com",
            ["\u212aate@example.com", "\uff4bate@example.com", "KATE@example.com"],
        ),
        # ß casefolds to ss.
        (
            "strasse@example.com",
            ["stra\u00dfe@example.com", "STRASSE@example.com", "Stra\u00dfe@example.com"],
        ),
        # U+0130 casefolds to i + U+0307, which is how the other spelling writes it.
        (
            "\u0130lker@example.com",
            ["\u0130LKER@example.com", "i\u0307lker@example.com", "\u0130lker@EXAMPLE.com"],
        ),
    ],
    ids=["case", "kelvin-and-fullwidth", "sharp-s", "dotted-capital-i"],
)
def test_look_alike_spellings_share_one_budget(settings, user_factory, account, spellings):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min")
    user_factory(email=account)

    statuses = [
        _sign_in(Client(), spelling, WRONG, ATTACKER_IP).status_code for spelling in spellings
    ]
    locked = _sign_in(Client(), account, PASSWORD, ATTACKER_IP)

    assert statuses == [401, 401, 401]
    _assert_locked(locked, '"signin-failures-account-ip";q=3;w=300')
    assert _sign_in(Client(), spellings[0], PASSWORD, OWNER_IP).status_code == 200


def test_a_different_address_keeps_its_own_budget(settings, user_factory):
    # A dotless i is another letter from U+0130's folded i + U+0307: another account.
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    user_factory(email="\u0130lker@example.com")
    user_factory(email="ilker@example.com")
    for _ in range(2):
        _sign_in(Client(), "\u0130lker@example.com", WRONG, ATTACKER_IP)

    locked = _sign_in(Client(), "\u0130lker@example.com", PASSWORD, ATTACKER_IP)
    other = _sign_in(Client(), "ilker@example.com", PASSWORD, ATTACKER_IP)

    assert locked.status_code == 429
    assert other.status_code == 200
    assert other.json()["data"]["email"] == "ilker@example.com"


# --- No more hashing than the budget ---------------------------------------------------------


class CountingHasher(MD5PasswordHasher):
    """A fast hasher that counts how many times a password is hashed."""

    algorithm = "counting_md5"
    calls: list[int] = []

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.calls.append(1)
        return super().encode(password, salt)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("email", [EMAIL, "nobody@example.com"], ids=["known", "unknown"])
def test_sixteen_concurrent_guesses_hash_at_most_the_budget(
    settings, user_factory, monkeypatch, email
):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher", *settings.PASSWORD_HASHERS]
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="5/5min")
    user_factory(email=EMAIL)  # hashed with CountingHasher, the first hasher
    CountingHasher.calls.clear()
    start = threading.Barrier(16)
    after_the_count = threading.Lock()
    holding = threading.local()
    if connection.vendor == "sqlite":
        # SQLite's shared in-memory test database refuses concurrent writers ("table is
        # locked"): the guesses are counted concurrently (the race under test), then take
        # turns for the rest (hashing, queries, audit events). PostgreSQL runs it all at once.
        counted = throttling.check_and_probe

        def count_then_take_turns(*args: Any, **kwargs: Any) -> Any:
            try:
                return counted(*args, **kwargs)
            finally:
                if not getattr(holding, "lock", False):
                    after_the_count.acquire()
                    holding.lock = True

        monkeypatch.setattr(throttling, "check_and_probe", count_then_take_turns)

    def guess(n: int) -> str:
        request = RequestFactory().post(SIGN_IN, REMOTE_ADDR=ATTACKER_IP)
        try:
            start.wait(timeout=10)
            user_authenticate(request=request, email=email, password=f"guess-{n}")
        except InvalidCredentials:
            return "invalid"
        except RateLimited:
            return "limited"
        finally:
            connection.close()
            if getattr(holding, "lock", False):
                holding.lock = False
                after_the_count.release()
        return "admitted"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(guess, range(16)))

    assert sorted(outcomes) == ["invalid"] * 5 + ["limited"] * 11
    assert 1 <= len(CountingHasher.calls) <= 5


# --- The cache is down ---------------------------------------------------------------------------


CACHES_DOWN = {
    "raising": {"default": {"BACKEND": "tests.conftest.BrokenCache"}},
    "unreachable-redis": {
        "default": {"BACKEND": "lib.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    },
}


@pytest.mark.parametrize("cache", CACHES_DOWN, ids=list(CACHES_DOWN))
def test_with_the_cache_down_failures_are_still_limited_and_the_rest_fails_open(
    settings, jane, fresh_fallback, cache
):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min", SIGNIN="1/min", ANON="1/min")
    settings.CACHES = CACHES_DOWN[cache]
    api = APIClient(REMOTE_ADDR=ATTACKER_IP)

    statuses = [_sign_in(Client(), EMAIL, WRONG, ATTACKER_IP).status_code for _ in range(3)]
    locked = _sign_in(Client(), EMAIL, PASSWORD, ATTACKER_IP)
    owner = _sign_in(Client(), EMAIL, PASSWORD, OWNER_IP)
    anonymous = [api.get("/api/scopes").status_code for _ in range(3)]
    unauthenticated = [api.get("/api/user/me").status_code for _ in range(2)]

    # The failure budget holds (3 then 429); SIGNIN and ANON (1/min) are not enforced.
    assert statuses == [401, 401, 401]
    assert locked.status_code == 429
    assert locked.json()["code"] == "RATE_LIMITED"
    assert int(locked["Retry-After"]) >= 1
    assert owner.status_code == 200
    assert anonymous == [200, 200, 200]
    assert unauthenticated == [401, 401]


@pytest.mark.parametrize("cache", CACHES_DOWN, ids=list(CACHES_DOWN))
def test_with_the_cache_down_successes_still_give_their_attempt_back(
    settings, jane, fresh_fallback, cache
):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    settings.CACHES = CACHES_DOWN[cache]
    attempts = [PASSWORD, PASSWORD, PASSWORD, WRONG, PASSWORD, WRONG, PASSWORD]

    statuses = [_sign_in(Client(), EMAIL, password).status_code for password in attempts]

    assert statuses == [200, 200, 200, 401, 200, 401, 429]


# --- Changing the password spends the same budgets -------------------------------------------


def _api_change(client: Any, current: str) -> Any:
    return client.post(
        "/api/auth/change-password",
        {"currentPassword": current, "newPassword": NEW_PASSWORD},
        format="json",
        REMOTE_ADDR=ATTACKER_IP,
    )


def _dashboard_change(client: Any, current: str) -> Any:
    return client.post(
        "/settings/password",
        {
            "current_password": current,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        REMOTE_ADDR=ATTACKER_IP,
    )


CHANGES = {"api": (_api_change, APIClient, 400), "dashboard": (_dashboard_change, Client, 400)}


@pytest.mark.parametrize("surface", CHANGES)
def test_wrong_current_passwords_spend_the_sign_in_budget(settings, jane, surface):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    change, client_class, refused = CHANGES[surface]
    stolen = client_class()
    stolen.force_login(jane)

    statuses = [change(stolen, WRONG).status_code for _ in range(2)]
    right = change(stolen, PASSWORD)
    sign_in = _sign_in(Client(), EMAIL, PASSWORD, ATTACKER_IP)
    elsewhere = _sign_in(Client(), EMAIL, PASSWORD, OWNER_IP)

    assert statuses == [refused, refused]
    assert right.status_code == 429
    assert int(right["Retry-After"]) >= 1
    _assert_locked(sign_in, '"signin-failures-account-ip";q=2;w=300')
    assert elsewhere.status_code == 200
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


@pytest.mark.parametrize("surface", CHANGES)
def test_failed_sign_ins_lock_a_password_change(settings, jane, surface):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    change, client_class, _refused = CHANGES[surface]
    for _ in range(2):
        assert _sign_in(Client(), EMAIL, WRONG, ATTACKER_IP).status_code == 401
    client = client_class()
    client.force_login(jane)

    response = change(client, PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)
