"""Signing in to the admin (POST /admin/login/): the product's own sign-in service, so the same
failed sign-in budgets as the API and the dashboard, the per-IP limit, the audit events, a new
session key, and only active staff accounts get in."""

from __future__ import annotations

import html
import re
from importlib import import_module
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts import devices
from audit.models import Action, AuditEvent
from tests.conftest import PASSWORD, set_rates

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_ratelimit_window")]

ADMIN = "/admin/"
ADMIN_LOGIN = "/admin/login/"
API_SIGN_IN = "/api/auth/sign-in/email"
DASHBOARD_SIGN_IN = "/sign-in"
STAFF = "staff@example.com"
WRONG = "not-the-password"
INVALID_LOGIN = (
    "Please enter the correct email address and password for a staff account. "
    "Note that both fields may be case-sensitive."
)
TOO_MANY = re.compile(r"^Too many sign-in attempts\. Please wait (\d+) seconds? and try again\.$")


# --- Helpers ---------------------------------------------------------------------------------


def _admin_sign_in(client: Client, email: str, password: str, **extra: Any) -> Any:
    return client.post(
        ADMIN_LOGIN, {"username": email, "password": password, "next": ADMIN}, **extra
    )


def _api_sign_in(client: Client, email: str, password: str, **extra: Any) -> Any:
    return client.post(
        API_SIGN_IN,
        {"email": email, "password": password},
        content_type="application/json",
        **extra,
    )


def _dashboard_sign_in(client: Client, email: str, password: str, **extra: Any) -> Any:
    return client.post(DASHBOARD_SIGN_IN, {"email": email, "password": password}, **extra)


SURFACES = {"api": _api_sign_in, "dashboard": _dashboard_sign_in, "admin": _admin_sign_in}
# What a wrong password gets on each surface, and what a spent budget gets.
REFUSED = {"api": 401, "dashboard": 400, "admin": 200}


def _error_notes(response: Any) -> list[str]:
    """The admin login page's error notes, as a reader sees them."""
    notes = re.findall(r'<p class="errornote">(.*?)</p>', response.content.decode(), re.S)
    return [" ".join(html.unescape(note).split()) for note in notes]


def _session_store() -> Any:
    return import_module(django_settings.SESSION_ENGINE).SessionStore


def _signed_in_as(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def _admin_index_status(client: Client) -> int:
    return client.get(ADMIN).status_code


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def staff(user_factory):
    return user_factory(email=STAFF, is_staff=True)


# --- Who gets in -----------------------------------------------------------------------------


def test_a_staff_account_signs_in_and_is_audited(client, staff):
    response = _admin_sign_in(client, STAFF, PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == ADMIN
    assert _signed_in_as(client) == str(staff.pk)
    assert _admin_index_status(client) == 200
    [event] = _events(Action.SIGNED_IN)
    assert (event.actor, event.target_id, event.ip) == (staff, str(staff.pk), "127.0.0.1")
    assert _events(Action.SIGN_IN_FAILED) == []
    # The browser is now known for this account (accounts/devices.py).
    assert devices.cookie_name() in response.cookies


def test_a_browser_signs_in_with_the_forms_csrf_token(staff):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(ADMIN_LOGIN, {"next": ADMIN})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())

    forged = _admin_sign_in(Client(enforce_csrf_checks=True), STAFF, PASSWORD)
    response = browser.post(
        ADMIN_LOGIN,
        {
            "csrfmiddlewaretoken": token.group(1),
            "username": STAFF,
            "password": PASSWORD,
            "next": ADMIN,
        },
    )

    assert page.status_code == 200
    assert forged.status_code == 403
    assert response.status_code == 302
    assert response["Location"] == ADMIN
    assert _admin_index_status(browser) == 200
    assert len(_events(Action.SIGNED_IN)) == 1


@pytest.mark.parametrize(
    ("account", "password", "reason"),
    [
        ({"is_staff": True}, WRONG, "invalid_credentials"),
        ({"is_staff": True, "is_superuser": True}, WRONG, "invalid_credentials"),
        ({"is_staff": False}, WRONG, "invalid_credentials"),
        # The right password of an account that may not use the admin: refused like a wrong
        # one, so the page does not say which accounts are staff.
        ({"is_staff": False}, PASSWORD, "not_staff"),
        ({"is_staff": False, "is_superuser": False, "verified": False}, PASSWORD, "not_staff"),
        # Django's ModelBackend refuses an inactive account, whatever its password.
        ({"is_staff": True, "is_active": False}, PASSWORD, "invalid_credentials"),
        (
            {"is_staff": True, "is_superuser": True, "is_active": False},
            PASSWORD,
            "invalid_credentials",
        ),
    ],
    ids=[
        "staff-wrong-password",
        "superuser-wrong-password",
        "member-wrong-password",
        "member-right-password",
        "unverified-member-right-password",
        "inactive-staff-right-password",
        "inactive-superuser-right-password",
    ],
)
def test_only_active_staff_get_in_and_every_refusal_is_audited(
    client, user_factory, account, password, reason
):
    user = user_factory(email="someone@example.com", **account)

    response = _admin_sign_in(client, "someone@example.com", password)

    assert response.status_code == 200
    assert _error_notes(response) == [INVALID_LOGIN]
    assert _signed_in_as(client) is None
    assert client.get(ADMIN)["Location"].startswith(ADMIN_LOGIN)
    assert devices.cookie_name() not in response.cookies
    [event] = _events(Action.SIGN_IN_FAILED)
    assert event.actor == user
    assert event.detail == {"reason": reason}
    assert _events(Action.SIGNED_IN) == []


def test_an_unknown_address_is_refused_with_the_same_page(client, staff):
    wrong = _admin_sign_in(client, STAFF, WRONG)
    unknown = _admin_sign_in(client, "nobody@example.com", WRONG)

    assert wrong.status_code == unknown.status_code == 200
    assert _error_notes(wrong) == _error_notes(unknown) == [INVALID_LOGIN]
    events = _events(Action.SIGN_IN_FAILED)
    assert [(e.actor, e.detail) for e in events] == [
        (staff, {"reason": "invalid_credentials"}),
        (None, {"reason": "invalid_credentials"}),
    ]


def test_a_refused_member_sees_the_same_text_as_a_wrong_password(client, staff, user_factory):
    user_factory(email="member@example.com")

    member = _admin_sign_in(client, "member@example.com", PASSWORD)
    wrong = _admin_sign_in(client, STAFF, WRONG)

    assert _error_notes(member) == _error_notes(wrong) == [INVALID_LOGIN]


# --- One budget for every sign-in form --------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("api", "admin"),
        ("dashboard", "admin"),
        ("admin", "api"),
        ("admin", "dashboard"),
        ("admin", "admin"),
    ],
)
def test_failures_anywhere_lock_the_admin_and_the_admin_locks_everywhere(
    settings, staff, earlier, later
):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min")
    attacker = Client()
    statuses = [SURFACES[earlier](attacker, STAFF, WRONG).status_code for _ in range(2)]
    statuses.append(SURFACES[later](attacker, STAFF, WRONG).status_code)

    # The budget is spent: even the right password is refused, on every form.
    refused = SURFACES[later](Client(), STAFF, PASSWORD)

    assert statuses == [REFUSED[earlier]] * 2 + [REFUSED[later]]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert len(_events(Action.SIGN_IN_FAILED)) == 3
    assert _events(Action.SIGNED_IN) == []


