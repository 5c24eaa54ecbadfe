"""The dashboard's public and account pages, through Django's test client: landing, sign-up,
sign-in, sign-out, email verification, password reset and change, and /dashboard."""

from __future__ import annotations

import html
import re
import smtplib
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from accounts.models import User
from accounts.tokens import make_password_reset_token
from ratelimits.counters import Rate
from tenants.models import Membership, Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LANDING = "/"
SIGN_UP = "/sign-up"
SIGN_IN = "/sign-in"
SIGN_OUT = "/sign-out"
RESEND = "/verify-email/resend"
VERIFY = "/verify-email"
RESET_CHOOSE = "/reset-password/new-password"
RESET = "/reset-password"
CHANGE = "/settings/password"
HOME = "/dashboard"
API_KEYS = "/settings/api-keys"

EMAIL = "jane@example.com"
NEW_PASSWORD = "a-brand-new-passphrase"
TOO_SHORT = "Ab1-x"
TOO_SHORT_MESSAGE = "This password is too short. It must contain at least 10 characters."
INVALID_CREDENTIALS = "Invalid email or password."
TOO_MANY = "Too many attempts. Please wait"
RESET_SENT = "If that address has an account, a reset link is on its way."
RESEND_SENT = "If that address belongs to an account that still needs verifying"
LINK_NOT_VALID = "This link is not valid"


# --- Helpers ---------------------------------------------------------------------------------


def _page(response: Any) -> str:
    """The HTML as a reader sees it: entities decoded."""
    return html.unescape(response.content.decode())


def _field_errors(response: Any, field: str) -> list[str]:
    """The error texts rendered under one form field (templates/dashboard/_field.html)."""
    block = re.search(rf'<div id="id_{field}_error">(.*?)</div>', _page(response), re.S)
    return re.findall(r'<p class="error">(.*?)</p>', block.group(1)) if block else []


def _non_field_errors(response: Any) -> list[str]:
    block = re.search(r'<div class="notice error" role="alert">(.*?)</div>', _page(response), re.S)
    return re.findall(r"<p>(.*?)</p>", block.group(1)) if block else []


def _input(response: Any, name: str) -> str:
    """The <input> tag of the field called `name`."""
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', response.content.decode())
    assert match, f"no input named {name}"
    return match.group(0)


def _csrf_token(response: Any) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', _page(response)).group(1)


