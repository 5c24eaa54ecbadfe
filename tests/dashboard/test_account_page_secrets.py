"""No password a person types ever comes back in a page: sign-up, sign-in, change, reset."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.dashboard.helpers import (
    CHANGE,
    EMAIL,
    INVALID_CREDENTIALS,
    NEW_PASSWORD,
    SIGN_IN,
    SIGN_OUT,
    SIGN_UP,
    change_password,
    non_field_errors,
    page_html,
    request_reset,
    set_password,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.django_db


SECRET = "Zebra-Quartz-9931-Lantern"


def _assert_no_secret(responses: list[Any], *secrets: str) -> None:
    for response in responses:
        for secret in secrets:
            assert secret not in response.content.decode(), response.request["PATH_INFO"]
            assert secret not in page_html(response), response.request["PATH_INFO"]


def test_the_password_never_appears_in_a_page(client):
    signed_up = client.post(
        SIGN_UP, {"name": "Jane", "email": EMAIL, "password": SECRET}, follow=True
    )
    refused = sign_up(Client(), email="second@example.com", password="Zebra")
    taken = sign_up(Client(), password=SECRET)
    client.post(SIGN_OUT)
    wrong = sign_in(client, password=SECRET + "x")
    signed_in = client.post(SIGN_IN, {"email": EMAIL, "password": SECRET}, follow=True)
    mismatch = change_password(client, SECRET, NEW_PASSWORD, confirm=SECRET)
    same = change_password(client, SECRET, SECRET)
    weak = change_password(client, SECRET, "Zebra")
    changed = client.post(
        CHANGE,
        {
            "current_password": SECRET,
            "new_password": SECRET + "-new",
            "confirm_password": SECRET + "-new",
        },
        follow=True,
    )

    assert "Welcome to Latchkey" in page_html(signed_up)
    assert non_field_errors(wrong) == [INVALID_CREDENTIALS]
    assert "Password changed" in page_html(changed)
    _assert_no_secret(
        [signed_up, refused, taken, wrong, signed_in, mismatch, same, weak, changed],
        SECRET,
        'value="Zebra',
    )


def test_the_new_password_never_appears_in_the_reset_pages(client, jane):
    path = request_reset(client)

    mismatch = set_password(client, path, SECRET, confirm=SECRET + "x")
    weak = set_password(client, path, "Zebra")
    done = client.post(path, {"new_password": SECRET, "confirm_password": SECRET}, follow=True)

    assert "Your password is reset" in page_html(done)
    _assert_no_secret([mismatch, weak, done], SECRET, 'value="Zebra')
