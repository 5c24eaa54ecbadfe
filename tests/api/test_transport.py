"""Transport: the API refuses plain HTTP (a redirect would come after the key crossed the wire),
pages are redirected to HTTPS, HSTS stays on, and production cookies carry the __Host- prefix."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from apikeys.models import ApiKey
from tests.conftest import PASSWORD, assert_error

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HTTPS_REQUIRED_MESSAGE = (
    "This API accepts HTTPS only. A credential sent over plain HTTP may have been seen on "
    "the way: revoke it."
)


@pytest.fixture
def production(settings):
    """HTTPS enforced, as when DEBUG is false."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    return settings


@pytest.fixture
def person(user_factory) -> User:
    return user_factory(email="ada@example.com")


@pytest.fixture
def key(api_key_factory, person) -> tuple[ApiKey, str]:
    return api_key_factory(user=person, scopes=["user:read"])


def api_call(client: APIClient, case: str, raw_key: str, **extra: object):
    """One of the API requests the table below sends, each carrying a credential."""
    if case == "key-header":
        return client.get("/api/user/me", HTTP_X_API_KEY=raw_key, **extra)
    if case == "bearer":
        return client.get("/api/auth/status", HTTP_AUTHORIZATION=f"Bearer {raw_key}", **extra)
    if case == "sign-in":
        return client.post(
            "/api/auth/sign-in/email",
            {"email": "ada@example.com", "password": PASSWORD},
            format="json",
            **extra,
        )
    if case == "sign-up":
        return client.post(
            "/api/auth/sign-up/email",
            {"email": "new@example.com", "password": "a-long-secure-passphrase"},
            format="json",
            **extra,
        )
    if case == "unknown-route":
        return client.get("/api/no-such-route", HTTP_X_API_KEY=raw_key, **extra)
    if case == "bare-api":
        return client.get("/api", HTTP_X_API_KEY=raw_key, **extra)
    raise AssertionError(case)


CASES = ["key-header", "bearer", "sign-in", "sign-up", "unknown-route", "bare-api"]


def assert_https_required(response) -> None:
    assert_error(response, 403, "HTTPS_REQUIRED", message=HTTPS_REQUIRED_MESSAGE, extra={})
    assert "Location" not in response


@pytest.mark.parametrize("case", CASES)
def test_a_plain_http_api_request_is_refused_not_redirected(production, key, case):
    _key, raw = key

    response = api_call(APIClient(), case, raw)

    assert_https_required(response)
    # Refused before any work: no session started, no account made, the key not marked used.
    assert not any(name.endswith("sessionid") for name in response.cookies)
    assert not User.objects.filter(email="new@example.com").exists()
    assert ApiKey.objects.get(pk=_key.pk).last_used_at is None


@pytest.mark.parametrize("case", CASES)
def test_the_same_requests_over_https_are_served(production, key, case):
    _key, raw = key

    response = api_call(APIClient(), case, raw, secure=True)

    assert response.status_code != 403 or response.json()["code"] != "HTTPS_REQUIRED"
    assert response.status_code in {200, 404}, response.content
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.parametrize(
    ("proxy_trusted", "forwarded_proto", "refused"),
    [
        (True, "https", False),  # the proxy terminated TLS and says so
        (True, "http", True),  # the proxy got plain HTTP
        (True, None, True),  # no word from the proxy
        (False, "https", True),  # not behind a proxy: anyone could send that header
    ],
)
def test_behind_a_tls_proxy_the_forwarded_scheme_decides(
    production, key, proxy_trusted, forwarded_proto, refused
):
    if proxy_trusted:
        production.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    _key, raw = key
    extra = {"HTTP_X_FORWARDED_PROTO": forwarded_proto} if forwarded_proto else {}

    response = APIClient().get("/api/user/me", HTTP_X_API_KEY=raw, **extra)

    if refused:
        assert_https_required(response)
    else:
        assert response.status_code == 200
        assert response.json()["data"]["email"] == "ada@example.com"


