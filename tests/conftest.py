"""Fixture factories shared by every test (users, organizations, memberships, projects, keys,
clients), and the assertion every test of an API error makes."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.identity import canonical_email
from accounts.models import User
from apikeys import usage, warm_cache
from apikeys.models import ApiKey
from apikeys.services import api_key_issue, api_key_revoke
from ratelimits import counters as ratelimit
from ratelimits.counters import Rate
from tenants.models import Invitation, Membership, Organization, Project, Role
from tenants.tokens import make_invitation_token

PASSWORD = "correct-horse-battery-staple"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ENVELOPE_KEYS = {"success", "status", "code", "message", "error", "timestamp"}
_sequence = itertools.count(1)

# tests/extending is a project built on Latchkey (docs/extending.md), with scopes and routes of
# its own: it runs alone, `pytest --ds=tests.extending.settings tests/extending`.
if django_settings.SETTINGS_MODULE != "tests.extending.settings":
    collect_ignore = ["extending"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Argon2 stays the production hasher (tests/accounts check it); the rest of the suite
    # uses a fast one so that hundreds of sign-ups do not dominate the run.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture(autouse=True, scope="session")
def _tasks_in_process() -> Any:
    # Background tasks run in the request that enqueues them, so a test sees their effect
    # (mail.outbox, audit events) as soon as the response comes back.
    with override_settings(
        TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    ):
        yield


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # With CACHE_URL=redis://… the cache outlives a test; every test starts from nothing,
    # and so does each worker's own copy of warm keys.
    cache.clear()
    warm_cache.clear_local()
    usage.clear_local()


@pytest.fixture(scope="session")
def _one_rsa_key() -> Any:
    from oauth import signing

    return signing.generate()


@pytest.fixture(autouse=True)
def _signing_keys_per_test(_one_rsa_key: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # Each test's database starts with no signing key, so no worker's copy of the key list
    # may outlive it; the key pair itself is made once (each gets its own kid).
    from oauth import signing

    monkeypatch.setattr(signing, "generate", lambda: _one_rsa_key)
    signing.forget()
    yield
    signing.forget()


@pytest.fixture(autouse=True)
def _warm_key_cache_off(settings: Any) -> None:
    # The same query counts on every configuration: the warm-key cache, on by default with
    # Redis, is switched on by the tests that are about it (tests/apikeys/test_cache.py).
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 0}


@pytest.fixture
def user_factory(db: None) -> Callable[..., User]:
    def make(
        *,
        email: str | None = None,
        password: str = PASSWORD,
        full_name: str = "Test User",
        verified: bool = True,
        **fields: Any,
    ) -> User:
        n = next(_sequence)
        if verified:
            fields.setdefault("verified_at", timezone.now())
        return User.objects.create_user(
            email or f"user{n}@example.com",
            password,
            full_name=full_name,
            is_verified=verified,
            **fields,
        )

    return make


@pytest.fixture
def org_factory(db: None, user_factory: Callable[..., User]) -> Callable[..., Organization]:
    def make(*, owner: User | None = None, name: str | None = None) -> Organization:
        n = next(_sequence)
        organization = Organization.objects.create(name=name or f"Org {n}", slug=f"org-{n}")
        Membership.objects.create(
            user=owner or user_factory(), organization=organization, role=Role.OWNER
        )
        return organization

    return make


@pytest.fixture
def member_factory(db: None, user_factory: Callable[..., User]) -> Callable[..., User]:
    """Add a (new, by default) user to an organization with a role; return the user."""

    def make(organization: Organization, *, role: str = Role.MEMBER, user: User | None = None):
        user = user or user_factory()
        Membership.objects.create(user=user, organization=organization, role=role)
        return user

    return make


@pytest.fixture
def invitation_factory(db: None) -> Callable[..., tuple[Invitation, str]]:
    """An invitation to `email`, sent by `by` (an owner of the organization by default), and
    the token of its link."""

    def make(
        organization: Organization,
        email: str,
        *,
        role: str = Role.MEMBER,
        by: User | None = None,
        expires_in: int = 7 * 24 * 60 * 60,
    ) -> tuple[Invitation, str]:
        if by is None:
            by = organization.memberships.filter(role=Role.OWNER).first().user
        now = timezone.now()
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            email_key=canonical_email(email),
            role=role,
            invited_by=by,
            sent_at=now,
            expires_at=now + timedelta(seconds=expires_in),
        )
        return invitation, make_invitation_token(invitation)

    return make


@pytest.fixture
def project_factory(db: None) -> Callable[..., Project]:
    def make(organization: Organization, *, name: str | None = None, **fields: Any) -> Project:
        return Project.objects.create(
            organization=organization, name=name or f"Project {next(_sequence)}", **fields
        )

    return make


@pytest.fixture
def api_key_factory(db: None, user_factory: Callable[..., User]) -> Callable[..., tuple]:
    """Issue a key through the real service; return (ApiKey, plaintext). `expired` and
    `revoked` age it once issued; `last_used_at` sets its last use."""

    def make(
        *,
        user: User | None = None,
        scopes: list[str] | None = None,
        organization: Organization | None = None,
        expires_in: int | None = None,
        name: str = "Test key",
        expired: bool = False,
        revoked: bool = False,
        last_used_at: datetime | None = None,
        allowed_cidrs: list[str] | None = None,
    ) -> tuple[ApiKey, str]:
        key, raw = api_key_issue(
            user=user or user_factory(),
            name=name,
            scopes=scopes or ["user:read"],
            expires_in=expires_in,
            organization_id=organization.pk if organization else None,
            allowed_cidrs=allowed_cidrs,
        )
        if expired:
            ApiKey.objects.filter(pk=key.pk).update(
                expires_at=timezone.now() - timedelta(minutes=1)
            )
        if revoked:
            api_key_revoke(key=key, revoked_by=key.user)
        if last_used_at is not None:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=last_used_at)
        if expired or revoked or last_used_at is not None:
            key.refresh_from_db()
        return key, raw

    return make


@pytest.fixture
def key_client() -> Callable[[str], APIClient]:
    """A JSON client that sends `X-Api-Key: <raw>` on every request."""

    def make(raw: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=raw)
        return client

    return make


@pytest.fixture
def operator(user_factory: Callable[..., User]) -> User:
    """A superuser who works in the admin."""
    return user_factory(email="operator@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(operator: User) -> Client:
    """A browser-like client signed in to the admin as the operator (replaces pytest-django's,
    which assumes a username field)."""
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    """A JSON client signed in (by session) as `user`, or anonymous for None."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def team(org_factory, member_factory, user_factory) -> dict[str, Any]:
    """One organization with an owner, an admin and a member, and an outsider who belongs to
    another organization."""
    organization = org_factory()
    owner = organization.memberships.get().user
    return {
        "organization": organization,
        "owner": owner,
        "admin": member_factory(organization, role=Role.ADMIN),
        "member": member_factory(organization, role=Role.MEMBER),
        "outsider": org_factory().memberships.get().user,
    }


