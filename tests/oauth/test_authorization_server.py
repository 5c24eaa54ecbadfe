"""The OAuth 2.1 authorization server as a client sees it: the consent page, the authorization
code flow with PKCE, refresh rotation with reuse protection, revocation, no introspection, the
RFC 8414 metadata document, and the organization pin every token carries from the consent."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from access.scopes import catalogue
from accounts.models import User
from audit.models import AuditEvent
from oauth.models import AccessToken, Application, Grant, RefreshToken
from tenants.models import Organization
from tests.oauth.conftest import LOOPBACK, REDIRECT, SECRET

pytestmark = pytest.mark.django_db

AUTHORIZE = "/oauth/authorize"
TOKEN = "/oauth/token"
REVOKE = "/oauth/revoke"
METADATA = "/.well-known/oauth-authorization-server"
SIGN_IN = "/sign-in"

SCOPES = "projects:read user:read"
STATE = "xyz"
EVERY = "*"


# --- Clients, people and the flow -------------------------------------------------------------


def pkce() -> tuple[str, str]:
    """A fresh S256 pair: (code_verifier, code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def query(location: str) -> dict[str, str]:
    """The query parameters of a redirect, one value each."""
    params = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in params.values()), params
    return {name: values[0] for name, values in params.items()}


def hidden_fields(response: Any) -> dict[str, str]:
    """The consent form's hidden inputs, as the browser would post them back."""
    page = response.content.decode()
    fields = {}
    for tag in re.findall(r'<input type="hidden"[^>]*>', page):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        value = re.search(r'value="([^"]*)"', tag)
        fields[name] = html.unescape(value.group(1)) if value else ""
    return fields


def authorize_params(app: Application, challenge: str | None, **overrides: str) -> dict:
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPES,
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {name: value for name, value in params.items() if value is not None}


@pytest.fixture
def alpha(person: User) -> Organization:
    return Organization.objects.get(name="Alpha Ltd")


def consent(
    browser: Client,
    app: Application,
    *,
    organization: Organization | str = EVERY,
    allow: bool = True,
    challenge: str | None = None,
    **overrides: str,
) -> Any:
    """Open the consent page and answer it; return the answer's response."""
    page = browser.get(AUTHORIZE, authorize_params(app, challenge or pkce()[1], **overrides))
    assert page.status_code == 200, page.content
    answer = {**hidden_fields(page), "organization": getattr(organization, "pk", organization)}
    if allow:
        answer["allow"] = "on"
    return browser.post(AUTHORIZE, answer)


def authorization_code(browser: Client, app: Application, challenge: str, **kwargs: Any) -> str:
    response = consent(browser, app, challenge=challenge, **kwargs)
    assert response.status_code == 302, response.content
    return query(response["Location"])["code"]


def token_request(
    data: dict[str, str], *, app: Application | None = None, basic: bool = False
) -> Any:
    """POST to the token endpoint as `app` would: a public client names itself, a confidential
    one adds its secret (in the body, or with HTTP Basic when `basic`)."""
    headers = {}
    if app is not None:
        confidential = app.client_type == Application.CLIENT_CONFIDENTIAL
        if confidential and basic:
            pair = f"{app.client_id}:{SECRET}".encode()
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(pair).decode()
        else:
            data = {"client_id": app.client_id, **data}
            if confidential:
                data["client_secret"] = SECRET
    return Client().post(TOKEN, data, **headers)


def exchange(
    app: Application,
    code: str,
    verifier: str | None,
    *,
    redirect_uri: str = REDIRECT,
    basic: bool = False,
) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return token_request(data, app=app, basic=basic)


def refresh(app: Application, refresh_token: str, **extra: str) -> Any:
    return token_request(
        {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}, app=app
    )


