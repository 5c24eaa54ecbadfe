"""Settings read from the environment: a bad production configuration stops start-up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_settings(
    *, code: str = "import config.settings", **env: str
) -> subprocess.CompletedProcess:
    own = {"DEBUG", "SECRET_KEY", "CACHE_URL", "APIKEY_CACHE_TIMEOUT", "PUBLIC_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in own}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env",
    [
        {"DEBUG": "false"},
        {"DEBUG": "false", "SECRET_KEY": "too-short"},
        {"DEBUG": "false", "SECRET_KEY": "a" * 60},
    ],
)
def test_production_without_a_real_secret_key_refuses_to_start(env):
    result = load_settings(**env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_with_a_real_secret_key_starts():
    result = load_settings(
        DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), PUBLIC_URL="https://auth.example.com"
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("public_url", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_production_without_a_public_url_refuses_to_start(public_url):
    # Links in emails are built from it; without it they would have to trust the Host header.
    env = {"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50)}
    if public_url is not None:
        env["PUBLIC_URL"] = public_url

    result = load_settings(**env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "PUBLIC_URL" in result.stderr


@pytest.mark.parametrize("debug", ["true", "false"])
@pytest.mark.parametrize(
    "public_url",
    [
        "auth.example.com",
        "//auth.example.com",
        "ftp://auth.example.com",
        "javascript:alert(1)",
        "https://",
        "https://auth example.com",
        "https://auth.example.com?next=/",
        "https://auth.example.com/#top",
    ],
)
def test_a_malformed_public_url_is_named_in_the_error(debug, public_url):
    result = load_settings(
        DEBUG=debug, SECRET_KEY=secrets.token_urlsafe(50), PUBLIC_URL=public_url
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "PUBLIC_URL" in result.stderr


@pytest.mark.parametrize(
    ("public_url", "kept"),
    [
        ("https://auth.example.com", "https://auth.example.com"),
        ("https://auth.example.com/", "https://auth.example.com"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("https://example.com/latchkey/", "https://example.com/latchkey"),
    ],
)
def test_a_well_formed_public_url_starts_without_its_trailing_slash(public_url, kept):
    result = load_settings(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        PUBLIC_URL=public_url,
        code="import config.settings as s; print(s.PUBLIC_URL)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == kept


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("CONN_MAX_AGE", "soon"),
        ("TRUSTED_ORIGINS", "example.com"),
        ("RATELIMIT_KEY", "lots"),
        ("RATELIMIT_PLANS", "{not json"),
        ("RATELIMIT_PLANS", '{"free": {"key": "1/min"}}'),
        ("RATELIMIT_PLANS", '{"free": {"key": "1/min", "organization": "often"}}'),
        ("RATELIMIT_PLANS", '{"pro": {"key": "1/min", "organization": "1/min"}}'),
        ("APIKEY_PREFIX", "Bad-Prefix"),
    ],
)
def test_a_malformed_variable_is_named_in_the_error(name, value):
    result = load_settings(**{name: value})

    assert result.returncode != 0
    assert name in result.stderr


def test_the_development_defaults_need_no_environment():
    result = load_settings()

    assert result.returncode == 0, result.stderr


def test_a_warm_key_cache_needs_a_shared_cache():
    refused = load_settings(APIKEY_CACHE_TIMEOUT="60")
    allowed = load_settings(APIKEY_CACHE_TIMEOUT="60", CACHE_URL="redis://127.0.0.1:6379/9")

    assert refused.returncode != 0
    assert "APIKEY_CACHE_TIMEOUT" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SESSION_IDLE_TIMEOUT", "soon"),
        ("SESSION_IDLE_TIMEOUT", "30"),
        ("DEVICE_COOKIE_AGE", "forever"),
        ("TASKS_BACKEND", "celery"),
        ("RATELIMIT_ORGANIZATION_CREATE", "lots"),
        ("RATELIMIT_ORGANIZATION_CREATE", "20/fortnight"),
        ("RATELIMIT_EMAIL_RECIPIENT", "5"),
        ("RATELIMIT_SIGNIN_FAILURES_ACCOUNT_IP", "5 per 5min"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_it(variable, value):
    result = load_settings(**{variable: value})

    assert result.returncode != 0
    assert variable in result.stderr


@pytest.mark.parametrize(
    ("email_url", "directory"),
    [
        # A file:// URL's three slashes: the path is absolute, not relative to the working
        # directory as django-environ alone would read it.
        ("filemail:///var/mail/latchkey", "/var/mail/latchkey"),
        # django-environ's own absolute form keeps working.
        ("filemail:////var/mail/latchkey", "/var/mail/latchkey"),
        ("filemail:///srv/latchkey/outbox/", "/srv/latchkey/outbox/"),
    ],
)
def test_filemail_writes_to_the_absolute_directory_it_names(email_url, directory):
    result = load_settings(
        EMAIL_URL=email_url,
        code="import config.settings as s; print(s.EMAIL_BACKEND, s.EMAIL_FILE_PATH)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.core.mail.backends.filebased.EmailBackend", directory]


@pytest.mark.parametrize(
    "email_url",
    ["filemail://var/mail/latchkey", "filemail://", "filemail:///", "filemail:///./mail"],
    ids=["host-not-path", "no-path", "root", "dot-segment"],
)
def test_a_filemail_url_without_an_absolute_directory_stops_start_up(email_url):
    result = load_settings(EMAIL_URL=email_url)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "EMAIL_URL" in result.stderr
