"""Session lifetimes (accounts.middleware): signed out after SESSION_IDLE_TIMEOUT without a
request, and SESSION_COOKIE_AGE after sign-in however busy; the last-use mark is written at most
once a minute."""

from __future__ import annotations

import time
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import middleware
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HOUR = 60 * 60
IDLE = 2 * HOUR
ABSOLUTE = 6 * HOUR
EMAIL = "ada@example.com"


class Clock:
    """The middleware's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch, settings) -> Clock:
    settings.SESSION_IDLE_TIMEOUT = IDLE
    settings.SESSION_COOKIE_AGE = ABSOLUTE
    clock = Clock()
    monkeypatch.setattr(middleware, "timer", clock)
    return clock


@pytest.fixture
def person(user_factory):
    return user_factory(email=EMAIL)


def signed_in_client(person) -> APIClient:
    """A client signed in through the API, as a person would be."""
    client = APIClient()
    response = client.post("/api/auth/sign-in/email", {"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200
    return client


def session_key(client: Client) -> str:
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def session_exists(key: str) -> bool:
    return import_module(django_settings.SESSION_ENGINE).SessionStore().exists(key)


def api_is_signed_in(client: Client) -> bool:
    response = client.get("/api/user/me")
    if response.status_code == 401:
        assert response.json()["code"] == "UNAUTHORIZED"
        return False
    assert response.status_code == 200
    assert response.json()["data"]["email"] == EMAIL
    return True


def page_is_signed_in(client: Client) -> bool:
    response = client.get("/settings/api-keys")
    if response.status_code == 302:
        assert response["Location"] == "/sign-in?next=/settings/api-keys"
        return False
    assert response.status_code == 200
    assert EMAIL in response.content.decode()
    return True


SURFACES = [
    pytest.param(api_is_signed_in, id="api"),
    pytest.param(page_is_signed_in, id="dashboard"),
]


@pytest.mark.parametrize("is_signed_in", SURFACES)
@pytest.mark.parametrize(
    ("idle_for", "still_signed_in"),
    [(IDLE - 61, True), (IDLE, False), (IDLE + HOUR, False)],
)
def test_an_idle_session_is_signed_out(clock, person, is_signed_in, idle_for, still_signed_in):
    client = signed_in_client(person)
    key = session_key(client)

    clock.advance(idle_for)

    assert is_signed_in(client) is still_signed_in
    # Signed out means flushed: the row is gone, so the old cookie names nothing any more.
    assert session_exists(key) is still_signed_in


@pytest.mark.parametrize("is_signed_in", SURFACES)
def test_use_keeps_a_session_alive_past_the_idle_timeout(clock, person, is_signed_in):
    client = signed_in_client(person)

    for _ in range(3):  # 1h50 apart, three times: past the two-hour idle timeout in all
        clock.advance(IDLE - 10 * 60)
        assert is_signed_in(client)


@pytest.mark.parametrize("is_signed_in", SURFACES)
def test_use_never_extends_a_session_past_its_absolute_lifetime(clock, person, is_signed_in):
    client = signed_in_client(person)
    key = session_key(client)

    for _ in range(5):  # busy every hour, for five hours
        clock.advance(HOUR)
        assert is_signed_in(client)
    clock.advance(HOUR - 1)
    assert is_signed_in(client)
    clock.advance(1)  # six hours after sign-in

    assert not is_signed_in(client)
    assert not session_exists(key)


def test_signing_in_again_restarts_the_absolute_clock(clock, person):
    client = signed_in_client(person)
    for _ in range(5):
        clock.advance(HOUR)
        assert api_is_signed_in(client)

    again = client.post("/api/auth/sign-in/email", {"email": EMAIL, "password": PASSWORD})
    for _ in range(2):  # seven hours after the first sign-in, two after the second
        clock.advance(HOUR)
        assert api_is_signed_in(client)

    assert again.status_code == 200


def test_a_session_signed_in_elsewhere_counts_from_the_last_sign_in(clock, person):
    # A session without the marks (signed in before they existed, or outside a request)
    # counts from the account's last sign-in.
    client = Client()
    client.force_login(person)
    assert page_is_signed_in(client)

    clock.advance(IDLE + 1)

    assert not page_is_signed_in(client)


def session_writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith(("UPDATE", "INSERT")) and "session" in q["sql"].lower()
    ]


def test_the_last_use_is_written_at_most_once_a_minute(clock, person):
    client = signed_in_client(person)

    with CaptureQueriesContext(connection) as within_the_minute:
        for _ in range(5):
            clock.advance(10)
            assert api_is_signed_in(client)
    clock.advance(15)  # 65 seconds after sign-in
    with CaptureQueriesContext(connection) as after_a_minute:
        assert api_is_signed_in(client)
        assert api_is_signed_in(client)

    assert session_writes(within_the_minute) == []
    assert len(session_writes(after_a_minute)) == 1


def test_a_key_request_leaves_the_session_alone(clock, person, api_key_factory):
    # A request that presents a key is the key's alone: it neither refreshes nor ends the
    # session whose cookie rides along.
    _key, raw = api_key_factory(user=person)
    client = signed_in_client(person)
    key = session_key(client)
    clock.advance(IDLE - 600)

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/user/me", HTTP_X_API_KEY=raw).status_code == 200
    clock.advance(600)  # idle since sign-in, whatever the key did

    assert session_writes(queries) == []
    assert not api_is_signed_in(client)
    assert not session_exists(key)


@pytest.mark.parametrize("header", ["x", "", "ba_not-a-key"])
@pytest.mark.parametrize("past", [IDLE, ABSOLUTE], ids=["idle", "absolute"])
def test_a_key_header_does_not_keep_an_expired_session_alive_on_pages(clock, person, header, past):
    client = Client()
    client.force_login(person)
    assert client.get("/settings/api-keys").status_code == 200
    clock.advance(past + 1)

    page = client.get("/settings/api-keys", HTTP_X_API_KEY=header)

    assert page.status_code == 302
    assert page["Location"].startswith("/sign-in?next=")
