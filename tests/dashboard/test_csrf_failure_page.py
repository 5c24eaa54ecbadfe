"""A form posted without its CSRF token (or with a forged one) gets the styled "form has
expired" page and does nothing; with the form's token it works."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD
from tests.dashboard.helpers import EMAIL, SIGN_IN, SIGN_OUT, csrf_token, page_html, signed_in_as

pytestmark = pytest.mark.django_db


def test_a_post_without_the_csrf_token_gets_the_styled_expired_page(jane):
    client = Client(enforce_csrf_checks=True)

    response = client.post(SIGN_IN, {"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 403
    assert "<h1>This form has expired</h1>" in page_html(response)
    assert 'href="/"' in page_html(response)
    assert signed_in_as(client) is None


def test_a_post_with_the_forms_csrf_token_works(jane):
    client = Client(enforce_csrf_checks=True)
    form = client.get(SIGN_IN)

    response = client.post(
        SIGN_IN,
        {"email": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(form)},
    )

    assert response.status_code == 302
    assert signed_in_as(client) == jane.pk


def test_a_forged_csrf_token_is_refused(jane):
    client = Client(enforce_csrf_checks=True)
    client.get(SIGN_IN)

    response = client.post(
        SIGN_IN, {"email": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": "x" * 64}
    )

    assert response.status_code == 403
    assert "This form has expired" in page_html(response)


def test_sign_out_without_the_csrf_token_keeps_the_session(jane):
    client = Client(enforce_csrf_checks=True)
    client.force_login(jane)

    response = client.post(SIGN_OUT)

    assert response.status_code == 403
    assert "This form has expired" in page_html(response)
    assert signed_in_as(client) == jane.pk