def test_the_health_check_answers_over_plain_http(production):
    # Load balancers probe it without TLS; it takes no credential and shows nothing private.
    response = APIClient().get("/api/health")

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ok"


@pytest.mark.parametrize("path", ["/", "/sign-in", "/settings/api-keys", "/admin/", "/api-docs"])
def test_pages_are_redirected_to_https(production, path):
    response = Client().get(path, {"next": "/dashboard"})

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{path}?next=%2Fdashboard"


@pytest.mark.parametrize("path", ["/sign-in", "/admin/login/"])
def test_pages_over_https_carry_hsts(production, path):
    response = Client().get(path, secure=True)

    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_in_development_plain_http_is_served(settings, key):
    settings.SECURE_SSL_REDIRECT = False
    _key, raw = key

    api = APIClient().get("/api/user/me", HTTP_X_API_KEY=raw)
    page = Client().get("/sign-in")

    assert api.status_code == 200
    assert api.json()["data"]["email"] == "ada@example.com"
    assert page.status_code == 200


# --- Cookies ------------------------------------------------------------------------------

COOKIE_SETTINGS = [
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_DOMAIN",
    "SESSION_COOKIE_PATH",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_DOMAIN",
    "CSRF_COOKIE_PATH",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
]


def settings_as_loaded(**env: str) -> dict[str, object]:
    """The cookie and transport settings a fresh process computes from `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {COOKIE_SETTINGS!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "auth.example.com",
    "PUBLIC_URL": "https://auth.example.com",
}


def test_production_cookies_take_the_host_prefix_and_its_rules():
    loaded = settings_as_loaded(**PRODUCTION_ENV)

    assert loaded["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert loaded["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    # What the prefix demands, or browsers drop the cookie: Secure, Path=/, no Domain.
    for cookie in ("SESSION", "CSRF"):
        assert loaded[f"{cookie}_COOKIE_SECURE"] is True
        assert loaded[f"{cookie}_COOKIE_PATH"] == "/"
        assert loaded[f"{cookie}_COOKIE_DOMAIN"] is None
    assert loaded["SECURE_SSL_REDIRECT"] is True


def test_development_cookies_keep_plain_names():
    # Not Secure over http://localhost, so a __Host- name would be refused by the browser.
    loaded = settings_as_loaded(DEBUG="true")

    assert loaded["SESSION_COOKIE_NAME"] == "sessionid"
    assert loaded["CSRF_COOKIE_NAME"] == "csrftoken"
    assert loaded["SESSION_COOKIE_SECURE"] is False


def test_the_production_cookies_are_sent_as_the_prefix_requires(settings, person):
    loaded = settings_as_loaded(**PRODUCTION_ENV)
    for name in COOKIE_SETTINGS:
        setattr(settings, name, loaded[name])
    client = APIClient()

    form = client.get("/sign-in", secure=True)  # a page with a form sets the CSRF cookie
    signed_in = client.post(
        "/api/auth/sign-in/email",
        {"email": person.email, "password": PASSWORD},
        format="json",
        secure=True,
    )

    assert form.status_code == 200
    assert signed_in.status_code == 200
    for morsel in (form.cookies["__Host-csrftoken"], signed_in.cookies["__Host-sessionid"]):
        assert morsel["secure"] is True
        assert morsel["path"] == "/"
        assert morsel["domain"] == ""
    # The cookie is the session: the next request is signed in.
    me = client.get("/api/user/me", secure=True)
    assert me.status_code == 200
    assert me.json()["data"]["email"] == person.email


@pytest.mark.parametrize(
    ("path", "status"), [("/api/health", 200), ("/api/user/me", 401), ("/api/nowhere", 404)]
)
def test_json_answers_carry_the_strictest_policy(client, path, status):
    response = client.get(path)

    assert response.status_code == status
    policy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    assert response["Content-Security-Policy"] == policy
