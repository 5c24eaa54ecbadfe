"""What the account pages' tests share: the paths, the texts a reader sees, reading a rendered
form, and posting the account forms as a browser would."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from tests.conftest import PASSWORD

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
RESET_SENT = "If that address has an account, a reset link is on its way."
RESEND_SENT = "If that address belongs to an account that still needs verifying"
LINK_NOT_VALID = "This link is not valid"


# --- Reading a page --------------------------------------------------------------------------


def page_html(response: Any) -> str:
    """The HTML as a reader sees it: entities decoded."""
    return html.unescape(response.content.decode())


def field_errors(response: Any, field: str) -> list[str]:
    """The error texts rendered under one form field (templates/dashboard/_field.html)."""
    block = re.search(rf'<div id="id_{field}_error">(.*?)</div>', page_html(response), re.S)
    return re.findall(r'<p class="error">(.*?)</p>', block.group(1)) if block else []


def non_field_errors(response: Any) -> list[str]:
    block = re.search(
        r'<div class="notice error" role="alert">(.*?)</div>', page_html(response), re.S
    )
    return re.findall(r"<p>(.*?)</p>", block.group(1)) if block else []


def input_tag(response: Any, name: str) -> str:
    """The <input> tag of the field called `name`."""
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', response.content.decode())
    assert match, f"no input named {name}"
    return match.group(0)


def csrf_token(response: Any) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page_html(response)).group(1)


def without_csrf(response: Any) -> str:
    """The page with its (per-response masked) CSRF token blanked, for comparing two pages."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page_html(response))


def signed_in_as(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def is_sent_to_sign_in(response: Any, path: str) -> bool:
    return response.status_code == 302 and response["Location"] == f"{SIGN_IN}?next={path}"


def assert_rate_limited(response: Any) -> None:
    """The form again, with the friendly 429 notice and a Retry-After the notice agrees with."""
    assert response.status_code == 429
    notice = re.search(
        r'<div class="notice warning" role="alert">(Too many attempts\. Please wait '
        r"(\d+) (second|minute)s? and try again\.)</div>",
        page_html(response),
    )
    assert notice, "no friendly 429 notice"
    assert int(response["Retry-After"]) >= 1
    unit = 1 if notice.group(3) == "second" else 60
    assert int(notice.group(2)) * unit >= int(response["Retry-After"])
    assert '<form method="post" novalidate>' in page_html(response)


# --- Settings --------------------------------------------------------------------------------


def require_verification(settings: Any) -> None:
    settings.ACCOUNTS = {**settings.ACCOUNTS, "REQUIRE_EMAIL_VERIFICATION": True}


# --- Using the forms -------------------------------------------------------------------------


def sign_up(client: Client, **fields: str) -> Any:
    data = {"name": "Jane Doe", "email": EMAIL, "password": PASSWORD, **fields}
    return client.post(SIGN_UP, data)


def sign_in(client: Client, email: str = EMAIL, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(SIGN_IN, {"email": email, "password": password, **extra})


def change_password(client: Client, current: str, new: str, confirm: str | None = None) -> Any:
    return client.post(
        CHANGE,
        {
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
    )


def emailed_path() -> str:
    """The path of the link in the last email sent."""
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    return urlsplit(link).path


def verification_path(client: Client, email: str = EMAIL) -> str:
    """Ask for a verification link, and return the emailed path."""
    assert client.post(RESEND, {"email": email}).status_code == 302
    return emailed_path()


def request_reset(client: Client, email: str = EMAIL) -> str:
    """Ask for a reset link and follow it; return the token-free page it leads to."""
    assert client.post(RESET, {"email": email}).status_code == 302
    moved = client.get(emailed_path())
    assert moved.status_code == 302
    return moved["Location"]


def set_password(client: Client, path: str, new: str, confirm: str | None = None) -> Any:
    return client.post(
        path, {"new_password": new, "confirm_password": new if confirm is None else confirm}
    )
