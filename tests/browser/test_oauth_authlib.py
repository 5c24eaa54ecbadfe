"""End to end with a client nobody here wrote: Authlib's OAuth 2 client, as a third-party web
app would use it, against a live server, with a person in real Chromium.

The person registers the application in the dashboard (a confidential one copies its secret
from the page that shows it once; a public one has none), Authlib builds the authorization URL
with an S256 challenge, the person chooses an organization and authorizes, and the browser
lands on the application's loopback callback. Authlib then exchanges the code, calls the API,
refreshes, trips reuse detection with a spent refresh token, authorizes again, and stops once
the person revokes the application. Everything asserted is what a client sees: status codes,
bodies, headers, and the errors Authlib raises; never the token's format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from playwright.sync_api import expect

from access.credentials import challenge
from tests.browser.conftest import EMAIL, ORGANIZATION, LoopbackCallback, query
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

APPLICATION = "Acme Reports"
SCOPE = "projects:read"


# --- The person, in Chromium -----------------------------------------------------------------


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()


def register_application(page: Any, redirect_uri: str, *, confidential: bool) -> tuple[str, str]:
    """Settings → OAuth apps → Register: (client ID, client secret or "") as the page that
    answers the form shows them."""
    sidebar = page.get_by_role("navigation", name="Dashboard")
    sidebar.get_by_role("link", name="OAuth apps").click()
    page.get_by_role("link", name="Register an application").click()
    page.get_by_label("Name").fill(APPLICATION)
    page.get_by_label("Redirect URIs").fill(redirect_uri)
    kind = "Confidential" if confidential else "Public"
    page.get_by_role("radio", name=re.compile(f"^{kind}:")).check()
    page.get_by_role("button", name="Register").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"{APPLICATION} is registered")
    client_id = page.locator("dt:text-is('Client ID') + dd").inner_text().strip()
    secret_field = page.get_by_label("Client secret")
    if not confidential:
        expect(secret_field).to_have_count(0)
        return client_id, ""
    expect(page.get_by_text("it is shown this once")).to_be_visible()
    secret = secret_field.input_value()
    # Shown once: the list of applications never shows it again.
    page.get_by_role("link", name="Done").click()
    expect(page.get_by_role("heading", name="OAuth applications")).to_be_visible()
    expect(page.get_by_text(client_id)).to_be_visible()
    assert secret not in page.content()
    return client_id, secret


def authorize(page: Any, url: str, loopback: LoopbackCallback) -> str:
    """Open the authorization URL, pin the authorization to ORGANIZATION and authorize: the
    URL the browser is sent back to."""
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_contain_text(APPLICATION)
    expect(page.get_by_text(f"sent back to {urlsplit(loopback.origin).netloc}")).to_be_visible()
    expect(page.get_by_text(SCOPE)).to_be_visible()
    page.get_by_label("Organization").select_option(label=ORGANIZATION)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(loopback.at_callback)
    expect(page.locator("body")).to_have_text("ok")
    return page.url


def revoke_in_the_dashboard(page: Any, base: str) -> None:
    page.goto(f"{base}/settings/authorized-applications")
    row = page.get_by_role("row").filter(has_text=APPLICATION)
    expect(row).to_contain_text(SCOPE)
    expect(row).to_contain_text(ORGANIZATION)
    row.get_by_role("button", name=f"Revoke {APPLICATION}").click()
    expect(page.get_by_text(f"{APPLICATION} no longer has access.")).to_be_visible()
    expect(page.get_by_text("No application has access to your account.")).to_be_visible()


# --- What the client sees --------------------------------------------------------------------


def api_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The API's error envelope, with `status` and the machine `code`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["success"], body["status"], body["code"]) == (False, status, code), body
    return body


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def refused_grant(session: OAuth2Session, token_endpoint: str, refresh_token: str) -> str:
    """Refresh with `refresh_token`, which must be refused: the OAuth error Authlib raises."""
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(token_endpoint, refresh_token=refresh_token, timeout=10)
    return refused.value.error


@pytest.fixture
def authlib_client(
    loopback_callback: LoopbackCallback,
) -> Iterator[Callable[[str, str], tuple[OAuth2Session, list[requests.PreparedRequest]]]]:
    """authlib_client(client_id, secret or ""): Authlib's session for the application, as its
    documentation writes it, and the token requests it sends. Closed when the test ends: a
    kept-alive connection would hold a live server thread, which closes the database
    connection it shares with whichever test runs when the connection finally drops."""
    made: list[OAuth2Session] = []

    def make(client_id: str, secret: str) -> tuple[OAuth2Session, list[requests.PreparedRequest]]:
        session = OAuth2Session(
            client_id,
            secret or None,
            scope=SCOPE,
            redirect_uri=loopback_callback.redirect_uri,
            code_challenge_method="S256",
            # A confidential client authenticates with HTTP Basic (Authlib's default).
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
        )
        sent: list[requests.PreparedRequest] = []

        def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            if response.request.url.endswith("/oauth/token"):
                sent.append(response.request)

        session.hooks["response"].append(record)
        made.append(session)
        return session, sent

    yield make
    for session in made:
        session.close()


@pytest.mark.parametrize("confidential", [True, False], ids=["confidential", "public"])
def test_an_authlib_web_app_is_authorized_refreshes_and_stops_when_revoked(
    public_url_is_live_server,
    page,
    csp_violations,
    loopback_callback,
    world,
    authlib_client,
    monkeypatch,
    confidential,
):
    base = public_url_is_live_server
    projects = f"{base}/api/user/organizations/{world.organization.pk}/projects"
    members = f"{base}/api/user/organizations/{world.organization.pk}/members"
    elsewhere = f"{base}/api/user/organizations/{world.elsewhere.pk}/projects"

    # Discovery (RFC 8414): the issuer is the address the client reached, and Authlib finds the
    # document valid (it wants https, which the live server is not, unless told otherwise).
    metadata = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["issuer"] == base
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    authorization_endpoint = metadata["authorization_endpoint"]
    token_endpoint = metadata["token_endpoint"]
    assert token_endpoint == f"{base}/oauth/token"

    sign_in(page, base)
    client_id, secret = register_application(
        page, loopback_callback.redirect_uri, confidential=confidential
    )
    session, sent = authlib_client(client_id, secret)

    # 1. Authorization code + PKCE.
    verifier = generate_token(48)
    url, state = session.create_authorization_url(authorization_endpoint, code_verifier=verifier)
    callback = authorize(page, url, loopback_callback)
    answer = query(callback)
    assert set(answer) == {"code", "state", "iss"}, answer
    assert answer["state"] == state
    assert answer["iss"] == base  # RFC 9207: the issuer the client discovered
    assert loopback_callback.received == [callback]

    token = session.fetch_token(
        token_endpoint,
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
        timeout=10,
    )
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == SCOPE
    assert 0 < token["expires_in"] <= 3600
    assert token["access_token"] and token["refresh_token"]
    exchange = sent[-1]
    if confidential:
        assert exchange.headers["Authorization"].startswith("Basic ")  # client_secret_basic
        assert "client_secret" not in exchange.body
    else:
        assert "Authorization" not in exchange.headers
        assert f"client_id={client_id}" in exchange.body

    # 2. The API, within the grant: the chosen organization's projects.
    listed = session.get(projects, timeout=10)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert (body["success"], body["message"]) == (True, "Projects fetched")
    assert [p["id"] for p in body["data"]] == [world.project.pk]
    assert [p["name"] for p in body["data"]] == ["Difference Engine"]

    # Outside the grant: a scope not granted (RFC 6750 says which), an organization not chosen.
    refused = session.get(members, timeout=10)
    body = api_error(refused, 403, "INSUFFICIENT_SCOPE")
    assert body["required_scopes"] == ["members:read"]
    asks = refused.headers["WWW-Authenticate"]
    assert asks == challenge(error="insufficient_scope", scope="members:read")
    assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/api"' in asks
    api_error(session.get(elsewhere, timeout=10), 403, "ORGANIZATION_MISMATCH")

    # 3. Refresh: a new access token that works, and a new refresh token; the access token
    # they replace ends with the refresh token it came with.
    first = dict(session.token)
    refreshed = session.refresh_token(token_endpoint, timeout=10)
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]
    assert refreshed["scope"] == SCOPE
    assert session.get(projects, timeout=10).status_code == 200
    replaced = requests.get(projects, headers=bearer(first["access_token"]), timeout=10)
    api_error(replaced, 401, "TOKEN_INVALID")

    # The spent refresh token again: refused, and the whole family ends with it.
    assert refused_grant(session, token_endpoint, first["refresh_token"]) == "invalid_grant"
    after_reuse = session.get(projects, timeout=10)
    api_error(after_reuse, 401, "TOKEN_INVALID")
    assert after_reuse.headers["WWW-Authenticate"] == challenge(error="invalid_token")
    assert refused_grant(session, token_endpoint, refreshed["refresh_token"]) == "invalid_grant"

    # 4. Authorizing again: the approval is remembered, so the browser goes straight back,
    # and the new tokens keep the organization chosen the first time.
    verifier = generate_token(48)
    url, state = session.create_authorization_url(authorization_endpoint, code_verifier=verifier)
    page.goto(url)
    page.wait_for_url(loopback_callback.at_callback)
    assert loopback_callback.received == [callback, page.url]
    answer = query(page.url)
    assert set(answer) == {"code", "state", "iss"}, answer
    assert (answer["state"], answer["iss"]) == (state, base)
    session.fetch_token(
        token_endpoint,
        authorization_response=page.url,
        code_verifier=verifier,
        state=state,
        timeout=10,
    )
    assert session.get(projects, timeout=10).status_code == 200
    api_error(session.get(elsewhere, timeout=10), 403, "ORGANIZATION_MISMATCH")
    current = dict(session.token)

    # 5. The person revokes the application: its next call is 401, its next refresh refused.
    revoke_in_the_dashboard(page, base)
    revoked = session.get(projects, timeout=10)
    api_error(revoked, 401, "TOKEN_INVALID")
    assert revoked.headers["WWW-Authenticate"] == challenge(error="invalid_token")
    assert refused_grant(session, token_endpoint, current["refresh_token"]) == "invalid_grant"
    assert csp_violations == []