def _without_csrf(response: Any) -> str:
    """The page with its (per-response masked) CSRF token blanked, for comparing two pages."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", _page(response))


def _signed_in_as(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def _limit(settings: Any, **rates: str) -> None:
    """Replace some RATELIMITS entries (a copy: the settings dict is never mutated)."""
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        **{name: Rate.parse(rate, setting=name) for name, rate in rates.items()},
    }


def _require_verification(settings: Any) -> None:
    settings.ACCOUNTS = {**settings.ACCOUNTS, "REQUIRE_EMAIL_VERIFICATION": True}


def _assert_rate_limited(response: Any) -> None:
    """The form again, with the friendly 429 notice and a Retry-After the notice agrees with."""
    assert response.status_code == 429
    notice = re.search(
        r'<div class="notice warning" role="alert">(Too many attempts\. Please wait '
        r"(\d+) (second|minute)s? and try again\.)</div>",
        _page(response),
    )
    assert notice, "no friendly 429 notice"
    assert int(response["Retry-After"]) >= 1
    unit = 1 if notice.group(3) == "second" else 60
    assert int(notice.group(2)) * unit >= int(response["Retry-After"])
    assert '<form method="post" novalidate>' in _page(response)


def _sign_up(client: Client, **fields: str) -> Any:
    data = {"name": "Jane Doe", "email": EMAIL, "password": PASSWORD, **fields}
    return client.post(SIGN_UP, data)


def _sign_in(client: Client, email: str = EMAIL, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(SIGN_IN, {"email": email, "password": password, **extra})


def _change(client: Client, current: str, new: str, confirm: str | None = None) -> Any:
    return client.post(
        CHANGE,
        {
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
    )


def _reset_path_from_outbox() -> str:
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    return urlsplit(link).path


def _is_sent_to_sign_in(response: Any, path: str) -> bool:
    return response.status_code == 302 and response["Location"] == f"{SIGN_IN}?next={path}"


class BrokenEmailBackend:
    def __init__(self, **kwargs: object) -> None:
        pass

    def send_messages(self, messages: object) -> int:
        raise smtplib.SMTPServerDisconnected("gone")


@pytest.fixture
def jane(user_factory: Any) -> User:
    return user_factory(email=EMAIL, full_name="Jane Doe")


@pytest.fixture
def jane_client(client: Client, jane: User) -> Client:
    client.force_login(jane)
    return client


# --- Landing and the verification result page -----------------------------------------------


def test_landing_invites_an_anonymous_visitor_to_sign_up_or_in(client):
    response = client.get(LANDING)

    page = _page(response)
    assert response.status_code == 200
    assert '<a class="button" href="/sign-up">Create an account</a>' in page
    assert '<a class="button secondary" href="/sign-in">Sign in</a>' in page
    assert "Open your dashboard" not in page
    assert 'action="/sign-out"' not in page


def test_landing_sends_a_signed_in_user_to_their_dashboard(jane_client, org_factory, jane):
    org_factory(owner=jane, name="Acme")

    response = jane_client.get(LANDING)

    page = _page(response)
    assert response.status_code == 200
    assert '<a class="button" href="/dashboard">Open your dashboard</a>' in page
    assert f'<a class="button secondary" href="{API_KEYS}">API keys</a>' in page
    assert 'action="/sign-out"' in page
    assert EMAIL in page
    assert "Create an account" not in page


def _verification_path(client: Client, email: str = EMAIL) -> str:
    """Ask for a verification link, and return the emailed path."""
    assert client.post(RESEND, {"email": email}).status_code == 302
    return urlsplit(re.search(r"https?://\S+", mail.outbox[-1].body).group(0)).path


def test_the_emailed_verification_link_moves_its_token_out_of_the_url(client, user_factory):
    user_factory(email=EMAIL, verified=False)
    path = _verification_path(client)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == VERIFY
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_verification_page_shows_the_account_and_changes_nothing(
    client, user_factory, api_key_factory
):
    user = user_factory(email=EMAIL, verified=False)
    api_key_factory(user=user)
    Client().force_login(user)
    client.get(_verification_path(client))

    page = client.get(VERIFY)

    assert page.status_code == 200
    html = _page(page)
    assert "<h1>Is this your account?</h1>" in html
    assert f"<dt>Created</dt><dd>{user.created_at:%-d %B %Y, %H:%M} UTC</dd>" in html
    assert "<dt>Signed-in sessions</dt><dd>1</dd>" in html
    assert "<dt>Active API keys</dt><dd>1</dd>" in html
    assert 'value="verify"' in html and 'value="secure"' in html
    user.refresh_from_db()
    assert user.is_verified is False


def test_choosing_verify_verifies_once(client, user_factory):
    user = user_factory(email=EMAIL, verified=False)
    client.get(_verification_path(client))

    response = client.post(VERIFY, {"choice": "verify"})

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert "Your email address is verified." in _page(client.get(SIGN_IN))
    user.refresh_from_db()
    assert user.is_verified is True
    again = client.get(VERIFY)
    assert again.status_code == 400
    assert f"<h1>{LINK_NOT_VALID}</h1>" in _page(again)
    assert f'href="{RESEND}"' in _page(again)


def test_choosing_secure_takes_the_account_back_and_leads_to_a_new_password(
    client, user_factory, api_key_factory, key_client
):
    user = user_factory(email=EMAIL, verified=False)
    _key, raw = api_key_factory(user=user)
    impostor = Client()
    impostor.force_login(user)
    client.get(_verification_path(client))

    secured = client.post(VERIFY, {"choice": "secure"})

    assert secured.status_code == 302
    assert secured["Location"] == RESET_CHOOSE
    assert _is_sent_to_sign_in(impostor.get(API_KEYS), API_KEYS)
    by_key = key_client(raw).get("/api/user/me")
    assert (by_key.status_code, by_key.json()["code"]) == (401, "KEY_REVOKED")
    assert _sign_in(Client(), password=PASSWORD).status_code == 400
    form = client.get(RESET_CHOOSE)
    assert form.status_code == 200
    assert "Your account is secured" in _page(form)
    assert _set_password(client, RESET_CHOOSE, NEW_PASSWORD).status_code == 302
    assert _sign_in(Client(), password=NEW_PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.is_verified is True


@pytest.mark.parametrize("choice", ["", "both", "<script>"])
def test_an_unknown_choice_changes_nothing(client, user_factory, choice):
    user = user_factory(email=EMAIL, verified=False)
    client.get(_verification_path(client))

    response = client.post(VERIFY, {"choice": choice})

    assert response.status_code == 400
    assert "<h1>Is this your account?</h1>" in _page(response)
    user.refresh_from_db()
    assert user.is_verified is False


@pytest.mark.parametrize("token", ["x", "a:b:c", "x" * 600, "%00"])
def test_a_bad_verification_link_says_so(client, token):
    response = client.get(f"/verify-email/{token}", follow=True)

    assert response.status_code == 400
    assert f"<h1>{LINK_NOT_VALID}</h1>" in _page(response)


# --- Sign-up ---------------------------------------------------------------------------------


def test_sign_up_creates_the_account_and_organization_and_signs_in(client):
    response = _sign_up(client)

    user = User.objects.get(email=EMAIL)
    membership = Membership.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == HOME
    assert _signed_in_as(client) == user.pk
    assert user.full_name == "Jane Doe"
    assert user.is_verified is False
    assert membership.role == Role.OWNER
    assert membership.organization.name == "Jane Doe's organization"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [EMAIL]
    assert mail.outbox[0].subject == "Verify your email address for Latchkey"
    assert "http://localhost:8000/verify-email/" in mail.outbox[0].body

    landed = client.get(HOME, follow=True)

    assert landed.redirect_chain == [
        (f"/organizations/{membership.organization_id}/projects", 302)
    ]
    assert f"Welcome to Latchkey. We sent a link to {EMAIL} to verify it." in _page(landed)


def test_sign_up_form_renders_its_fields(client):
    response = client.get(SIGN_UP)

    assert response.status_code == 200
    assert "<h1>Create your account</h1>" in _page(response)
    for name in ("name", "email", "password"):
        assert _input(response, name)
    assert 'type="password"' in _input(response, "password")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (TOO_SHORT, TOO_SHORT_MESSAGE),
        ("password123", "This password is too common."),
        ("4815162342108", "This password is entirely numeric."),
        ("jane@example.com1", "The password is too similar to the email address."),
    ],
)
def test_sign_up_shows_password_rules_next_to_the_password_field(client, password, message):
    response = _sign_up(client, password=password)

    assert response.status_code == 400
    assert message in _field_errors(response, "password")
    assert 'aria-invalid="true"' in _input(response, "password")
    assert 'aria-invalid="true"' not in _input(response, "email")
    assert not User.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("email", ["not-an-email", "jane@", "@example.com", "ja ne@example.com"])
def test_sign_up_refuses_an_invalid_email(client, email):
    response = _sign_up(client, email=email)

    assert response.status_code == 400
    assert _field_errors(response, "email") == ["Enter a valid email address."]
    assert 'aria-invalid="true"' in _input(response, "email")
    assert not User.objects.exists()


@pytest.mark.parametrize("email", [EMAIL, "JANE@Example.COM"])
def test_sign_up_with_a_taken_email_says_so_and_creates_nobody(client, jane, email):
    response = _sign_up(client, email=email)

    assert response.status_code == 400
    assert _field_errors(response, "email") == ["An account with this email already exists."]
    assert User.objects.count() == 1
    assert _signed_in_as(client) is None
    assert mail.outbox == []


def test_sign_up_with_required_verification_sends_the_user_to_sign_in(client, settings):
    _require_verification(settings)

    response = _sign_up(client)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert User.objects.filter(email=EMAIL).exists()
    assert _signed_in_as(client) is None
    assert len(mail.outbox) == 1

    landed = client.get(SIGN_IN)

    assert landed.status_code == 200
    assert f"Account created. Follow the link we sent to {EMAIL}, then sign in." in _page(landed)


def test_sign_up_succeeds_even_when_the_mail_server_fails(client, settings):
    # The verification mail is a background task's: its failure does not undo the account.
    settings.EMAIL_BACKEND = f"{__name__}.BrokenEmailBackend"

    response = _sign_up(client)

    assert response.status_code == 302
    assert User.objects.filter(email=EMAIL).exists()


def test_sign_up_is_rate_limited_with_a_friendly_message(client, settings):
    _limit(settings, SIGNUP="2/hour")
    for _ in range(2):
        assert _sign_up(client, email="not-an-email").status_code == 400

    response = _sign_up(client)

    _assert_rate_limited(response)
    assert not User.objects.exists()
    assert mail.outbox == []


def test_sign_up_ignores_privilege_fields_smuggled_into_the_form(client):
    response = _sign_up(
        client, is_staff="1", is_superuser="on", is_verified="true", role="owner", handle="root"
    )

    user = User.objects.get(email=EMAIL)
    assert response.status_code == 302
    assert (user.is_staff, user.is_superuser, user.is_verified) == (False, False, False)
    assert user.handle == "jane"


def test_sign_up_redirects_a_signed_in_user(jane_client):
    assert jane_client.get(SIGN_UP)["Location"] == HOME
    response = _sign_up(jane_client, email="other@example.com")

    assert response.status_code == 302
    assert not User.objects.filter(email="other@example.com").exists()


def test_sign_up_never_answers_429_for_an_account_it_created(client, settings, user_factory):
    # The per-IP budget of failed sign-ins is spent (by anyone behind this IP). Sign-up must
    # either refuse before creating the account, or create it and sign in: a 429 saying "try
    # again" while the account exists leaves the user with "email taken" on the retry.
    _limit(settings, SIGNIN_FAILURES_IP="1/hour")
    user_factory(email="someone@example.com")
    assert _sign_in(client, "someone@example.com", "wrong-password-1").status_code == 400

    response = _sign_up(client)

    created = User.objects.filter(email=EMAIL).exists()
    assert not (response.status_code == 429 and created), (
        "sign-up answered 429 'Too many attempts' but the account was created"
    )


# --- Sign-in ---------------------------------------------------------------------------------


def test_sign_in_signs_in_and_goes_to_the_dashboard(client, jane):
    response = _sign_in(client)

    assert response.status_code == 302
    assert response["Location"] == HOME
    assert _signed_in_as(client) == jane.pk
    assert client.get(API_KEYS).status_code == 200


def test_sign_in_ignores_the_case_of_the_email(client, jane):
    response = _sign_in(client, email="  JANE@example.COM ")

    assert response.status_code == 302
    assert _signed_in_as(client) == jane.pk


def test_sign_in_issues_a_new_session_key(client, jane):
    # A session that exists before sign-in (planted by an attacker, say) must not become the
    # signed-in one: session fixation.
    session = client.session
    session["planted"] = True
    session.save()
    before = client.cookies["sessionid"].value

    response = _sign_in(client)

    after = client.cookies["sessionid"].value
    assert response.status_code == 302
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert _signed_in_as(client) == jane.pk


def test_signing_in_again_as_the_same_user_still_issues_a_new_session_key(jane_client):
    before = jane_client.cookies["sessionid"].value

    response = _sign_in(jane_client)

    assert response.status_code == 302
    assert jane_client.cookies["sessionid"].value != before
    assert not Session.objects.filter(session_key=before).exists()


@pytest.mark.parametrize("where", ["query", "form"])
def test_sign_in_follows_a_safe_next(client, jane, where):
    target = f"{API_KEYS}?page=2"
    if where == "query":
        response = client.post(
            f"{SIGN_IN}?next=/settings/api-keys%3Fpage%3D2", {"email": EMAIL, "password": PASSWORD}
        )
    else:
        response = _sign_in(client, next=target)

    assert response.status_code == 302
    assert response["Location"] == target


def test_sign_in_form_carries_next_in_a_hidden_field(client):
    response = client.get(f"{SIGN_IN}?next={API_KEYS}")

    assert response.status_code == 200
    assert f'<input type="hidden" name="next" value="{API_KEYS}">' in _page(response)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "//evil.example/settings/api-keys",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        " //evil.example",
        "\t//evil.example",
        "javascript:alert(1)",
        "http://testserver.evil.example/",
    ],
)
def test_sign_in_ignores_an_off_site_next(client, jane, target):
    response = _sign_in(client, next=target)

    assert response.status_code == 302
    assert response["Location"] == HOME


def test_sign_in_page_escapes_next(client):
    response = client.get(SIGN_IN, {"next": '"><script>alert(1)</script>'})

    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_wrong_password_is_refused_without_a_session(client, jane):
    response = _sign_in(client, password="not-the-password")

    assert response.status_code == 400
    assert _non_field_errors(response) == [INVALID_CREDENTIALS]
    assert _signed_in_as(client) is None
    assert _input(response, "email").count(f'value="{EMAIL}"') == 1


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, jane):
    wrong = _sign_in(client, password="not-the-password")
    unknown = _sign_in(client, email="nobody@example.com", password="not-the-password")

    assert wrong.status_code == unknown.status_code == 400
    assert _non_field_errors(wrong) == _non_field_errors(unknown) == [INVALID_CREDENTIALS]
    assert _without_csrf(wrong).replace(EMAIL, "@") == _without_csrf(unknown).replace(
        "nobody@example.com", "@"
    )


def test_inactive_user_cannot_sign_in(client, user_factory):
    user_factory(email=EMAIL, is_active=False)

    response = _sign_in(client)

    assert response.status_code == 400
    assert _non_field_errors(response) == [INVALID_CREDENTIALS]
    assert _signed_in_as(client) is None


def test_unverified_user_is_offered_a_new_link_when_verification_is_required(
    client, settings, user_factory
):
    _require_verification(settings)
    user_factory(email=EMAIL, verified=False)

    response = _sign_in(client)

    assert response.status_code == 400
    assert _non_field_errors(response) == ["Verify your email address before signing in."]
    assert f'<a href="{RESEND}">Send me a new verification link</a>' in _page(response)
    assert _signed_in_as(client) is None


def test_unverified_user_signs_in_when_verification_is_not_required(client, user_factory):
    user = user_factory(email=EMAIL, verified=False)

    response = _sign_in(client)

    assert response.status_code == 302
    assert _signed_in_as(client) == user.pk


@pytest.mark.parametrize(
    ("email", "password"), [("", ""), (EMAIL, ""), ("", PASSWORD), ("   ", "   ")]
)
def test_sign_in_with_blank_fields_shows_required_errors(client, jane, email, password):
    response = _sign_in(client, email=email, password=password)

    assert response.status_code == 400
    errors = _field_errors(response, "email") + _field_errors(response, "password")
    assert "This field is required." in errors
    assert _signed_in_as(client) is None


def test_sign_in_is_rate_limited_per_ip_with_a_friendly_message(client, settings, jane):
    _limit(settings, SIGNIN="2/min")
    assert _sign_in(client, password="wrong-wrong-1").status_code == 400
    assert _sign_in(client, password="wrong-wrong-2").status_code == 400

    response = _sign_in(client)

    _assert_rate_limited(response)
    assert _signed_in_as(client) is None


def test_failed_sign_ins_lock_the_account_even_for_the_right_password(
    client, settings, jane, user_factory
):
    _limit(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min")
    for n in range(3):
        assert _sign_in(client, password=f"wrong-password-{n}").status_code == 400

    locked = _sign_in(client)
    user_factory(email="other@example.com")
    elsewhere = _sign_in(Client(), email="other@example.com")

    _assert_rate_limited(locked)
    assert _signed_in_as(client) is None
    assert INVALID_CREDENTIALS not in _page(locked)
    assert PASSWORD not in _page(locked)
    # The lock is per account: another account from the same IP still signs in.
    assert elsewhere.status_code == 302


def test_sign_in_page_sends_a_signed_in_user_away(jane_client):
    assert jane_client.get(SIGN_IN)["Location"] == HOME
    assert jane_client.get(f"{SIGN_IN}?next={API_KEYS}")["Location"] == API_KEYS
    assert jane_client.get(f"{SIGN_IN}?next=https://evil.example/")["Location"] == HOME


def test_sign_in_prefills_the_email_from_the_query(client):
    response = client.get(SIGN_IN, {"email": EMAIL})

    assert f'value="{EMAIL}"' in _input(response, "email")


# --- CSRF ------------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_gets_the_styled_expired_page(jane):
    client = Client(enforce_csrf_checks=True)

    response = client.post(SIGN_IN, {"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 403
    assert "<h1>This form has expired</h1>" in _page(response)
    assert 'href="/"' in _page(response)
    assert _signed_in_as(client) is None


def test_a_post_with_the_forms_csrf_token_works(jane):
    client = Client(enforce_csrf_checks=True)
    form = client.get(SIGN_IN)

    response = client.post(
        SIGN_IN,
        {"email": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": _csrf_token(form)},
    )

    assert response.status_code == 302
    assert _signed_in_as(client) == jane.pk


def test_a_forged_csrf_token_is_refused(jane):
    client = Client(enforce_csrf_checks=True)
    client.get(SIGN_IN)

    response = client.post(
        SIGN_IN, {"email": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": "x" * 64}
    )

    assert response.status_code == 403
    assert "This form has expired" in _page(response)


def test_sign_out_without_the_csrf_token_keeps_the_session(jane):
    client = Client(enforce_csrf_checks=True)
    client.force_login(jane)

    response = client.post(SIGN_OUT)

    assert response.status_code == 403
    assert "This form has expired" in _page(response)
    assert _signed_in_as(client) == jane.pk


# --- Sign-out --------------------------------------------------------------------------------


def test_sign_out_get_asks_and_keeps_the_session(jane_client, jane):
    response = jane_client.get(SIGN_OUT)

    page = _page(response)
    assert response.status_code == 200
    assert "<h1>Sign out?</h1>" in page
    assert f"You are signed in as <strong>{EMAIL}</strong>" in page
    assert '<form method="post">' in page
    assert _signed_in_as(jane_client) == jane.pk
    assert jane_client.get(API_KEYS).status_code == 200


def test_sign_out_post_ends_the_session(jane_client):
    old_cookie = jane_client.cookies["sessionid"].value

    response = jane_client.post(SIGN_OUT, follow=True)

    assert response.redirect_chain == [(LANDING, 302)]
    assert "You are signed out." in _page(response)
    assert _signed_in_as(jane_client) is None
    assert _is_sent_to_sign_in(jane_client.get(API_KEYS), API_KEYS)
    assert not Session.objects.filter(session_key=old_cookie).exists()

    replay = Client()
    replay.cookies["sessionid"] = old_cookie
    assert _is_sent_to_sign_in(replay.get(API_KEYS), API_KEYS)


def test_sign_out_when_anonymous_goes_to_the_landing_page(client):
    assert client.get(SIGN_OUT)["Location"] == LANDING
    assert client.post(SIGN_OUT)["Location"] == LANDING


# --- "Send me an email" pages: resend verification, request a password reset ----------------


@pytest.fixture
def addresses(user_factory: Any) -> dict[str, str]:
    user_factory(email="verified@example.com", verified=True)
    user_factory(email="unverified@example.com", verified=False)
    user_factory(email="inactive@example.com", verified=False, is_active=False)
    return {
        "verified": "verified@example.com",
        "unverified": "unverified@example.com",
        "inactive": "inactive@example.com",
        "unknown": "nobody@example.com",
    }


@pytest.mark.parametrize(
    ("url", "sent_text", "mailed"),
    [
        (RESEND, RESEND_SENT, {"unverified"}),
        (RESET, RESET_SENT, {"verified", "unverified"}),
    ],
)
def test_email_pages_answer_the_same_for_every_address(client, addresses, url, sent_text, mailed):
    pages = {}
    for kind, email in addresses.items():
        mail.outbox.clear()
        response = client.post(url, {"email": email})
        assert response.status_code == 302, kind
        assert response["Location"] == f"{url}?sent=1", kind
        assert len(mail.outbox) == (1 if kind in mailed else 0), kind
        if kind in mailed:
            assert mail.outbox[0].to == [email]
        pages[kind] = client.get(response["Location"])

    assert all(page.status_code == 200 for page in pages.values())
    assert all(sent_text in _page(page) for page in pages.values())
    assert len({_without_csrf(page) for page in pages.values()}) == 1


@pytest.mark.parametrize("url", [RESEND, RESET])
def test_email_pages_show_a_form_error_for_a_bad_address(client, addresses, url):
    response = client.post(url, {"email": "not-an-email"})

    assert response.status_code == 400
    assert _field_errors(response, "email") == ["Enter a valid email address."]
    assert 'aria-invalid="true"' in _input(response, "email")
    assert mail.outbox == []


@pytest.mark.parametrize("url", [RESEND, RESET])
def test_email_pages_without_sent_show_no_confirmation(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert RESEND_SENT not in _page(response)
    assert RESET_SENT not in _page(response)


@pytest.mark.parametrize(("url", "policy"), [(RESEND, "VERIFY_EMAIL"), (RESET, "PASSWORD_RESET")])
def test_email_pages_are_rate_limited_with_a_friendly_message(
    client, settings, addresses, url, policy
):
    _limit(settings, **{policy: "2/hour"})
    for _ in range(2):
        assert client.post(url, {"email": addresses["unknown"]}).status_code == 302

    response = client.post(url, {"email": addresses["unverified"]})

    _assert_rate_limited(response)
    assert mail.outbox == []


@pytest.mark.parametrize("url", [RESEND, RESET])
def test_email_pages_mail_the_stored_address_not_the_typed_one(client, user_factory, url):
    user_factory(email="Jane@Example.com", verified=False)

    response = client.post(url, {"email": "jANE@eXAMPLE.COM"})

    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [["Jane@Example.com"]]


def test_resend_page_prefills_a_signed_in_users_address(jane_client):
    response = jane_client.get(RESEND)

    assert f'value="{EMAIL}"' in _input(response, "email")


# --- Reset confirm ---------------------------------------------------------------------------


def _request_reset(client: Client, email: str = EMAIL) -> str:
    """Ask for a reset link and follow it; return the token-free page it leads to."""
    assert client.post(RESET, {"email": email}).status_code == 302
    moved = client.get(_reset_path_from_outbox())
    assert moved.status_code == 302
    return moved["Location"]


def test_the_emailed_reset_link_moves_its_token_out_of_the_url(client, jane):
    assert client.post(RESET, {"email": EMAIL}).status_code == 302
    emailed = _reset_path_from_outbox()

    response = client.get(emailed)

    assert response.status_code == 302
    assert response["Location"] == RESET_CHOOSE
    form = client.get(RESET_CHOOSE)
    assert form.status_code == 200
    assert emailed.rsplit("/", 1)[1] not in form.content.decode()


@pytest.mark.parametrize(
    ("revoke_keys", "survives"), [(False, True), (True, False)], ids=["kept", "revoked"]
)
def test_the_reset_page_can_revoke_every_key(
    client, jane, api_key_factory, key_client, revoke_keys, survives
):
    _key, raw = api_key_factory(user=jane)
    path = _request_reset(client)
    form = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    if revoke_keys:
        form["revoke_keys"] = "on"

    assert client.post(path, form).status_code == 302

    response = key_client(raw).get("/api/user/me")
    assert response.status_code == (200 if survives else 401)
    if not survives:
        assert response.json()["code"] == "KEY_REVOKED"


def _set_password(client: Client, path: str, new: str, confirm: str | None = None) -> Any:
    return client.post(
        path, {"new_password": new, "confirm_password": new if confirm is None else confirm}
    )


def test_the_emailed_reset_link_sets_a_new_password(client, jane):
    path = _request_reset(client)

    form = client.get(path)
    reset = _set_password(client, path, NEW_PASSWORD)

    assert form.status_code == 200
    assert "<h1>Choose a new password</h1>" in _page(form)
    assert _input(form, "new_password") and _input(form, "confirm_password")
    assert reset.status_code == 302
    assert reset["Location"] == SIGN_IN  # no address in the URL (logs, Referer)

    landed = client.get(reset["Location"])
    assert "Your password is reset. Sign in with the new one." in _page(landed)

    old = _sign_in(client, password=PASSWORD)
    assert old.status_code == 400
    assert _non_field_errors(old) == [INVALID_CREDENTIALS]
    assert _sign_in(client, password=NEW_PASSWORD).status_code == 302
    assert _signed_in_as(client) == jane.pk


def test_reset_link_shows_password_rules_inline(client, jane):
    path = _request_reset(client)

    response = _set_password(client, path, TOO_SHORT)

    assert response.status_code == 400
    assert TOO_SHORT_MESSAGE in _field_errors(response, "new_password")
    assert 'aria-invalid="true"' in _input(response, "new_password")
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)
    assert client.get(path).status_code == 200  # the link is not spent


def test_reset_link_refuses_a_password_like_the_email(client, jane):
    path = _request_reset(client)

    response = _set_password(client, path, "jane@example.com")

    assert response.status_code == 400
    assert "The password is too similar to the email address." in _field_errors(
        response, "new_password"
    )


def test_reset_link_refuses_a_mismatched_confirmation(client, jane):
    path = _request_reset(client)

    response = _set_password(client, path, NEW_PASSWORD, confirm=NEW_PASSWORD + "!")

    assert response.status_code == 400
    assert _field_errors(response, "confirm_password") == ["The two passwords do not match."]
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_reset_link_works_once(client, jane):
    path = _request_reset(client)
    assert _set_password(client, path, NEW_PASSWORD).status_code == 302

    again = client.get(path)
    replay = _set_password(client, path, "yet-another-passphrase")

    assert again.status_code == 400
    assert f"<h1>{LINK_NOT_VALID}</h1>" in _page(again)
    assert f'href="{RESET}"' in _page(again)
    assert replay.status_code == 400
    assert LINK_NOT_VALID in _page(replay)
    jane.refresh_from_db()
    assert jane.check_password(NEW_PASSWORD)


def test_reset_link_dies_when_the_user_signs_in(client, jane):
    path = _request_reset(client)
    assert _sign_in(Client()).status_code == 302

    response = client.get(path)

    assert response.status_code == 400
    assert LINK_NOT_VALID in _page(response)


def test_reset_ends_every_session_of_the_user(client, jane):
    elsewhere = Client()
    elsewhere.force_login(jane)
    assert elsewhere.get(API_KEYS).status_code == 200
    path = _request_reset(client)

    assert _set_password(client, path, NEW_PASSWORD).status_code == 302

    assert _is_sent_to_sign_in(elsewhere.get(API_KEYS), API_KEYS)


def test_resetting_while_signed_in_here_signs_this_browser_out_too(jane_client, jane):
    path = _request_reset(jane_client)

    response = _set_password(jane_client, path, NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    landed = jane_client.get(SIGN_IN)
    assert "Your password is reset. Sign in with the new one." in _page(landed)
    assert _signed_in_as(jane_client) is None


def test_reset_confirm_is_rate_limited_with_a_friendly_message(client, settings, jane):
    _limit(settings, PASSWORD_RESET="2/hour")
    path = _request_reset(client)  # the request spends one of the two
    assert _set_password(client, path, TOO_SHORT).status_code == 400

    response = _set_password(client, path, NEW_PASSWORD)

    _assert_rate_limited(response)
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("", 404),
        ("x", 400),
        ("a.b", 400),
        (".", 400),
        ("..", 400),
        ("x" * 5000, 400),
        ("x" * 190 + ".y", 400),
        ("é.ü", 400),
        ("😀.😀", 400),
        ("%00", 400),
        ("%00.%00", 400),
        ("%ff%fe.%c3", 400),
        ("MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA.abc-def", 400),  # 26 zeros: a ULID nobody has
        ("AAAA.abc", 400),  # decodes to NUL bytes
        ("%2e%2e", 400),
        ("<script>.x", 400),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_garbage_reset_tokens_are_invalid_never_an_error(client, jane, token, status, method):
    send = getattr(client, method)

    response = send(
        f"{RESET}/{token}",
        {"new_password": NEW_PASSWORD} if method == "post" else {},
        follow=True,
    )

    assert response.status_code == status
    if status == 400:
        assert LINK_NOT_VALID in _page(response)
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_another_users_id_with_a_valid_key_is_refused(client, jane, user_factory):
    other = user_factory()
    own = make_password_reset_token(jane)
    other_id = make_password_reset_token(other).split(".", 1)[0]

    response = client.get(f"{RESET}/{other_id}.{own.split('.', 1)[1]}", follow=True)

    assert response.status_code == 400
    assert LINK_NOT_VALID in _page(response)


def test_a_deactivated_users_reset_link_is_refused(client, jane):
    path = _request_reset(client)
    User.objects.filter(pk=jane.pk).update(is_active=False)

    assert client.get(path).status_code == 400
    response = _set_password(client, path, NEW_PASSWORD)

    assert response.status_code == 400
    assert LINK_NOT_VALID in _page(response)


# --- Password change -------------------------------------------------------------------------


def test_password_change_needs_a_signed_in_user(client):
    response = client.get(CHANGE)

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={CHANGE}"
    assert _is_sent_to_sign_in(client.post(CHANGE, {}), CHANGE)


def test_password_change_form_renders(jane_client):
    response = jane_client.get(CHANGE)

    assert response.status_code == 200
    assert "<h1>Password</h1>" in _page(response)
    for name in ("current_password", "new_password", "confirm_password"):
        assert 'type="password"' in _input(response, name)


def test_password_change_keeps_this_session_and_ends_the_others(jane_client, jane):
    elsewhere = Client()
    elsewhere.force_login(jane)

    response = _change(jane_client, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == CHANGE
    landed = jane_client.get(CHANGE)
    assert landed.status_code == 200
    assert "Password changed. Every other session has been signed out." in _page(landed)
    assert jane_client.get(API_KEYS).status_code == 200
    assert _is_sent_to_sign_in(elsewhere.get(API_KEYS), API_KEYS)
    jane.refresh_from_db()
    assert jane.check_password(NEW_PASSWORD)
    assert _sign_in(Client(), password=NEW_PASSWORD).status_code == 302


def test_password_change_refuses_a_wrong_current_password(jane_client, jane):
    response = _change(jane_client, "not-the-password", NEW_PASSWORD)

    assert response.status_code == 400
    assert _field_errors(response, "current_password") == ["The current password is incorrect."]
    assert 'aria-invalid="true"' in _input(response, "current_password")
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_password_change_refuses_the_current_password_as_the_new_one(jane_client):
    response = _change(jane_client, PASSWORD, PASSWORD)

    assert response.status_code == 400
    assert _field_errors(response, "new_password") == [
        "Choose a password different from the current one."
    ]


def test_password_change_refuses_a_mismatched_confirmation(jane_client, jane):
    response = _change(jane_client, PASSWORD, NEW_PASSWORD, confirm="something-else-entirely")

    assert response.status_code == 400
    assert _field_errors(response, "confirm_password") == ["The two passwords do not match."]
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (TOO_SHORT, TOO_SHORT_MESSAGE),
        ("password123", "This password is too common."),
        ("jane@example.com!", "The password is too similar to the email address."),
    ],
)
def test_password_change_shows_password_rules_inline(jane_client, jane, password, message):
    response = _change(jane_client, PASSWORD, password)

    assert response.status_code == 400
    assert message in _field_errors(response, "new_password")
    assert 'aria-invalid="true"' in _input(response, "new_password")
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


def test_repeated_wrong_current_passwords_are_rate_limited(jane_client, jane, settings):
    _limit(settings, SIGNIN_FAILURES_ACCOUNT_IP="3/5min")
    for n in range(3):
        assert _change(jane_client, f"wrong-password-{n}", NEW_PASSWORD).status_code == 400

    guessed = _change(jane_client, PASSWORD, NEW_PASSWORD)

    _assert_rate_limited(guessed)
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


# --- /dashboard ------------------------------------------------------------------------------


def test_dashboard_sends_an_anonymous_visitor_to_sign_in(client):
    response = client.get(HOME)

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={HOME}"


def test_dashboard_opens_the_first_organization_joined(jane_client, jane, org_factory):
    first = org_factory(owner=jane, name="Zeta")
    org_factory(owner=jane, name="Alpha")

    response = jane_client.get(HOME)

    assert response.status_code == 302
    assert response["Location"] == f"/organizations/{first.pk}/projects"
    page = jane_client.get(response["Location"])
    assert page.status_code == 200
    assert "<h1>Projects</h1>" in _page(page)


def test_dashboard_returns_to_the_organization_last_looked_at(jane_client, jane, org_factory):
    org_factory(owner=jane)
    second = org_factory(owner=jane)
    assert jane_client.get(f"/organizations/{second.pk}/projects").status_code == 200

    response = jane_client.get(HOME)

    assert response["Location"] == f"/organizations/{second.pk}/projects"


def test_dashboard_tells_a_user_without_organizations(jane_client):
    response = jane_client.get(HOME)

    assert response.status_code == 200
    assert "<h1>You are not in any organization</h1>" in _page(response)
    assert f'href="{API_KEYS}"' in _page(response)


# --- Junk input ------------------------------------------------------------------------------

JUNK = {
    "blank fields": {
        "name": "",
        "email": "",
        "password": "",
        "current_password": "",
        "new_password": "",
        "confirm_password": "",
    },
    "junk fields only": {"foo": "bar", "__proto__": "x", "csrfmiddlewaretoken": "junk"},
    "overlong": {
        "name": "n" * 5000,
        "email": "e" * 5000 + "@example.com",
        "password": "p" * 5000,
        "current_password": "p" * 5000,
        "new_password": "q" * 5000,
        "confirm_password": "q" * 5000,
        "next": "/" + "x" * 5000,
    },
    "lists": {
        "name": ["a", "b"],
        "email": [EMAIL, "not-an-email"],
        "password": ["x", TOO_SHORT],
        "current_password": ["x", ""],
        "new_password": [NEW_PASSWORD, ""],
        "confirm_password": ["", ""],
    },
    "nul bytes": {
        "name": "a\x00b",
        "email": "jane\x00@example.com",
        "password": "pass\x00word-long-enough",
        "current_password": "x\x00",
        "new_password": "a\x00-new-passphrase",
        "confirm_password": "a\x00-new-passphrase",
    },
    "control and invisible characters": {
        "name": "\u202eevil",
        "email": "ja\u00adne@example.com",
        "password": "\u200b",
        "current_password": "\u200b",
        "new_password": "\u200b",
        "confirm_password": "\u200b",
    },
    "odd addresses": {
        "email": "a@" + "b" * 300 + ".com",
        "password": "x",
        "current_password": "",
        "new_password": "x",
        "confirm_password": "y",
    },
    "idna-unencodable domain": {
        "email": "jane@" + "x" * 64 + ".example",
        "password": "",
        "current_password": "",
        "new_password": "",
        "confirm_password": "",
    },
}
RAW_JUNK = [
    b"email=%ED%A0%80&password=%FF%FE&new_password=%C0&confirm_password=%C0",
    b"%%%&&&===;;;email",
    b"email[]=a&email[x]=b&password[]=c",
]
FORMS = ["sign-up", "sign-in", "resend", "reset", "reset-confirm", "change"]


@pytest.fixture
def form_url(request: Any, client: Client, jane: User) -> str:
    """The form under test, with the client set up to use it (signed in for the change)."""
    name = request.param
    if name == "change":
        client.force_login(jane)
    if name == "reset-confirm":
        assert client.get(f"{RESET}/{make_password_reset_token(jane)}").status_code == 302
    return {
        "sign-up": SIGN_UP,
        "sign-in": SIGN_IN,
        "resend": RESEND,
        "reset": RESET,
        "reset-confirm": RESET_CHOOSE,
        "change": CHANGE,
    }[name]


@pytest.mark.parametrize("form_url", FORMS, indirect=True)
@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_junk_input_is_refused_with_a_form_error(client, jane, form_url, junk):
    users = User.objects.count()

    response = client.post(form_url, junk)

    assert response.status_code == 400
    assert '<form method="post" novalidate>' in _page(response)
    assert '<p class="error"' in _page(response) or _non_field_errors(response)
    assert User.objects.count() == users
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)
    assert mail.outbox == []


@pytest.mark.parametrize("form_url", FORMS, indirect=True)
@pytest.mark.parametrize("body", RAW_JUNK)
def test_undecodable_bodies_are_refused_with_a_form_error(client, jane, form_url, body):
    response = client.post(form_url, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert '<form method="post" novalidate>' in _page(response)
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)


@pytest.mark.parametrize("form_url", FORMS, indirect=True)
@pytest.mark.parametrize(
    "post",
    [
        pytest.param(lambda client, url: client.post(url), id="no body"),
        pytest.param(
            lambda client, url: client.post(
                url, {"email": EMAIL, "password": PASSWORD}, content_type="application/json"
            ),
            id="json body",
        ),
    ],
)
def test_a_post_without_form_fields_is_refused_with_field_errors(client, jane, form_url, post):
    # An empty POST (or one whose body is not form data) is validated like any other: the
    # form comes back with "required" errors, and nothing happens.
    response = post(client, form_url)

    assert response.status_code == 400
    assert '<form method="post" novalidate>' in _page(response)
    assert "This field is required." in _page(response)
    assert User.objects.count() == 1
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)
    assert mail.outbox == []


@pytest.mark.parametrize(
    "query",
    [
        "?next=/foo%0d%0aSet-Cookie:%20x=1",
        "?next=%00",
        "?next=/%E2%80%AEevil",
        "?next=" + "/x" * 3000,
        "?next=http://[::1",
        "?next=http://%5B",
        "?email=%00",
        "?next=a&next=b&next=//evil.example",
    ],
)
def test_sign_in_with_a_junk_query_never_fails(client, jane, query):
    page = client.get(SIGN_IN + query)
    response = client.post(SIGN_IN + query, {"email": EMAIL, "password": PASSWORD})

    assert page.status_code == 200
    assert response.status_code == 302
    assert "\n" not in response["Location"] and "\r" not in response["Location"]
    assert urlsplit(response["Location"]).netloc == ""
    assert not response["Location"].startswith("//")


@pytest.mark.parametrize("query", ["?sent=1", "?sent=%00", "?sent=1&sent=2", "?sent[]=1"])
@pytest.mark.parametrize("url", [RESEND, RESET])
def test_email_pages_with_a_junk_query_never_fail(client, url, query):
    assert client.get(url + query).status_code == 200


# --- No secret in a page ---------------------------------------------------------------------

SECRET = "Zebra-Quartz-9931-Lantern"


def _assert_no_secret(responses: list[Any], *secrets: str) -> None:
    for response in responses:
        for secret in secrets:
            assert secret not in response.content.decode(), response.request["PATH_INFO"]
            assert secret not in _page(response), response.request["PATH_INFO"]


def test_the_password_never_appears_in_a_page(client):
    signed_up = client.post(
        SIGN_UP, {"name": "Jane", "email": EMAIL, "password": SECRET}, follow=True
    )
    refused = _sign_up(Client(), email="second@example.com", password="Zebra")
    taken = _sign_up(Client(), password=SECRET)
    client.post(SIGN_OUT)
    wrong = _sign_in(client, password=SECRET + "x")
    signed_in = client.post(SIGN_IN, {"email": EMAIL, "password": SECRET}, follow=True)
    mismatch = _change(client, SECRET, NEW_PASSWORD, confirm=SECRET)
    same = _change(client, SECRET, SECRET)
    weak = _change(client, SECRET, "Zebra")
    changed = client.post(
        CHANGE,
        {
            "current_password": SECRET,
            "new_password": SECRET + "-new",
            "confirm_password": SECRET + "-new",
        },
        follow=True,
    )

    assert "Welcome to Latchkey" in _page(signed_up)
    assert _non_field_errors(wrong) == [INVALID_CREDENTIALS]
    assert "Password changed" in _page(changed)
    _assert_no_secret(
        [signed_up, refused, taken, wrong, signed_in, mismatch, same, weak, changed],
        SECRET,
        'value="Zebra',
    )


def test_the_new_password_never_appears_in_the_reset_pages(client, jane):
    path = _request_reset(client)

    mismatch = _set_password(client, path, SECRET, confirm=SECRET + "x")
    weak = _set_password(client, path, "Zebra")
    done = client.post(path, {"new_password": SECRET, "confirm_password": SECRET}, follow=True)

    assert "Your password is reset" in _page(done)
    _assert_no_secret([mismatch, weak, done], SECRET, 'value="Zebra')


@pytest.mark.parametrize(
    ("path", "lifetime"),
    [("/verify-email/abc", "VERIFY_EMAIL_MAX_AGE"), ("/reset-password/abc", "PASSWORD_RESET")],
)
def test_opening_a_link_gives_a_new_session_that_lives_as_long_as_the_token(
    client, settings, path, lifetime
):
    before = client.get(path).cookies[settings.SESSION_COOKIE_NAME].value

    response = client.get(path)  # the same browser, its session already holding a token

    assert response.status_code == 302
    after = response.cookies[settings.SESSION_COOKIE_NAME]
    assert after.value != before
    expected = (
        settings.ACCOUNTS["VERIFY_EMAIL_MAX_AGE"]
        if lifetime == "VERIFY_EMAIL_MAX_AGE"
        else settings.PASSWORD_RESET_TIMEOUT
    )
    assert int(after["max-age"]) == expected