@pytest.fixture
def tokens(browser: Client, app: Application) -> Callable[..., dict]:
    """Run the whole flow for the signed-in person; return the token response's body."""

    def make(*, organization: Organization | str = EVERY, client: Application = app) -> dict:
        verifier, challenge = pkce()
        code = authorization_code(browser, client, challenge, organization=organization)
        response = exchange(client, code, verifier)
        assert response.status_code == 200, response.content
        return response.json()

    return make


def assert_oauth_error(response: Any, status: int, error: str) -> dict:
    """An RFC 6749 §5.2 error body: JSON with `error`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error, body
    return body


def assert_error_redirect(response: Any, error: str, redirect_uri: str = REDIRECT) -> None:
    """An RFC 6749 §4.1.2.1 error: back to the client with `error`, the client's state and,
    as in every authorization response, the issuer (RFC 9207 §2)."""
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(redirect_uri + "?"), response["Location"]
    params = query(response["Location"])
    assert params["error"] == error, params
    assert params["state"] == STATE
    assert params["iss"] == django_settings.PUBLIC_URL
    assert "code" not in params


def assert_error_page(response: Any) -> None:
    """The request cannot be trusted to go back to the client: an error page, no redirect."""
    assert response.status_code == 400, response.status_code
    assert not response.has_header("Location")
    assert "This authorization request is not valid" in html.unescape(response.content.decode())


# --- 1. The happy path --------------------------------------------------------------------------


def test_consent_page_shows_the_application_its_scopes_and_the_persons_organizations(
    browser: Client, app: Application, org_factory: Callable[..., Organization]
) -> None:
    elsewhere = org_factory(name="Gamma Ltd")  # not the person's

    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1]))

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Acme Reports wants to use your Latchkey account" in page
    assert "sent back to <strong>client.example</strong>" in page
    descriptions = {entry["scope"]: entry["description"] for entry in catalogue()}
    for scope in ("projects:read", "user:read"):
        assert f"<li><code>{scope}</code> {descriptions[scope]}</li>" in page
    assert "projects:write" not in page
    options = dict(
        (label, value)
        for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', page)
    )
    assert options == {
        "Alpha Ltd": str(Organization.objects.get(name="Alpha Ltd").pk),
        "Beta Ltd": str(Organization.objects.get(name="Beta Ltd").pk),
        "Every organization I belong to": EVERY,
    }
    assert elsewhere.name not in page
    assert hidden_fields(response)["state"] == STATE


@pytest.mark.parametrize(
    ("confidential", "basic"),
    [(False, False), (True, False), (True, True)],
    ids=["public client", "confidential, client_secret_post", "confidential, client_secret_basic"],
)
def test_code_flow_issues_tokens_pinned_to_the_chosen_organization(
    browser: Client,
    app_factory: Callable[..., Application],
    person: User,
    alpha: Organization,
    confidential: bool,
    basic: bool,
    settings: Any,
) -> None:
    client = app_factory(confidential=confidential)
    verifier, challenge = pkce()

    answer = consent(browser, client, organization=alpha, challenge=challenge)

    assert answer.status_code == 302
    assert answer["Location"].startswith(REDIRECT + "?")
    params = query(answer["Location"])
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == STATE
    assert params["iss"] == Client().get(METADATA).json()["issuer"] == settings.PUBLIC_URL

    response = exchange(client, params["code"], verifier, basic=basic)

    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 3600
    assert set(body["scope"].split()) == set(SCOPES.split())
    assert body["access_token"] and body["refresh_token"]
    access = AccessToken.objects.get(token_checksum=checksum(body["access_token"]))
    assert (access.user, access.application, access.organization) == (person, client, alpha)
    assert access.token == ""  # RFC 9700: only the checksum is stored
    assert body["access_token"] not in access.token_checksum
    refresh_token = RefreshToken.objects.get(token_checksum=checksum(body["refresh_token"]))
    assert (refresh_token.access_token, refresh_token.organization) == (access, alpha)
    assert refresh_token.token == ""
    assert not Grant.objects.exists()  # the code is spent


def test_every_organization_leaves_the_tokens_unpinned(
    tokens: Callable[..., dict], alpha: Organization
) -> None:
    body = tokens(organization=EVERY)

    access = AccessToken.objects.get(token_checksum=checksum(body["access_token"]))
    assert access.organization is None
    assert RefreshToken.objects.get(access_token=access).organization is None


def test_grant_carries_the_pin_before_the_exchange(
    browser: Client, app: Application, alpha: Organization
) -> None:
    code = authorization_code(browser, app, pkce()[1], organization=alpha)

    grant = Grant.objects.get(code=code)
    assert (grant.organization, grant.code_challenge_method) == (alpha, "S256")


def test_an_organization_the_person_does_not_belong_to_cannot_be_chosen(
    browser: Client, app: Application, org_factory: Callable[..., Organization]
) -> None:
    elsewhere = org_factory(name="Gamma Ltd")

    response = consent(browser, app, organization=elsewhere)

    assert response.status_code == 200  # the form again, with its error
    assert "Select a valid choice" in html.unescape(response.content.decode())
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "secret",
    [None, "", "not-the-secret"],
    ids=["no secret", "blank secret", "wrong secret"],
)
def test_confidential_client_must_authenticate_at_the_token_endpoint(
    browser: Client, app_factory: Callable[..., Application], secret: str | None
) -> None:
    client = app_factory(confidential=True)
    verifier, challenge = pkce()
    code = authorization_code(browser, client, challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": client.client_id,
    }
    if secret is not None:
        data["client_secret"] = secret

    response = Client().post(TOKEN, data)

    assert_oauth_error(response, 401, "invalid_client")
    assert not AccessToken.objects.exists()
    assert Grant.objects.filter(code=code).exists()  # a failed exchange does not spend it


@pytest.mark.parametrize(
    ("redirect_uri", "origin"),
    [
        (REDIRECT, "https://client.example"),
        ("http://127.0.0.1:53412/cb", "http://127.0.0.1:53412"),
    ],
    ids=["https", "loopback"],
)
def test_consent_page_lets_the_browser_follow_the_answer_to_the_client_only(
    browser: Client, app_factory: Callable[..., Application], redirect_uri: str, origin: str
) -> None:
    # form-action also governs the redirect after the POST: without the client's origin a
    # browser would block the answer; with more than it, a page could post anywhere.
    client = app_factory(redirect_uris=f"{REDIRECT} http://127.0.0.1/cb")

    response = browser.get(
        AUTHORIZE, authorize_params(client, pkce()[1], redirect_uri=redirect_uri)
    )

    assert response.status_code == 200
    directives = dict(
        (d.split()[0], d.split()[1:]) for d in response["Content-Security-Policy"].split(";")
    )
    assert directives["form-action"] == ["'self'", origin]


def test_a_client_cannot_widen_the_pin_of_a_remembered_consent(
    tokens: Callable[..., dict], browser: Client, app: Application, alpha: Organization
) -> None:
    # Once authorized (pinned to Alpha), the client asks again, with approval_prompt=auto: the
    # remembered answer stands, pin included; nothing the client sends widens it.
    tokens(organization=alpha)

    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1], approval_prompt="auto"))

    assert response.status_code == 302, response.content
    code = query(response["Location"])["code"]
    assert Grant.objects.get(code=code).organization_id == alpha.pk


def test_an_application_marked_to_skip_consent_gets_nothing(
    browser: Client, app: Application
) -> None:
    # Nothing chose an organization, so nothing is granted: the client hears access_denied.
    Application.objects.filter(pk=app.pk).update(skip_authorization=True)

    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1]))

    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert not Grant.objects.exists()


# --- 2. PKCE ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge": None},
        {"code_challenge_method": "S512"},
    ],
    ids=["no challenge", "a method but no challenge", "unknown method"],
)
def test_authorization_without_a_usable_challenge_is_refused_before_consent(
    browser: Client, app: Application, overrides: dict
) -> None:
    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1], **overrides))

    assert_error_redirect(response, "invalid_request")
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "method",
    ["plain", None],
    ids=["plain method", "no method (plain by default)"],
)
def test_plain_challenge_is_refused_when_the_person_consents(
    browser: Client, app: Application, method: str | None
) -> None:
    # The consent page is shown (DOT checks the method only when it stores the code), but
    # no code is issued: the answer goes back to the client as invalid_request.
    verifier = secrets.token_urlsafe(48)

    response = consent(browser, app, challenge=verifier, code_challenge_method=method, allow=True)

    assert_error_redirect(response, "invalid_request")
    assert "S256" in query(response["Location"])["error_description"]
    assert not Grant.objects.exists()


def test_plain_method_is_refused_when_tampered_into_the_consent_form(
    browser: Client, app: Application
) -> None:
    # The hidden fields come back from the browser: a method changed there must not slip through.
    page = browser.get(AUTHORIZE, authorize_params(app, pkce()[1]))
    answer = {
        **hidden_fields(page),
        "code_challenge": secrets.token_urlsafe(48),
        "code_challenge_method": "plain",
        "organization": EVERY,
        "allow": "on",
    }

    response = browser.post(AUTHORIZE, answer)

    assert_error_redirect(response, "invalid_request")
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    ("verifier", "error"),
    [
        ("wrong", "invalid_grant"),
        ("", "invalid_grant"),
        (None, "invalid_request"),
    ],
    ids=["another verifier", "blank verifier", "no verifier"],
)
def test_token_exchange_needs_the_matching_code_verifier(
    browser: Client, app: Application, verifier: str | None, error: str
) -> None:
    code = authorization_code(browser, app, pkce()[1])
    if verifier == "wrong":
        verifier = pkce()[0]

    response = exchange(app, code, verifier)

    assert_oauth_error(response, 400, error)
    assert not AccessToken.objects.exists()


# --- 3. Redirect URIs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://client.example/callback/more",
        "https://client.example/other",
        "http://client.example/callback",
        "https://client.example.evil.example/callback",
        "http://127.0.0.1/elsewhere",
        "http://localhost/callback",
    ],
)
def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    browser: Client, app: Application, redirect_uri: str
) -> None:
    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1], redirect_uri=redirect_uri))

    assert_error_page(response)


@pytest.mark.parametrize(
    "overrides",
    [{"client_id": "no-such-client"}, {"client_id": None}],
    ids=["unknown client", "no client"],
)
def test_unknown_client_gets_an_error_page_not_a_redirect(
    browser: Client, app: Application, overrides: dict
) -> None:
    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1], **overrides))

    assert_error_page(response)


@pytest.mark.parametrize(
    ("registered", "native"),
    [
        (LOOPBACK, "http://127.0.0.1:53412/callback"),
        ("http://[::1]/callback", "http://[::1]:53412/callback"),
        ("http://localhost/callback", "http://localhost:53412/callback"),
    ],
    ids=["127.0.0.1", "::1", "localhost"],
)
def test_loopback_redirect_on_any_port_completes_the_flow(
    browser: Client,
    app_factory: Callable[..., Application],
    alpha: Organization,
    registered: str,
    native: str,
) -> None:
    # RFC 8252 §7.3: a native app listens on a port of the moment.
    client = app_factory(redirect_uris=registered)
    verifier, challenge = pkce()

    answer = consent(browser, client, organization=alpha, challenge=challenge, redirect_uri=native)

    assert answer.status_code == 302
    assert answer["Location"].startswith(native + "?")
    response = exchange(client, query(answer["Location"])["code"], verifier, redirect_uri=native)
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"


def test_token_exchange_must_repeat_the_authorization_redirect_uri(
    browser: Client, app: Application
) -> None:
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge)

    response = exchange(app, code, verifier, redirect_uri=LOOPBACK)

    assert_oauth_error(response, 400, "invalid_request")
    assert not AccessToken.objects.exists()


# --- 4. Denied consent --------------------------------------------------------------------------


def test_denied_consent_sends_access_denied_back_and_grants_nothing(
    browser: Client, app: Application, alpha: Organization
) -> None:
    response = consent(browser, app, organization=alpha, allow=False)

    assert_error_redirect(response, "access_denied")
    assert not Grant.objects.exists()


# --- 5. The code --------------------------------------------------------------------------------


def test_a_replayed_code_is_refused_and_revokes_what_it_gave(
    browser: Client, app: Application, django_capture_on_commit_callbacks: Any
) -> None:
    # RFC 6749 §4.1.2: a code presented twice may have been stolen; what it gave is revoked.
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge)
    with django_capture_on_commit_callbacks(execute=True):
        first = exchange(app, code, verifier)
    assert first.status_code == 200
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + first.json()["access_token"])
    assert api.get("/api/user/me").status_code == 200

    replay = exchange(app, code, verifier)

    assert_oauth_error(replay, 400, "invalid_grant")
    assert not AccessToken.objects.exists()
    assert api.get("/api/user/me").status_code == 401
    assert_oauth_error(refresh(app, first.json()["refresh_token"]), 400, "invalid_grant")
    event = AuditEvent.objects.get(action="oauth.code_reused")
    assert event.detail["clientId"] == app.client_id


def test_another_clients_replay_of_a_code_revokes_nothing(
    browser: Client, app: Application, app_factory: Any, django_capture_on_commit_callbacks: Any
) -> None:
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge)
    with django_capture_on_commit_callbacks(execute=True):
        assert exchange(app, code, verifier).status_code == 200
    other = app_factory()

    replay = exchange(other, code, verifier)

    assert_oauth_error(replay, 400, "invalid_grant")
    assert AccessToken.objects.count() == 1
    assert not AuditEvent.objects.filter(action="oauth.code_reused").exists()


def test_expired_code_is_refused(browser: Client, app: Application) -> None:
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge)
    grant = Grant.objects.get(code=code)
    assert grant.expires <= timezone.now() + timedelta(seconds=60)
    Grant.objects.filter(pk=grant.pk).update(expires=timezone.now() - timedelta(seconds=1))

    response = exchange(app, code, verifier)

    assert_oauth_error(response, 400, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_code_is_bound_to_its_client(
    browser: Client, app: Application, app_factory: Callable[..., Application]
) -> None:
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge)

    response = exchange(app_factory(), code, verifier)

    assert_oauth_error(response, 400, "invalid_grant")
    assert not AccessToken.objects.exists()


# --- 6. Refresh ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "every organization"])
def test_refresh_rotates_both_tokens_and_keeps_the_pin(
    tokens: Callable[..., dict], app: Application, alpha: Organization, pinned: bool
) -> None:
    first = tokens(organization=alpha if pinned else EVERY)

    response = refresh(app, first["refresh_token"])

    assert response.status_code == 200, response.content
    second = response.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert set(second["scope"].split()) == set(SCOPES.split())
    assert 0 < second["expires_in"] <= 3600
    access = AccessToken.objects.get(token_checksum=checksum(second["access_token"]))
    new_refresh = RefreshToken.objects.get(token_checksum=checksum(second["refresh_token"]))
    expected = alpha if pinned else None
    assert (access.organization, new_refresh.organization) == (expected, expected)
    assert (access.token, new_refresh.token) == ("", "")
    assert not AccessToken.objects.filter(token_checksum=checksum(first["access_token"])).exists()
    old = RefreshToken.objects.get(token_checksum=checksum(first["refresh_token"]))
    assert old.revoked is not None
    assert old.token_family == new_refresh.token_family


def test_refresh_may_narrow_the_scope(tokens: Callable[..., dict], app: Application) -> None:
    first = tokens()

    response = refresh(app, first["refresh_token"], scope="user:read")

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "user:read"


@pytest.mark.parametrize(
    "scope", ["projects:read user:read projects:write", "*", "projects:*"], ids=str
)
def test_refresh_cannot_broaden_the_scope(
    tokens: Callable[..., dict], app: Application, scope: str
) -> None:
    first = tokens()

    response = refresh(app, first["refresh_token"], scope=scope)

    assert_oauth_error(response, 400, "invalid_scope")
    assert refresh(app, first["refresh_token"]).status_code == 200  # nothing was spent


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    tokens: Callable[..., dict], app: Application
) -> None:
    first = tokens()
    second = refresh(app, first["refresh_token"]).json()

    replay = refresh(app, first["refresh_token"])

    assert_oauth_error(replay, 400, "invalid_grant")
    assert_oauth_error(refresh(app, second["refresh_token"]), 400, "invalid_grant")
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(token_checksum=checksum(second["access_token"])).exists()


def test_refresh_token_is_bound_to_its_client(
    tokens: Callable[..., dict], app_factory: Callable[..., Application]
) -> None:
    first = tokens()

    response = refresh(app_factory(), first["refresh_token"])

    assert_oauth_error(response, 400, "invalid_grant")


# --- 7. Refused grants and scopes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "grant",
    [Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_IMPLICIT],
    ids=["code client", "client registered for implicit"],
)
def test_implicit_grant_is_refused(
    browser: Client, app_factory: Callable[..., Application], grant: str
) -> None:
    client = app_factory(grant=grant)

    response = browser.get(AUTHORIZE, authorize_params(client, pkce()[1], response_type="token"))

    assert_error_redirect(response, "unauthorized_client")
    assert "access_token" not in response["Location"]
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "grant",
    [Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_PASSWORD],
    ids=["code client", "client registered for password"],
)
def test_password_grant_is_refused(
    app_factory: Callable[..., Application], person: User, grant: str
) -> None:
    client = app_factory(confidential=True, grant=grant)

    response = token_request(
        {
            "grant_type": "password",
            "username": person.email,
            "password": "correct-horse-battery-staple",
            "scope": "user:read",
        },
        app=client,
    )

    assert_oauth_error(response, 400, "unsupported_grant_type")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "scope", ["*", "admin", "api-keys:write", "api-keys:*", "user:read admin"], ids=str
)
def test_scopes_that_reach_everything_or_make_keys_are_not_for_applications(
    browser: Client, app: Application, scope: str
) -> None:
    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1], scope=scope))

    assert_error_redirect(response, "invalid_scope")
    assert not Grant.objects.exists()


@pytest.mark.parametrize("scope", ["superpowers", "user:read superpowers", "projects"], ids=str)
def test_unknown_scope_is_refused(browser: Client, app: Application, scope: str) -> None:
    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1], scope=scope))

    assert_error_redirect(response, "invalid_scope")


def test_no_scope_asks_for_the_default_least_scope(browser: Client, app: Application) -> None:
    response = browser.get(AUTHORIZE, authorize_params(app, pkce()[1], scope=None))

    assert response.status_code == 200
    assert hidden_fields(response)["scope"] == "user:read"


# --- 8. Revocation and introspection ------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "access_token"], ids=["no hint", "access_token hint"])
def test_revoking_an_access_token_ends_it_and_its_refresh_token(
    tokens: Callable[..., dict], app: Application, hint: str | None
) -> None:
    body = tokens()
    data = {"token": body["access_token"], "client_id": app.client_id}
    if hint:
        data["token_type_hint"] = hint

    response = Client().post(REVOKE, data)

    assert response.status_code == 200, response.content
    assert not AccessToken.objects.filter(token_checksum=checksum(body["access_token"])).exists()
    assert_oauth_error(refresh(app, body["refresh_token"]), 400, "invalid_grant")


def test_revoking_a_refresh_token_ends_it(tokens: Callable[..., dict], app: Application) -> None:
    body = tokens()

    response = Client().post(
        REVOKE,
        {
            "token": body["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": app.client_id,
        },
    )

    assert response.status_code == 200
    assert_oauth_error(refresh(app, body["refresh_token"]), 400, "invalid_grant")


def test_a_client_cannot_revoke_another_clients_token(
    tokens: Callable[..., dict], app_factory: Callable[..., Application]
) -> None:
    body = tokens()

    response = Client().post(
        REVOKE, {"token": body["access_token"], "client_id": app_factory().client_id}
    )

    assert response.status_code == 200  # RFC 7009 §2.2: no hint whether the token exists
    assert AccessToken.objects.filter(token_checksum=checksum(body["access_token"])).exists()


def test_confidential_client_must_authenticate_to_revoke(
    tokens: Callable[..., dict], app_factory: Callable[..., Application]
) -> None:
    client = app_factory(confidential=True)
    body = tokens(client=client)

    response = Client().post(
        REVOKE, {"token": body["access_token"], "client_id": client.client_id}
    )

    assert_oauth_error(response, 401, "invalid_client")
    assert AccessToken.objects.filter(token_checksum=checksum(body["access_token"])).exists()


def basic_auth(app: Application) -> dict[str, str]:
    pair = f"{app.client_id}:{SECRET}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair).decode()}


# --- 9. Metadata --------------------------------------------------------------------------------


def test_metadata_advertises_only_what_the_server_accepts(settings: Any) -> None:
    response = Client().get(METADATA)

    assert response.status_code == 200
    body = response.json()
    issuer = settings.PUBLIC_URL
    assert body["issuer"] == issuer
    assert body["authorization_endpoint"] == f"{issuer}/oauth/authorize"
    assert body["token_endpoint"] == f"{issuer}/oauth/token"
    assert body["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert body["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert body["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert body["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert body["registration_endpoint"] == f"{issuer}/oauth/register"
    assert body["client_id_metadata_document_supported"] is True
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["response_types_supported"] == ["code"]
    assert set(body["grant_types_supported"]) <= {"authorization_code", "refresh_token"}
    assert "authorization_code" in body["grant_types_supported"]
    # The catalogue, less what reaches everything or makes keys.
    assert sorted(body["scopes_supported"]) == sorted(
        entry["scope"]
        for entry in catalogue()
        if entry["scope"] not in {"*", "admin", "api-keys:write", "api-keys:*"}
    )
    assert body["authorization_response_iss_parameter_supported"] is True
    assert set(body["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_post",
        "client_secret_basic",
    }


def test_issuer_is_the_public_url_whatever_the_host_header(
    settings: Any, browser: Client, app: Application
) -> None:
    # RFC 9207's mix-up defence is only as good as an issuer a client cannot choose.
    settings.ALLOWED_HOSTS = ["*"]
    evil = {"HTTP_HOST": "evil.example"}

    body = Client().get(METADATA, **evil).json()
    page = browser.get(AUTHORIZE, authorize_params(app, pkce()[1]), **evil)
    answer = browser.post(
        AUTHORIZE, {**hidden_fields(page), "organization": EVERY, "allow": "on"}, **evil
    )

    assert "evil.example" not in str(body)
    assert body["issuer"] == settings.PUBLIC_URL
    assert body["token_endpoint"] == f"{settings.PUBLIC_URL}/oauth/token"
    assert query(answer["Location"])["iss"] == settings.PUBLIC_URL


# --- 10. Signed out -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_signed_out_visitor_signs_in_first_and_comes_back(app: Application, method: str) -> None:
    params = authorize_params(app, pkce()[1])
    path = f"{AUTHORIZE}?{urlencode(params)}"

    response = getattr(Client(), method)(path)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == SIGN_IN
    back = query(response["Location"])["next"]
    assert urlsplit(back).path == AUTHORIZE
    assert query(back) == params
    assert not Grant.objects.exists()
