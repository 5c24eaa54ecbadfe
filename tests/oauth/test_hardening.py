"""What no client can do to the authorization server: crafted requests are 400s (never an error
of ours), the pin is always chosen, and the admin mints and widens nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services
from oauth.models import AccessToken, Application, Grant
from tests.oauth.conftest import REDIRECT
from tests.oauth.test_authorization_server import AUTHORIZE, TOKEN, authorize_params, pkce

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "https://client.example:99999/callback"},
        {"state": "%zz"},
        {"code_challenge": "a" * 200},
        {"code_challenge": "short"},
        {"code_challenge": "é" * 50},
        {"nonce": "n" * 300},
    ],
    ids=["port out of range", "bad percent-encoding", "long challenge", "short challenge",
         "non-ascii challenge", "long nonce"],
)  # fmt: skip
@pytest.mark.parametrize("signed_in", [True, False], ids=["signed in", "signed out"])
def test_a_crafted_authorization_request_is_a_400(
    app: Application, person, overrides: dict, signed_in: bool
) -> None:
    client = Client()
    if signed_in:
        client.force_login(person)
    params = {**authorize_params(app, pkce()[1]), **overrides, "prompt": "none"}
    query = "&".join(f"{name}={value}" for name, value in params.items())

    response = client.get(f"{AUTHORIZE}?{query}")

    assert response.status_code in (302, 400), response.status_code
    if response.status_code == 302:  # signed out with a request that parses: sign in first
        assert response["Location"].startswith("/sign-in")
    assert not Grant.objects.exists()


def consent_form(browser: Client, app: Application) -> dict[str, str]:
    page = browser.get(AUTHORIZE, authorize_params(app, pkce()[1])).content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def test_the_organization_must_be_chosen(browser: Client, app: Application) -> None:
    response = browser.post(AUTHORIZE, {**consent_form(browser, app), "allow": "on"})

    assert response.status_code == 200
    assert "Choose the organization the application may act in." in response.content.decode()
    assert not Grant.objects.exists()


def test_a_consent_for_an_unknown_client_is_a_400(browser: Client, app: Application) -> None:
    fields = {**consent_form(browser, app), "client_id": "no-such-client"}

    response = browser.post(AUTHORIZE, {**fields, "allow": "on", "organization": "*"})

    assert response.status_code == 400
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "grant_type",
    ["urn:ietf:params:oauth:grant-type:device_code", "client_credentials", "password", "", "x"],
)
def test_the_token_endpoint_takes_only_its_two_grants(app: Application, grant_type: str) -> None:
    response = Client().post(TOKEN, {"grant_type": grant_type, "client_id": app.client_id})

    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}
    assert response["Cache-Control"] == "no-store"


def test_securing_an_account_spends_its_pending_codes(
    app: Application, person, user_factory
) -> None:
    Grant.objects.create(
        user=person,
        application=app,
        code="pending-code",
        expires=timezone.now() + timedelta(seconds=60),
        redirect_uri=REDIRECT,
        scope="user:read",
    )

    services.user_deactivate(user=person)

    assert not Grant.objects.filter(user=person).exists()


@pytest.fixture
def token_row(app: Application, person) -> AccessToken:
    access = AccessToken(
        user=person,
        application=app,
        scope="user:read",
        expires=timezone.now() + timedelta(hours=1),
    )
    access.token = "lka_admin-test"
    access.save()
    return access


@pytest.mark.parametrize("model", ["accesstoken", "refreshtoken", "grant"])
def test_the_admin_adds_and_changes_no_grant_or_token(
    admin_client: Client, token_row: AccessToken, model: str
) -> None:
    assert admin_client.get(f"/admin/oauth/{model}/add/").status_code == 403
    page = admin_client.get(f"/admin/oauth/{model}/")
    assert page.status_code == 200
    if model == "accesstoken":
        change = admin_client.post(
            f"/admin/oauth/accesstoken/{token_row.pk}/change/",
            {"scope": "projects:write", "user": token_row.user_id},
        )
        assert change.status_code == 403
        token_row.refresh_from_db()
        assert token_row.scope == "user:read"


def test_the_admin_shows_signing_keys_never_their_private_half(
    admin_client: Client, app: Application, person
) -> None:
    from oauth.models import SigningKey
    from oauth.tokens import issue_access_token

    raw = issue_access_token(user=person, application=app, scopes=["user:read"])
    key = SigningKey.objects.get()

    listing = admin_client.get("/admin/oauth/signingkey/")
    page = admin_client.get(f"/admin/oauth/signingkey/{key.pk}/change/").content.decode()
    add = admin_client.get("/admin/oauth/signingkey/add/")
    token_page = admin_client.get(
        f"/admin/oauth/accesstoken/{AccessToken.objects.get().pk}/change/"
    ).content.decode()

    assert listing.status_code == 200 and key.kid in listing.content.decode()
    assert key.kid in page and key.public_jwk["n"][:40] in page
    assert "PRIVATE KEY" not in page and key.private_key[40:80] not in page
    assert add.status_code == 403
    assert raw not in token_page and raw.split(".")[2] not in token_page


def test_the_admin_never_shows_a_stored_client_secret(
    admin_client: Client, app_factory: Callable[..., Application]
) -> None:
    client = app_factory(confidential=True)

    page = admin_client.get(f"/admin/oauth/application/{client.pk}/change/").content.decode()

    assert client.client_secret not in page  # the stored hash
    assert "set (stored hashed)" in page


@pytest.mark.parametrize("change", ["revoked", "deactivated"])
def test_a_refresh_loses_to_a_revocation_made_while_it_ran(
    app: Application, person, monkeypatch, change: str
) -> None:
    """The refresh token is checked, then (before the new tokens are saved) revoked or its
    account deactivated: the refresh is refused and nothing new stands."""
    from oauth import services as oauth_services
    from oauth.models import RefreshToken
    from oauth.validators import LatchkeyValidator

    access = AccessToken(user=person, application=app, scope="user:read", expires=timezone.now())
    access.token = "lka_old"
    access.save()
    refresh = RefreshToken(user=person, application=app, access_token=access)
    refresh.token = "lkr_old"
    refresh.organization = None
    refresh.save()
    checked = LatchkeyValidator.validate_refresh_token

    def check_then_lose_it(self, *args, **kwargs):
        valid = checked(self, *args, **kwargs)
        if change == "revoked":
            RefreshToken.objects.filter(pk=refresh.pk).update(revoked=timezone.now())
        else:
            type(person).objects.filter(pk=person.pk).update(is_active=False)
            oauth_services.authorizations_end(person)
        return valid

    monkeypatch.setattr(LatchkeyValidator, "validate_refresh_token", check_then_lose_it)

    response = Client().post(
        TOKEN,
        {"grant_type": "refresh_token", "refresh_token": "lkr_old", "client_id": app.client_id},
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exclude(pk=access.pk).exists()


@pytest.mark.parametrize("endpoint", [TOKEN, "/oauth/revoke"])
def test_the_token_endpoints_are_limited_per_address(
    app: Application, settings, endpoint: str
) -> None:
    from tests.conftest import set_rates

    set_rates(settings, OAUTH_TOKEN="2/min")
    body = {"grant_type": "refresh_token", "refresh_token": "lkr_x", "client_id": app.client_id}
    if endpoint != TOKEN:
        body = {"token": "lka_x", "client_id": app.client_id}

    statuses = [Client().post(endpoint, body).status_code for _ in range(3)]

    assert 429 not in statuses[:2] and statuses[2] == 429
    limited = Client().post(endpoint, body)
    assert limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_error_reports_never_carry_a_posted_secret(path: str) -> None:
    # Django's error reports (a 500's mail, the debug page) filter what these views mark.
    from django.test import RequestFactory
    from django.urls import resolve
    from django.views.debug import SafeExceptionReporterFilter

    request = RequestFactory().post(path, {"refresh_token": "lkr_secret", "token": "eyJsecret"})
    resolve(path).func(request)

    cleansed = SafeExceptionReporterFilter().get_post_parameters(request)
    assert request.sensitive_post_parameters == "__ALL__"
    assert "lkr_secret" not in str(cleansed) and "eyJsecret" not in str(cleansed)
