"""Settings → OAuth applications: a developer registers a client (a confidential one's secret
shown once), lists and deletes their own."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from oauth.models import AccessToken, Application
from tests.conftest import set_rates
from tests.oauth.test_authorization_server import authorization_code, pkce, query

pytestmark = pytest.mark.django_db

LIST = "/settings/oauth-applications"
NEW = f"{LIST}/new"


def register(browser: Client, **fields: str) -> Any:
    data = {
        "name": "Reporting bot",
        "redirect_uris": "https://client.example/callback\nhttp://127.0.0.1/callback",
        "client_type": "public",
        **fields,
    }
    return browser.post(NEW, data)


def test_a_public_client_is_registered_without_a_secret(browser: Client, person) -> None:
    response = register(browser)

    assert response.status_code == 200
    application = Application.objects.get()
    page = response.content.decode()
    assert application.client_id in page
    assert "Client secret" not in page
    assert (application.user_id, application.client_type, application.client_secret) == (
        person.pk,
        "public",
        "",
    )
    assert application.redirect_uris == "https://client.example/callback http://127.0.0.1/callback"
    event = AuditEvent.objects.get(action="oauth.application_registered")
    assert event.detail["clientId"] == application.client_id


def test_a_confidential_clients_secret_is_shown_once_and_works(browser: Client) -> None:
    response = register(browser, client_type="confidential")

    assert response.status_code == 200
    assert (
        response["Cache-Control"].startswith("max-age=0")
        or "no-store" in response["Cache-Control"]
    )
    secret = re.search(r'id="client-secret"[^>]*value="([^"]+)"', response.content.decode())[1]
    application = Application.objects.get()
    assert application.client_secret != secret  # only its hash is stored
    assert secret not in browser.get(LIST).content.decode()
    verifier, challenge = pkce()
    code = authorization_code(browser, application, challenge)
    token = Client().post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://client.example/callback",
            "client_id": application.client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.content


@pytest.mark.parametrize(
    "uris",
    [
        "http://client.example/callback",
        "ftp://client.example/callback",
        "https://client.example/callback#fragment",
        "https://user:pw@client.example/callback",
        "https://client.example:99999/callback",
        "not-a-url",
        "",
        " ".join(f"https://client.example/{n}" for n in range(11)),
    ],
)
def test_bad_redirect_uris_are_refused(browser: Client, uris: str) -> None:
    response = register(browser, redirect_uris=uris)

    assert response.status_code == 400
    assert 'id="id_redirect_uris"' in response.content.decode()
    assert not Application.objects.exists()


def test_the_list_shows_only_ones_own_applications(
    browser: Client, user_factory, app_factory
) -> None:
    app_factory()  # someone else's
    register(browser, name="Mine")

    page = browser.get(LIST).content.decode()

    assert "Mine" in page
    assert "Acme Reports" not in page


def test_deleting_ends_its_tokens(browser: Client) -> None:
    register(browser)
    application = Application.objects.get()
    verifier, challenge = pkce()
    code = authorization_code(browser, application, challenge)
    exchanged = Client().post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://client.example/callback",
            "client_id": application.client_id,
            "code_verifier": verifier,
        },
    )
    assert exchanged.status_code == 200

    response = browser.post(f"{LIST}/{application.pk}/delete")

    assert response.status_code == 302
    assert not Application.objects.exists()
    assert not AccessToken.objects.exists()
    assert AuditEvent.objects.filter(action="oauth.application_deleted").count() == 1


def test_another_persons_application_cannot_be_deleted(browser: Client, app_factory) -> None:
    theirs = app_factory()

    assert browser.post(f"{LIST}/{theirs.pk}/delete").status_code == 404
    assert Application.objects.filter(pk=theirs.pk).exists()


def test_registering_is_limited_per_person(browser: Client, settings) -> None:
    set_rates(settings, OAUTH_APPLICATION_CREATE="2/hour")

    statuses = [register(browser, name=f"App {n}").status_code for n in range(3)]

    assert statuses == [200, 200, 429]
    assert Application.objects.count() == 2


def test_the_pages_need_a_signed_in_person() -> None:
    for url in (LIST, NEW):
        response = Client().get(url)
        assert response.status_code == 302
        assert query(response["Location"])["next"] == url


@pytest.mark.parametrize(
    "uri",
    [
        "https://:443/callback",
        "https://client.example:0/callback",
        "https://\u0435\u0445\u0430mple.com/callback",  # Cyrillic look-alikes
        "https://client.example/callback#",
        "https://cli%zzent.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://localhost.evil/callback",
    ],
)
def test_odd_redirect_uris_are_refused(browser: Client, uri: str) -> None:
    assert register(browser, redirect_uris=uri).status_code == 400
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    "uri",
    ["HTTPS://Client.Example/callback", "http://[::1]/callback", "http://localhost:8976/cb"],
)
def test_usual_redirect_uris_are_accepted(browser: Client, uri: str) -> None:
    assert register(browser, redirect_uris=uri).status_code == 200
