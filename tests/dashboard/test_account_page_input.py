"""Junk input to every account form (blank, overlong, lists, NUL bytes, undecodable bodies,
no body) is refused with a form error; junk queries never fail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from accounts.tokens import make_password_reset_token
from tests.conftest import PASSWORD
from tests.dashboard.helpers import (
    CHANGE,
    EMAIL,
    NEW_PASSWORD,
    RESEND,
    RESET,
    RESET_CHOOSE,
    SIGN_IN,
    SIGN_UP,
    TOO_SHORT,
    non_field_errors,
    page_html,
)

pytestmark = pytest.mark.django_db


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
    assert '<form method="post" novalidate>' in page_html(response)
    assert '<p class="error"' in page_html(response) or non_field_errors(response)
    assert User.objects.count() == users
    jane.refresh_from_db()
    assert jane.check_password(PASSWORD)
    assert mail.outbox == []


@pytest.mark.parametrize("form_url", FORMS, indirect=True)
@pytest.mark.parametrize("body", RAW_JUNK)
def test_undecodable_bodies_are_refused_with_a_form_error(client, jane, form_url, body):
    response = client.post(form_url, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert '<form method="post" novalidate>' in page_html(response)
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
    assert '<form method="post" novalidate>' in page_html(response)
    assert "This field is required." in page_html(response)
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
