"""Who may call /mcp: an OAuth access token issued for the MCP endpoint, and nothing else. Every
401 names the endpoint's protected-resource metadata (RFC 9728) and the scopes to ask for, as
MCP clients expect to discover them."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from access.credentials import challenge
from oauth.models import AccessToken
from tests.conftest import set_rates
from tests.mcpserver.conftest import error_of, post, request, result_of

pytestmark = pytest.mark.django_db

SCOPES = "user:read projects:read projects:write api-keys:read"


def mcp_challenge(**error: str) -> str:
    return challenge(realm="mcp", resource=settings.OAUTH_MCP_RESOURCE, **error, scope=SCOPES)


def test_the_challenge_names_the_mcp_metadata_and_the_scopes_the_tools_use():
    assert mcp_challenge() == (
        'Bearer realm="mcp", scope="user:read projects:read projects:write api-keys:read", '
        'resource_metadata="http://localhost:8000/.well-known/oauth-protected-resource/mcp"'
    )


def test_the_named_metadata_is_served_and_names_the_mcp_endpoint():
    response = Client().get("/.well-known/oauth-protected-resource/mcp")

    assert response.status_code == 200
    assert response.json()["resource"] == settings.OAUTH_MCP_RESOURCE


def test_a_token_for_the_mcp_endpoint_is_served(team, token):
    raw = token(team["owner"], ["user:read"])

    assert result_of(post(request("ping"), raw)) == {}


def test_a_request_with_no_credential_is_401_with_a_challenge_and_no_error():
    response = post(request("initialize"))

    error = error_of(response, -32600, status=401, id=None)
    assert error["data"]["code"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"] == mcp_challenge()


KINDS = [
    "API key in X-Api-Key",
    "API key as Bearer",
    "token for the API",
    "expired token",
    "revoked token",
    "token of a deactivated person",
    "tampered token",
    "garbage",
]


def credential(kind: str, team: Any, token: Any, api_key_factory: Any, application: Any) -> dict:
    """The headers of a request that presents a credential of `kind` that /mcp refuses."""
    owner = team["owner"]
    if kind.startswith("API key"):
        key = api_key_factory(user=owner, scopes=["*"])[1]
        return {"X-Api-Key": key} if "X-Api-Key" in kind else {"Authorization": f"Bearer {key}"}
    if kind == "garbage":
        return {"Authorization": "Bearer eyJ.not.a-token"}
    resources = [settings.OAUTH_API_RESOURCE] if kind == "token for the API" else None
    raw = token(
        owner, ["user:read"], resources=resources, expires_in=-1 if "expired" in kind else 3600
    )
    if kind == "revoked token":
        revoked = Client().post(
            "/oauth/revoke", {"token": raw, "client_id": application.client_id}
        )
        assert revoked.status_code == 200
        assert not AccessToken.objects.exists()
    if kind == "token of a deactivated person":
        type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    if kind == "tampered token":
        raw = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize("kind", KINDS)
def test_any_other_credential_is_401_invalid_token(
    team, token, api_key_factory, application, kind
):
    headers = credential(kind, team, token, api_key_factory, application)

    response = post(request("tools/call", {"name": "whoami"}), headers=headers)

    error = error_of(response, -32600, status=401, id=None)
    assert error["data"]["code"] == "TOKEN_INVALID"
    assert error["data"]["reason"] == (
        "The access token is unknown, expired or revoked, or its owner is deactivated."
    )
    assert response["WWW-Authenticate"] == mcp_challenge(error="invalid_token")


def test_a_session_is_no_credential_here(team):
    client = Client()
    client.force_login(team["owner"])

    response = client.post("/mcp", request("ping"), content_type="application/json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == mcp_challenge()


def test_a_token_for_both_resources_is_served_on_both(team, token):
    raw = token(
        team["owner"],
        ["user:read"],
        resources=[settings.OAUTH_API_RESOURCE, settings.OAUTH_MCP_RESOURCE],
    )

    assert result_of(post(request("ping"), raw)) == {}
    api = Client().get("/api/user/me", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 200


def test_the_token_s_budget_is_the_api_s_per_credential_budget(team, token, settings):
    set_rates(settings, KEY="2/min")
    raw = token(team["owner"], ["user:read"])
    other = token(team["owner"], ["user:read"])

    answers = [post(request("ping"), raw) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    error = error_of(answers[2], -32600, status=429, id=None)
    assert error["data"]["code"] == "RATE_LIMITED"
    assert int(answers[2]["Retry-After"]) >= 1
    assert answers[1]["X-RateLimit-Remaining"] == "0"
    assert post(request("ping"), other).status_code == 200  # each token its own budget


def test_failed_authentication_spends_the_address_s_budget(settings):
    set_rates(settings, ANON="2/min")
    headers = {"Authorization": "Bearer eyJ.not.a-token"}

    answers = [post(request("ping"), headers=headers) for _ in range(3)]

    assert [a.status_code for a in answers] == [401, 401, 429]
