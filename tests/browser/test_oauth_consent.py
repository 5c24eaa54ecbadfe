"""The OAuth consent page in real Chromium, under the Content-Security-Policy: a person signs in,
authorizes (or denies) an application, and the browser follows the answer's redirect to the
application on another origin, a loopback port of the moment (RFC 8252).

A browser holds a form's redirects to the page's `form-action`, which is 'self' elsewhere on
the site: without the redirect URI's origin added to it, the browser stops at the consent page
and the application never hears back. The last test shows that it does stop.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings
from oauth2_provider.views import AuthorizationView
from playwright.sync_api import expect

from oauth.models import AccessToken, Application
from oauth.views import ConsentView
from tenants.models import Organization
from tests.browser.conftest import EMAIL, ORGANIZATION, LoopbackCallback, query, sign_in_to_consent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

APPLICATION = "Acme Reports"
REGISTERED = "http://127.0.0.1/callback"
STATE = "s1"


@pytest.fixture
def organization(
    user_factory: Callable[..., Any], org_factory: Callable[..., Any]
) -> Organization:
    """Someone (EMAIL) who owns ORGANIZATION and one more, so that the choice matters."""
    person = user_factory(email=EMAIL, password=PASSWORD)
    org_factory(owner=person, name="Babbage & Co")
    return org_factory(owner=person, name=ORGANIZATION)


@pytest.fixture
def application(user_factory: Callable[..., Any]) -> Application:
    return Application.objects.create(
        name=APPLICATION,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REGISTERED,
        user=user_factory(),
    )


def pkce() -> tuple[str, str]:
    """A fresh S256 pair: (code_verifier, code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def open_consent(
    page: Any, base: str, application: Application, loopback: LoopbackCallback, challenge: str
) -> None:
    """Open the authorization URL signed out, sign in on the page it sends to, and land on
    the consent page."""
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": loopback.redirect_uri,
        "scope": "projects:read",
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    url = f"{base}/oauth/authorize?{urlencode(params)}"
    sign_in_to_consent(page, url, APPLICATION, loopback)
    expect(page.get_by_text("projects:read")).to_be_visible()


def form_action(page: Any) -> list[str]:
    """The sources of the consent page's form-action directive, as the browser received it."""
    policy = page.request.get(page.url).headers["content-security-policy"]
    for directive in policy.split(";"):
        name, *sources = directive.split()
        if name == "form-action":
            return sources
    raise AssertionError(f"no form-action in {policy!r}")


def test_authorizing_sends_the_browser_to_the_client_with_a_code(
    live_server, page, csp_violations, loopback_callback, organization, application
):
    base = live_server.url
    verifier, challenge = pkce()
    open_consent(page, base, application, loopback_callback, challenge)
    assert form_action(page) == ["'self'", loopback_callback.origin]

    page.get_by_label("Organization").select_option(label=ORGANIZATION)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(loopback_callback.at_callback)

    expect(page.locator("body")).to_have_text("ok")
    assert len(loopback_callback.received) == 1
    assert query(page.url) == query(loopback_callback.received[0])
    answer = query(page.url)
    assert set(answer) == {"code", "state", "iss"}, answer
    assert answer["state"] == STATE
    assert answer["iss"] == settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"]
    assert csp_violations == []

    response = requests.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": loopback_callback.redirect_uri,
            "client_id": application.client_id,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "projects:read"
    assert token["access_token"] and token["refresh_token"]
    # The organization chosen in the select is the token's pin.
    assert AccessToken.objects.get(application=application).organization_id == organization.pk


def test_denying_sends_the_browser_to_the_client_with_access_denied(
    live_server, page, csp_violations, loopback_callback, organization, application
):
    open_consent(page, live_server.url, application, loopback_callback, pkce()[1])

    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(loopback_callback.at_callback)

    expect(page.locator("body")).to_have_text("ok")
    assert len(loopback_callback.received) == 1
    answer = query(page.url)
    assert answer["error"] == "access_denied"
    assert answer["state"] == STATE
    assert "code" not in answer
    # No `iss` here yet (RFC 9207 wants it on error answers too): a known product bug, pinned
    # by the strict xfail in tests/oauth/test_authorization_server.py.
    assert csp_violations == []
    assert not AccessToken.objects.exists()


def test_without_the_redirect_origin_in_form_action_the_browser_stops(
    live_server, page, csp_violations, loopback_callback, organization, application, monkeypatch
):
    # The instrument the tests above rely on: with the site's plain form-action 'self' (the
    # consent view's addition undone, in the live server's thread too), Chromium refuses the
    # redirect to the client and reports it.
    monkeypatch.setattr(ConsentView, "render_to_response", AuthorizationView.render_to_response)
    open_consent(page, live_server.url, application, loopback_callback, pkce()[1])
    assert form_action(page) == ["'self'"]

    with page.expect_console_message(lambda m: "form-action" in m.text):
        page.get_by_role("button", name="Authorize").click()

    assert loopback_callback.received == []
    assert not page.url.startswith(loopback_callback.origin)
    # Chromium names the form's own address, not the redirect's target (which it keeps from
    # the page): the consent URL, whose POST the server did answer.
    assert len(csp_violations) == 1
    assert f"Sending form data to '{live_server.url}/oauth/authorize?" in csp_violations[0]
    assert "directive: \"form-action 'self'\". The request has been blocked." in csp_violations[0]