def assert_error(
    response: Any,
    status: int,
    code: str | None = None,
    *,
    message: str | None = None,
    field: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assert that `response` is the JSON error envelope with `status` (success false, a machine
    code, a message repeated in `error`, a UTC timestamp) and return its body. When given:
    `code` and `message` exactly, `field` named in a VALIDATION_ERROR's `details`, and `extra`,
    everything in the body beyond the envelope's own keys (`{}`: nothing more)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert body["status"] == status
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    assert body["error"] == body["message"]
    assert TIMESTAMP.fullmatch(body["timestamp"]), body["timestamp"]
    if code is not None:
        assert body["code"] == code, body
    if message is not None:
        assert body["message"] == message, body
    if code == "VALIDATION_ERROR":
        assert isinstance(body["details"], dict)
    if field is not None:
        assert field in body["details"], body["details"]
        assert all(isinstance(m, str) and m for m in body["details"][field])
    if extra is not None:
        assert {k: v for k, v in body.items() if k not in ENVELOPE_KEYS} == extra, body
    return body


def set_rates(settings: Any, **rates: str) -> None:
    """Replace some RATELIMITS entries, e.g. set_rates(settings, SIGNIN="2/min"), on a copy:
    the settings dict itself is never mutated."""
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        **{name: Rate.parse(rate, setting=name) for name, rate in rates.items()},
    }


@pytest.fixture
def one_ratelimit_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the limiter's clock just after the hour: every window a test uses (a minute, five
    minutes, an hour) starts then, so no test straddles two windows and sees a reset."""
    now = time.time()
    monkeypatch.setattr(ratelimit, "timer", lambda: now - now % 3600 + 1)


class BrokenCache(BaseCache):
    """A cache whose every operation fails, as a cache server that is gone."""

    def __init__(self, location: str, params: dict) -> None:
        super().__init__(params)

    def __getattribute__(self, name: str) -> Any:
        # Attributes, and close() (Django closes caches when the test's settings are undone).
        if name.startswith("__") or name in {"key_prefix", "version", "key_func", "close"}:
            return super().__getattribute__(name)

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("cache unavailable")

        return fail


@pytest.fixture
def fresh_fallback():
    """The per-process fallback counters outlive a test; every test starts from nothing."""
    ratelimit._local.clear()
    yield
    ratelimit._local.clear()
