"""OAuth access tokens on the JSON API (`Authorization: Bearer <token>`): the same principal,
tenancy gate, scope map and error codes as a key, with the token's scopes and pin and its
person's role of the moment."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from access.credentials import challenge
from audit.models import AuditEvent
from oauth.models import AccessToken, Application
from oauth.tokens import issue_access_token
from tenants.models import Membership, Organization, Role
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def application(team) -> Application:
    return Application.objects.create(
        name="Acme Reports",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://client.example/callback",
        user=team["outsider"],
    )


@pytest.fixture
def token(application):
    """token(user, scopes, organization=None, expires_in=3600): the raw value of an access
    token the person granted the application, pinned to `organization` (None: every one)."""

    def make(
        user: Any,
        scopes: list[str],
        organization: Organization | None = None,
        expires_in: int = 3600,
    ) -> str:
        return issue_access_token(
            user=user,
            application=application,
            scopes=scopes,
            organization=organization,
            expires_in=expires_in,
        )

    return make


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def projects(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}/projects"


def test_a_token_reads_what_its_scope_allows(team, token):
    raw = token(team["owner"], ["user:read"])

    response = bearer(raw).get("/api/user/me")

    assert response.status_code == 200, response.content
    assert response.json()["data"]["id"] == team["owner"].pk


def test_a_token_lists_the_projects_of_its_pinned_organization(team, token, project_factory):
    organization = team["organization"]
    project = project_factory(organization)
    raw = token(team["member"], ["projects:read"], organization=organization)

    response = bearer(raw).get(projects(organization))

    assert response.status_code == 200, response.content
    assert [p["id"] for p in response.json()["data"]] == [project.pk]


REFUSALS = [
    # (who consented, scopes, pinned to, organization asked for, status, code)
    ("owner", ["user:read"], None, "organization", 403, "INSUFFICIENT_SCOPE"),
    ("owner", ["projects:read"], "elsewhere", "organization", 403, "ORGANIZATION_MISMATCH"),
    ("outsider", ["projects:read"], None, "organization", 403, "NOT_ORGANIZATION_MEMBER"),
    ("member", ["projects:*"], "organization", "organization", 200, None),
]


@pytest.mark.parametrize(("who", "scopes", "pin", "asked", "status", "code"), REFUSALS)
def test_scope_pin_and_membership_decide_as_for_a_key(
    team, token, org_factory, member_factory, who, scopes, pin, asked, status, code
):
    elsewhere = org_factory()
    member_factory(elsewhere, user=team["owner"])
    places = {"organization": team["organization"], "elsewhere": elsewhere, None: None}
    raw = token(team[who], scopes, organization=places[pin])

    response = bearer(raw).get(projects(places[asked]))

    if code is None:
        assert response.status_code == status, response.content
    else:
        body = assert_error(response, status, code)
        if code == "INSUFFICIENT_SCOPE":
            assert body["required_scopes"] == ["projects:read"]
            assert response["WWW-Authenticate"] == challenge(
                error="insufficient_scope", scope="projects:read"
            )


def test_a_scope_refusal_is_audited_with_the_token_not_as_a_key(team, token, application):
    raw = token(team["owner"], ["user:read"])

    bearer(raw).get(projects(team["organization"]))

    event = AuditEvent.objects.get(action="access.scope_denied")
    assert event.api_key_id is None
    assert event.detail["oauthClientId"] == application.client_id
    assert event.detail["oauthTokenId"] == AccessToken.objects.get().pk


def test_a_demoted_or_removed_member_loses_the_access_on_the_next_request(team, token):
    organization, admin = team["organization"], team["admin"]
    raw = token(admin, ["organizations:write"], organization=organization)
    url = f"/api/user/organizations/{organization.pk}"

    assert bearer(raw).patch(url, {"name": "By the admin"}, format="json").status_code == 200
    Membership.objects.filter(user=admin, organization=organization).update(role=Role.MEMBER)
    demoted = bearer(raw).patch(url, {"name": "Again"}, format="json")
    Membership.objects.filter(user=admin, organization=organization).delete()
    removed = bearer(raw).get(url)

    assert_error(demoted, 403, "INSUFFICIENT_ROLE")
    # Leaving the organization ended what was authorized pinned to it.
    assert_error(removed, 401, "TOKEN_INVALID")


@pytest.mark.parametrize("kind", ["unknown", "expired", "revoked", "deactivated owner"])
def test_a_token_that_does_not_authenticate_is_401(team, token, application, kind):
    owner = team["owner"]
    raw = token(owner, ["user:read"], expires_in=-1 if kind == "expired" else 3600)
    if kind == "unknown":
        AccessToken.objects.all().delete()  # signed by this server, but no longer stored
    if kind == "revoked":
        revoked = Client().post(
            "/oauth/revoke", {"token": raw, "client_id": application.client_id}
        )
        assert revoked.status_code == 200
    if kind == "deactivated owner":
        type(owner).objects.filter(pk=owner.pk).update(is_active=False)

    response = bearer(raw).get("/api/user/me")

    body = assert_error(response, 401, "TOKEN_INVALID", message="Unauthorized")
    assert body["reason"] == (
        "The access token is unknown, expired or revoked, or its owner is deactivated."
    )
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")


def test_an_api_key_still_works_as_a_bearer_token(team, api_key_factory):
    _key, raw = api_key_factory(user=team["owner"], scopes=["user:read"])

    assert bearer(raw).get("/api/user/me").status_code == 200


def test_the_status_route_says_it_is_an_oauth_token(team, token, application):
    organization = team["organization"]
    raw = token(team["owner"], ["projects:read"], organization=organization)

    response = bearer(raw).get("/api/auth/status")

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["authMethod"], data["apiKey"]) == ("oauth", None)
    assert "user" not in data  # no user:read
    assert data["oauthToken"]["clientId"] == application.client_id
    assert data["oauthToken"]["scopes"] == ["projects:read"]
    assert data["oauthToken"]["organizationId"] == organization.pk


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/api-key/create", {"name": "Minted", "scopes": ["user:read"]}),
        ("/api/auth/api-key/revoke", {"keyId": "ak_unknown"}),
        ("/api/auth/api-key/update", {"keyId": "ak_unknown", "name": "Renamed"}),
    ],
)
def test_a_token_manages_no_api_keys(team, token, path, body):
    raw = token(team["owner"], ["api-keys:write", "api-keys:read"])

    response = bearer(raw).post(path, body, format="json")

    assert_error(response, 403, "FORBIDDEN")
    assert not team["owner"].api_keys.filter(name="Minted").exists()


def test_a_token_lists_api_keys_with_their_read_scope(team, token, api_key_factory):
    key, _raw = api_key_factory(user=team["owner"], scopes=["user:read"])
    raw = token(team["owner"], ["api-keys:read"])

    response = bearer(raw).get("/api/auth/api-key/list")

    assert response.status_code == 200, response.content
    assert [k["id"] for k in response.json()["data"]] == [key.pk]


def test_a_token_cannot_sign_out_or_change_the_password(team, token):
    raw = token(team["owner"], ["*"])

    assert_error(bearer(raw).post("/api/auth/sign-out"), 403, "SESSION_REQUIRED")
    response = bearer(raw).post(
        "/api/auth/change-password",
        {"currentPassword": "x" * 12, "newPassword": "y" * 12},
        format="json",
    )
    assert_error(response, 403, "SESSION_REQUIRED")


def test_the_api_publishes_its_protected_resource_metadata(settings) -> None:
    for path in (
        "/.well-known/oauth-protected-resource/api",
        "/.well-known/oauth-protected-resource",
    ):
        response = Client().get(path)

        assert response.status_code == 200
        body = response.json()
        assert body["resource"] == f"{settings.PUBLIC_URL}/api"
        assert body["authorization_servers"] == [settings.PUBLIC_URL]
        assert "projects:read" in body["scopes_supported"] and "*" not in body["scopes_supported"]
        assert body["bearer_methods_supported"] == ["header"]


def test_a_401_names_the_metadata_and_a_key_refusal_no_oauth_error(team, api_key_factory) -> None:
    anonymous = APIClient().get("/api/user/me")
    key_missing_scope = APIClient()
    key_missing_scope.credentials(
        HTTP_X_API_KEY=api_key_factory(user=team["owner"], scopes=["user:read"])[1]
    )
    refused = key_missing_scope.get(projects(team["organization"]))

    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == challenge()
    assert refused.status_code == 403
    assert "WWW-Authenticate" not in refused
