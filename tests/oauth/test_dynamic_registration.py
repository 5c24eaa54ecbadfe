"""Dynamic client registration (RFC 7591) at POST /oauth/register: public clients register
themselves, limited per address and audited; then they run the code flow like any other."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from oauth.models import Application
from tests.conftest import set_rates
from tests.oauth.test_authorization_server import authorization_code, exchange, pkce

pytestmark = pytest.mark.django_db

REGISTER = "/oauth/register"
METADATA = {
    "client_name": "Claude Desktop",
    "redirect_uris": ["http://127.0.0.1/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
}


def register(body: Any) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return Client().post(REGISTER, raw, content_type="application/json")


def test_a_public_client_registers_and_runs_the_code_flow(browser: Client) -> None:
    response = register(METADATA)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert response["Cache-Control"] == "no-store"
    application = Application.objects.get(client_id=body["client_id"])
    assert (application.client_type, application.user_id) == ("public", None)
    event = AuditEvent.objects.get(action="oauth.application_registered")
    assert (event.detail["clientId"], event.detail["by"]) == (body["client_id"], "dcr")
    # It then asks a person, who approves it on the consent page.
    verifier, challenge = pkce()
    code = authorization_code(
        browser, application, challenge, redirect_uri="http://127.0.0.1:8976/callback"
    )
    token = exchange(application, code, verifier, redirect_uri="http://127.0.0.1:8976/callback")
    assert token.status_code == 200, token.content


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": None}, "invalid_client_metadata"),
        ({"redirect_uris": ["http://evil.example/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://client.example/cb#x"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": "http://127.0.0.1/callback"}, "invalid_redirect_uri"),
        ({"redirect_uris": [42]}, "invalid_redirect_uri"),
        ({"redirect_uris": [f"https://c.example/{n}" for n in range(11)]}, "invalid_redirect_uri"),
    ],
)
def test_what_cannot_register_is_400(changes: dict, error: str) -> None:
    body = {**METADATA, **changes}
    if changes.get("token_endpoint_auth_method", "x") is None:
        del body["token_endpoint_auth_method"]  # the RFC's default: client_secret_basic

    response = register(body)

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert not Application.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[]", "null", '{"client_name": 5}', "{}"])
def test_malformed_metadata_is_400_not_500(body: str) -> None:
    response = register(body)

    assert response.status_code == 400
    assert "error" in response.json()
    assert not Application.objects.exists()


def test_registration_is_limited_per_address(settings) -> None:
    set_rates(settings, OAUTH_REGISTRATION="2/hour")

    statuses = [register(METADATA).status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert Application.objects.count() == 2


def test_a_registration_is_read_and_deleted_with_its_token_but_never_changed() -> None:
    body = register(METADATA).json()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {body['registration_access_token']}"}
    url = f"{REGISTER}/{body['client_id']}"

    read = Client().get(url, **headers)
    changed = Client().put(url, json.dumps(METADATA), content_type="application/json", **headers)
    stranger = Client().delete(url)
    deleted = Client().delete(url, **headers)

    assert read.status_code == 200 and read.json()["client_id"] == body["client_id"]
    assert changed.status_code == 405
    assert stranger.status_code in (401, 403)
    assert deleted.status_code == 204
    assert not Application.objects.exists()


def test_the_metadata_advertises_registration(settings) -> None:
    body = Client().get("/.well-known/oauth-authorization-server").json()

    assert body["registration_endpoint"] == f"{settings.PUBLIC_URL}/oauth/register"