def test_a_locked_admin_says_when_to_come_back(client, settings, staff):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    for _ in range(2):
        assert _api_sign_in(Client(), STAFF, WRONG).status_code == 401

    response = _admin_sign_in(client, STAFF, PASSWORD)

    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 300
    [note] = _error_notes(response)
    waited = TOO_MANY.match(note)
    assert waited, note
    assert int(waited.group(1)) == retry_after
    assert _signed_in_as(client) is None
    assert _events(Action.SIGNED_IN) == []


def test_the_admins_lock_is_per_account(client, settings, staff, user_factory):
    set_rates(settings, SIGNIN_FAILURES_ACCOUNT_IP="2/5min")
    other = user_factory(email="other-staff@example.com", is_staff=True)
    for _ in range(2):
        _admin_sign_in(Client(), STAFF, WRONG)

    locked = _admin_sign_in(Client(), STAFF, PASSWORD)
    response = _admin_sign_in(client, "other-staff@example.com", PASSWORD)

    assert locked.status_code == 429
    assert response.status_code == 302
    assert _signed_in_as(client) == str(other.pk)


@pytest.mark.parametrize("earlier", ["api", "dashboard", "admin"])
def test_the_per_ip_sign_in_limit_covers_the_admin(settings, staff, earlier):
    set_rates(settings, SIGNIN="2/min")
    for _ in range(2):
        SURFACES[earlier](Client(), STAFF, PASSWORD)

    refused = _admin_sign_in(Client(), STAFF, PASSWORD)
    elsewhere = _admin_sign_in(Client(), STAFF, PASSWORD, REMOTE_ADDR="198.51.100.7")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert TOO_MANY.match(_error_notes(refused)[0])
    assert elsewhere.status_code == 302


# --- The session -----------------------------------------------------------------------------


@pytest.mark.parametrize("before", ["anonymous", "planted", "same-user-in-dashboard"])
def test_signing_in_to_the_admin_issues_a_new_session_key(client, staff, before):
    if before == "planted":
        # A session that exists before sign-in (planted by an attacker, say): fixation.
        session = client.session
        session["planted"] = True
        session.save()
    elif before == "same-user-in-dashboard":
        assert _dashboard_sign_in(client, STAFF, PASSWORD).status_code == 302
        assert _signed_in_as(client) == str(staff.pk)
    old = client.cookies.get(django_settings.SESSION_COOKIE_NAME)
    old_key = old.value if old is not None else None

    response = _admin_sign_in(client, STAFF, PASSWORD)

    new_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert response.status_code == 302
    assert new_key and new_key != old_key
    assert _signed_in_as(client) == str(staff.pk)
    assert _admin_index_status(client) == 200
    if old_key:
        assert not _session_store()().exists(old_key)


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_admins_password_change_is_the_dashboards(user_factory, method):
    staff = user_factory(email="ops@example.com", is_staff=True)
    client = Client()
    client.force_login(staff)

    response = getattr(client, method)(
        "/admin/password_change/",
        {"old_password": "wrong", "new_password1": "x" * 20, "new_password2": "x" * 20},
    )

    assert response.status_code == 302
    assert response["Location"] == "/settings/password"
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)
