"""The credential table: every authenticated API route against every kind of credential.

Each route is listed once, with the scope it requires. Every credential a client can present
(a session, a key with the scope, without it, pinned elsewhere, an outsider's, expired, revoked,
malformed, none) then meets every route it applies to. An OAuth access token stands where a key
does, with the same scope map, and is a column of its own: the routes it is refused on name
the refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from access.credentials import challenge
from accounts.models import User
from apikeys import conf, crypto
from apikeys.models import ApiKey
from oauth.models import Application
from oauth.tokens import issue_access_token
from tenants.models import Membership, Organization, Project, Role
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

UNAUTHORIZED = "Unauthorized"


# --- Fixtures --------------------------------------------------------------------------------


@dataclass
class World:
    organization: Organization
    other_organization: Organization
    owner: User
    admin: User
    member: User
    outsider: User
    project: Project
    target_key: ApiKey
    target_lookup: str  # the target key's lookup id, which only a roll changes


@pytest.fixture
def world(team, org_factory, member_factory, project_factory, api_key_factory) -> World:
    """`team`, plus: a second organization the owner ALSO belongs to (so a key pinned there is
    refused by its pin, not by membership), a project, a key of the owner's that the
    /api/auth/api-key/* routes read, rename, edit, roll and revoke, and an admin's key pinned
    to the organization (for the api_keys aggregate)."""
    other = org_factory()
    member_factory(other, user=team["owner"], role=Role.MEMBER)
    # Scoped so that a key holding api-keys:write covers it, and so may rename or revoke it.
    target_key, _raw = api_key_factory(
        user=team["owner"], scopes=["api-keys:write"], name="Target"
    )
    api_key_factory(
        user=team["admin"], scopes=["projects:read"], organization=team["organization"]
    )
    return World(
        organization=team["organization"],
        other_organization=other,
        owner=team["owner"],
        admin=team["admin"],
        member=team["member"],
        outsider=team["outsider"],
        project=project_factory(team["organization"], name="Target project"),
        target_key=target_key,
        target_lookup=target_key.lookup,
    )


@pytest.fixture
def oauth_application(user_factory) -> Application:
    """A public OAuth client, registered by someone outside `world`."""
    return Application.objects.create(
        name="Acme Reports",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://client.example/callback",
        user=user_factory(),
    )


@pytest.fixture
def oauth_token(oauth_application) -> Callable[..., str]:
    """oauth_token(user, scopes, organization=None, expires_in=None): the raw access token
    `user` granted the application, pinned to `organization` (None: every one)."""

    def make(
        user: User,
        scopes: list[str],
        *,
        organization: Organization | None = None,
        expires_in: int | None = None,
    ) -> str:
        return issue_access_token(
            user=user,
            application=oauth_application,
            scopes=scopes,
            organization=organization,
            expires_in=expires_in,
        )

    return make


# --- The route table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # placeholders: {org}, {project}, {key}
    scope: str  # "" means "any authenticated caller"
    message: str
    check: Callable[[Any, World], bool]
    body: Callable[[World], dict[str, Any]] | None = None
    status: int = 200
    tenant: bool = False
    session_only: bool = False
    # The code an OAuth access token holding the route's scope is refused with ("": it
    # succeeds, as a key does).
    oauth: str = ""
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}{self.label}"


ORG = "/api/user/organizations/{org}"
PROJECT = ORG + "/projects/{project}"


def status_names_the_caller(data: dict[str, Any], world: World) -> bool:
    """GET /api/auth/status: a session sees the profile; a key or an OAuth token without
    user:read sees only its own metadata."""
    if data["authMethod"] == "session":
        return data["user"]["id"] == world.owner.pk
    credential = data["apiKey"] if data["authMethod"] == "api_key" else data["oauthToken"]
    return "user" not in data and credential["scopes"] == ["projects:read"]


ROUTES = [
    Route(
        "GET", "/api/user/me", "user:read", "User fetched successfully",
        check=lambda data, w: data["id"] == w.owner.pk and data["organizationCount"] == 2,
    ),
    Route(
        "GET", "/api/auth/status", "", "Authenticated",
        check=lambda data, w: data["authenticated"] is True and status_names_the_caller(data, w),
    ),
    Route(
        "GET", "/api/user/organizations", "user:read", "Organizations fetched",
        check=lambda data, w: {o["id"] for o in data}
        == {w.organization.pk, w.other_organization.pk},
    ),
    Route(
        "POST", "/api/user/organizations", "organizations:write", "Organization created",
        body=lambda w: {"name": "Made by the table"},
        status=201,
        check=lambda data, w: data["name"] == "Made by the table" and data["role"] == "owner",
    ),
    Route(
        "GET", ORG, "organizations:read", "Organization fetched", tenant=True,
        check=lambda data, w: data["id"] == w.organization.pk and data["role"] == "owner",
    ),
    Route(
        "PATCH", ORG, "organizations:write", "Organization updated", tenant=True,
        body=lambda w: {"name": "Renamed by the table"},
        check=lambda data, w: data["id"] == w.organization.pk
        and data["name"] == "Renamed by the table",
    ),
    Route(
        "GET", ORG + "/members", "members:read", "Members fetched", tenant=True,
        check=lambda data, w: {m["userId"] for m in data} == {w.owner.pk, w.admin.pk, w.member.pk},
    ),
    Route(
        "GET", ORG + "/projects", "projects:read", "Projects fetched", tenant=True,
        check=lambda data, w: [p["id"] for p in data] == [w.project.pk],
    ),
    Route(
        "POST", ORG + "/projects", "projects:write", "Project created", tenant=True,
        body=lambda w: {"name": "Made by the table"},
        status=201,
        check=lambda data, w: data["name"] == "Made by the table"
        and data["organizationId"] == w.organization.pk,
    ),
    Route(
        "GET", PROJECT, "projects:read", "Project fetched", tenant=True,
        check=lambda data, w: data["id"] == w.project.pk,
    ),
    Route(
        "PATCH", PROJECT, "projects:write", "Project updated", tenant=True,
        body=lambda w: {"name": "Renamed project"},
        check=lambda data, w: data["id"] == w.project.pk and data["name"] == "Renamed project",
    ),
    Route(
        "DELETE", PROJECT, "projects:write", "Project deleted", tenant=True,
        check=lambda data, w: data == {"id": w.project.pk}
        and not Project.objects.filter(pk=w.project.pk).exists(),
    ),
    Route(
        "POST", ORG + "/aggregate", "projects:read", "Aggregate computed", tenant=True,
        label=" entity=projects",
        body=lambda w: {"entity": "projects"},
        check=lambda data, w: data == {"entity": "projects", "count": 1},
    ),
    Route(
        "POST", ORG + "/aggregate", "members:read", "Aggregate computed", tenant=True,
        label=" entity=members",
        body=lambda w: {"entity": "members"},
        check=lambda data, w: data == {"entity": "members", "count": 3},
    ),
    Route(
        "POST", ORG + "/aggregate", "api-keys:read", "Aggregate computed", tenant=True,
        label=" entity=api_keys",
        body=lambda w: {"entity": "api_keys"},
        # The admin's pinned key, plus the caller's own key when it is pinned here.
        check=lambda data, w: data["entity"] == "api_keys" and data["count"] in (1, 2),
    ),
    Route(
        "POST", "/api/auth/api-key/create", "api-keys:write", "API key created",
        oauth="FORBIDDEN",
        body=lambda w: {"name": "Child", "scopes": ["api-keys:write"]},
        check=lambda data, w: data["key"].startswith(conf.prefix())
        and data["name"] == "Child"
        and data["scopes"] == ["api-keys:write"],
    ),
    Route(
        "GET", "/api/auth/api-key/list", "api-keys:read", "API keys fetched",
        check=lambda data, w: w.target_key.pk in {k["id"] for k in data},
    ),
    Route(
        "GET", "/api/auth/api-key/get?id={key}", "api-keys:read", "API key fetched",
        check=lambda data, w: data["id"] == w.target_key.pk and data["name"] == "Target",
    ),
    Route(
        "POST", "/api/auth/api-key/update", "api-keys:write", "API key updated",
        oauth="FORBIDDEN",
        body=lambda w: {"keyId": w.target_key.pk, "name": "Renamed key"},
        check=lambda data, w: data["id"] == w.target_key.pk and data["name"] == "Renamed key",
    ),
    Route(
        "PATCH", "/api/auth/api-key/{key}", "api-keys:write", "API key updated",
        oauth="FORBIDDEN",
        body=lambda w: {"name": "Edited key", "scopes": ["api-keys:write"]},
        check=lambda data, w: data["id"] == w.target_key.pk
        and data["name"] == "Edited key"
        and ApiKey.objects.get(pk=w.target_key.pk).name == "Edited key",
    ),
    Route(
        "POST", "/api/auth/api-key/{key}/roll", "api-keys:write", "API key rolled",
        oauth="FORBIDDEN",
        body=lambda w: {"expiresOldIn": 0},
        check=lambda data, w: data["id"] == w.target_key.pk
        and data["name"] == "Target"
        and data["key"].startswith(conf.prefix())
        and ApiKey.objects.get(pk=w.target_key.pk).previous_lookup == w.target_lookup,
    ),
    Route(
        "POST", "/api/auth/api-key/revoke", "api-keys:write", "API key revoked",
        oauth="FORBIDDEN",
        body=lambda w: {"keyId": w.target_key.pk},
        check=lambda data, w: data["id"] == w.target_key.pk and data["status"] == "revoked",
    ),
    Route(
        "GET", ORG + "/api-keys", "api-keys:read", "API keys fetched", tenant=True,
        check=lambda data, w: w.target_key.pk in {k["id"] for k in data}
        and all("digest" not in k and "lookup" not in k for k in data),
    ),
    Route(
        "POST", ORG + "/api-keys/{key}/revoke", "api-keys:write", "API key revoked",
        tenant=True,
        oauth="FORBIDDEN",
        check=lambda data, w: data["id"] == w.target_key.pk
        and data["revokedHere"] is True
        and ApiKey.objects.get(pk=w.target_key.pk).revoked_in == [w.organization.pk],
    ),
    Route(
        "GET", ORG + "/key-policy", "organizations:read", "Key policy fetched", tenant=True,
        check=lambda data, w: data["organizationId"] == w.organization.pk
        and data["requireExpiry"] is False
        and data["maxKeysPerMember"] is None,
    ),
    Route(
        "PATCH", ORG + "/key-policy", "organizations:write", "Key policy updated", tenant=True,
        body=lambda w: {"maxKeysPerMember": 50},
        check=lambda data, w: data["organizationId"] == w.organization.pk
        and data["maxKeysPerMember"] == 50
        and Organization.objects.get(pk=w.organization.pk).key_policy
        == {"maxKeysPerMember": 50},
    ),
    Route(
        "POST", "/api/auth/sign-out", "", "Signed out", session_only=True,
        oauth="SESSION_REQUIRED",
        check=lambda data, w: data is None,
    ),
]  # fmt: skip


def routes(predicate: Callable[[Route], bool] = lambda route: True) -> list[Any]:
    return [pytest.param(route, id=route.id) for route in ROUTES if predicate(route)]


# Routes a key may use. POST /api/auth/sign-out ends a browser session, so it answers a key
# with 403 SESSION_REQUIRED whatever its scopes (test_sign_out_refuses_every_key).
KEY_ROUTES = routes(lambda route: not route.session_only)
# Routes that require a scope. GET /api/auth/status and POST /api/auth/sign-out declare ""
# (any authenticated caller), so no scope can be missing there: they have no "key without
# the scope" row.
SCOPED_ROUTES = routes(lambda route: bool(route.scope))
TENANT_ROUTES = routes(lambda route: route.tenant)
# Routes an OAuth access token holding the route's scope may use, and those that refuse it
# (managing API keys, ending a session): `Route.oauth` names the refusal.
OAUTH_ROUTES = routes(lambda route: not route.oauth)
OAUTH_TENANT_ROUTES = routes(lambda route: route.tenant and not route.oauth)
OAUTH_REFUSED_ROUTES = routes(lambda route: bool(route.oauth))
OAUTH_REFUSALS = {
    "FORBIDDEN": "API keys are issued, renamed and revoked with a session or an API key.",
    "SESSION_REQUIRED": "This action needs a signed-in browser session.",
}
BEARER_ROUTES = routes(
    lambda route: (
        route.id
        in {
            "GET /api/user/me",
            "POST /api/user/organizations",
            f"PATCH {ORG}",
            f"DELETE {PROJECT}",
            "POST /api/auth/api-key/create",
            "GET /api/auth/api-key/get?id={key}",
        }
    )
)


# Same resource, other action: the scope most likely to be mistaken for the required one.
SIBLING = {"read": "write", "write": "read"}


def sibling_of(scope: str) -> str:
    resource, _sep, action = scope.partition(":")
    return f"{resource}:{SIBLING[action]}"


def key_scopes_for(route: Route) -> list[str]:
    # A route that needs no scope still meets a key holding some unrelated scope: a key
    # always holds at least one.
    return [route.scope or "projects:read"]


# --- Helpers ---------------------------------------------------------------------------------


def call(client, route: Route, world: World, headers: dict[str, str] | None = None):
    path = route.path.format(
        org=world.organization.pk, project=world.project.pk, key=world.target_key.pk
    )
    request = getattr(client, route.method.lower())
    if route.method == "GET":
        return request(path, headers=headers or {})
    body = route.body(world) if route.body is not None else None
    return request(path, body, format="json", headers=headers or {})


def key_header(raw: str) -> dict[str, str]:
    return {"X-Api-Key": raw}


def bearer_header(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def assert_success(response, route: Route, world: World) -> dict[str, Any]:
    assert response.status_code == route.status, response.content
    body = response.json()
    assert body["success"] is True
    assert body["status"] == route.status
    assert body["code"] == "OK"
    assert body["message"] == route.message
    assert route.check(body["data"], world), body["data"]
    return body


def assert_key_rejected(response, code: str, reason: str) -> None:
    """A refused key: 401, `error` "Unauthorized", the machine code and why, and a challenge."""
    body = assert_error(response, 401, code, message=UNAUTHORIZED)
    assert body["reason"] == reason
    assert response["WWW-Authenticate"] == challenge()


def assert_nothing_changed(route: Route, world: World) -> None:
    """A refused request left the rows a successful one would have changed as they were."""
    world.organization.refresh_from_db()
    world.target_key.refresh_from_db()
    assert Project.objects.filter(pk=world.project.pk, name="Target project").exists()
    assert not Project.objects.filter(name="Made by the table").exists()
    assert not Organization.objects.filter(name__contains="by the table").exists()
    assert world.target_key.name == "Target"
    assert world.target_key.lookup == world.target_lookup
    assert world.target_key.revoked_at is None
    assert not ApiKey.objects.filter(name="Child").exists()


# --- Session ---------------------------------------------------------------------------------


@pytest.mark.parametrize("route", routes())
def test_session_succeeds_on_every_route(client_for, world, route):
    response = call(client_for(world.owner), route, world)

    assert_success(response, route, world)


# --- A key with exactly the required scope ---------------------------------------------------


@pytest.mark.parametrize("header", ["X-Api-Key", "x-api-key"])
@pytest.mark.parametrize("route", KEY_ROUTES)
def test_key_with_the_required_scope_succeeds(api_client, world, api_key_factory, route, header):
    key, raw = api_key_factory(user=world.owner, scopes=key_scopes_for(route))

    response = call(api_client, route, world, headers={header: raw})

    assert_success(response, route, world)
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_key_as_a_bearer_token_succeeds(api_client, world, api_key_factory, route):
    _key, raw = api_key_factory(user=world.owner, scopes=key_scopes_for(route))

    response = call(api_client, route, world, headers={"Authorization": f"Bearer {raw}"})

    assert_success(response, route, world)


@pytest.mark.parametrize("route", TENANT_ROUTES)
def test_key_pinned_to_the_routes_organization_succeeds(api_client, world, api_key_factory, route):
    _key, raw = api_key_factory(
        user=world.owner, scopes=key_scopes_for(route), organization=world.organization
    )

    response = call(api_client, route, world, headers=key_header(raw))

    assert_success(response, route, world)


def test_sign_out_refuses_every_key(api_client, world, api_key_factory):
    _key, raw = api_key_factory(user=world.owner, scopes=["*"])

    response = api_client.post("/api/auth/sign-out", headers=key_header(raw))

    assert_error(
        response, 403, "SESSION_REQUIRED", message="This action needs a signed-in browser session."
    )


@pytest.mark.parametrize("credential", ["session", "key", "oauth"])
def test_auth_status_says_how_the_caller_authenticated(
    api_client, client_for, world, api_key_factory, oauth_token, oauth_application, credential
):
    key, raw = api_key_factory(user=world.owner, scopes=["projects:read"], name="Status")
    if credential == "session":
        response = client_for(world.owner).get("/api/auth/status")
    elif credential == "key":
        response = api_client.get("/api/auth/status", headers=key_header(raw))
    else:
        token = oauth_token(world.owner, ["projects:read"])
        response = api_client.get("/api/auth/status", headers=bearer_header(token))

    assert response.status_code == 200
    data = response.json()["data"]
    if credential == "session":
        assert data["user"]["id"] == world.owner.pk
        assert data["authMethod"] == "session"
        assert data["apiKey"] is None
    elif credential == "key":
        assert "user" not in data  # the profile needs user:read
        assert data["authMethod"] == "api_key"
        assert data["apiKey"]["id"] == key.pk
        assert data["apiKey"]["scopes"] == ["projects:read"]
        assert data["apiKey"]["organizationId"] is None
    else:
        assert "user" not in data
        assert (data["authMethod"], data["apiKey"]) == ("oauth", None)
        assert data["oauthToken"]["clientId"] == oauth_application.client_id
        assert data["oauthToken"]["application"] == "Acme Reports"
        assert data["oauthToken"]["scopes"] == ["projects:read"]
        assert data["oauthToken"]["organizationId"] is None


# --- A key without the required scope --------------------------------------------------------


@pytest.mark.parametrize("route", SCOPED_ROUTES)
def test_key_without_the_required_scope_is_403(api_client, world, api_key_factory, route):
    _key, raw = api_key_factory(user=world.owner, scopes=[sibling_of(route.scope)])

    response = call(api_client, route, world, headers=key_header(raw))

    body = assert_error(
        response,
        403,
        "INSUFFICIENT_SCOPE",
        message=f"Insufficient API key scopes. Missing: {route.scope}",
    )
    assert body["required_scopes"] == [route.scope]
    assert_nothing_changed(route, world)


# --- Tenancy: the pin and the membership -----------------------------------------------------


@pytest.mark.parametrize("route", TENANT_ROUTES)
def test_key_pinned_to_another_organization_is_403(api_client, world, api_key_factory, route):
    # The owner belongs to the other organization too, and the key holds the route's scope:
    # only the pin can refuse it.
    assert Membership.objects.filter(
        user=world.owner, organization=world.other_organization
    ).exists()
    _key, raw = api_key_factory(
        user=world.owner, scopes=[route.scope], organization=world.other_organization
    )

    response = call(api_client, route, world, headers=key_header(raw))

    assert_error(
        response,
        403,
        "ORGANIZATION_MISMATCH",
        message="This API key is pinned to another organization.",
    )
    assert_nothing_changed(route, world)


def test_pinned_key_is_refused_by_the_gate_before_the_membership_query(
    api_client, world, api_key_factory, django_assert_num_queries
):
    _key, raw = api_key_factory(
        user=world.owner,
        scopes=["organizations:read"],
        organization=world.other_organization,
        last_used_at=timezone.now(),
    )

    # 1. SELECT the key JOIN its user. No membership query: the pin refuses first.
    with django_assert_num_queries(1):
        response = api_client.get(
            f"/api/user/organizations/{world.organization.pk}", headers=key_header(raw)
        )

    assert_error(response, 403, "ORGANIZATION_MISMATCH")


@pytest.mark.parametrize("route", TENANT_ROUTES)
def test_outsiders_key_with_every_scope_is_403_on_tenant_routes(
    api_client, world, api_key_factory, route
):
    _key, raw = api_key_factory(user=world.outsider, scopes=["*"])

    response = call(api_client, route, world, headers=key_header(raw))

    assert_error(
        response,
        403,
        "NOT_ORGANIZATION_MEMBER",
        message="This credential does not belong to the requested organization.",
    )
    assert_nothing_changed(route, world)


def test_pin_matches_an_organization_id_written_in_lower_case(api_client, world, api_key_factory):
    # ULIDs are case-insensitive; the path converter canonicalises before the pin compares.
    _key, raw = api_key_factory(
        user=world.owner, scopes=["organizations:read"], organization=world.organization
    )

    response = api_client.get(
        f"/api/user/organizations/{world.organization.pk.lower()}", headers=key_header(raw)
    )

    assert response.status_code == 200
    assert response.json()["data"]["id"] == world.organization.pk


def test_pinned_key_lists_only_its_organization(api_client, world, api_key_factory):
    _key, raw = api_key_factory(
        user=world.owner, scopes=["user:read"], organization=world.other_organization
    )

    response = api_client.get("/api/user/organizations", headers=key_header(raw))

    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["data"]] == [world.other_organization.pk]
    assert body["pagination"]["totalItems"] == 1


def test_pinned_key_cannot_create_an_organization(api_client, world, api_key_factory):
    _key, raw = api_key_factory(
        user=world.owner, scopes=["organizations:write"], organization=world.organization
    )
    before = Organization.objects.count()

    response = api_client.post(
        "/api/user/organizations", {"name": "Escape"}, format="json", headers=key_header(raw)
    )

    assert_error(
        response,
        403,
        "ORGANIZATION_MISMATCH",
        message="This API key is pinned to another organization.",
    )
    assert Organization.objects.count() == before


# --- Expired, revoked, malformed, absent -----------------------------------------------------


@pytest.mark.parametrize("route", routes())
def test_expired_key_is_401(api_client, world, api_key_factory, route):
    _key, raw = api_key_factory(user=world.owner, scopes=["*"], expired=True)

    response = call(api_client, route, world, headers=key_header(raw))

    assert_key_rejected(response, "KEY_EXPIRED", "The API key has expired.")
    assert_nothing_changed(route, world)


@pytest.mark.parametrize("route", routes())
def test_revoked_key_is_401(api_client, world, api_key_factory, route):
    _key, raw = api_key_factory(user=world.owner, scopes=["*"], revoked=True)

    response = call(api_client, route, world, headers=key_header(raw))

    assert_key_rejected(response, "KEY_REVOKED", "The API key has been revoked.")
    assert_nothing_changed(route, world)


def _replace(raw: str, index: int) -> str:
    """`raw` with the base62 character at `index` swapped for another one."""
    replacement = "0" if raw[index] != "0" else "1"
    return raw[:index] + replacement + raw[index + 1 :]


def _with_checksum(body: str) -> str:
    return body + crypto.checksum(body)


# Keys refused on their shape or checksum alone: no database query may run for them.
MALFORMED: list[Any] = [
    pytest.param(lambda raw: "", id="empty"),
    pytest.param(lambda raw: "   ", id="only-whitespace"),
    pytest.param(lambda raw: "ba_", id="prefix-only"),
    pytest.param(lambda raw: "xx_" + raw[3:], id="wrong-prefix"),
    # A key that would be valid under another prefix: its own checksum is right.
    pytest.param(lambda raw: _with_checksum("xx_" + raw[3:-6]), id="wrong-prefix-own-checksum"),
    pytest.param(lambda raw: "BA_" + raw[3:], id="upper-case-prefix"),
    pytest.param(lambda raw: _replace(raw, len(raw) - 1), id="right-length-wrong-checksum"),
    pytest.param(lambda raw: _replace(raw, 20), id="one-character-changed"),
    pytest.param(lambda raw: raw[:-1], id="truncated"),
    pytest.param(lambda raw: raw[:-10], id="truncated-more"),
    pytest.param(lambda raw: raw + "A", id="extra-characters"),
    pytest.param(lambda raw: raw[:10] + "é" + raw[11:], id="unicode"),
    pytest.param(lambda raw: raw[:10] + "٣" + raw[11:], id="unicode-digit"),
    pytest.param(lambda raw: raw[:20] + " " + raw[21:], id="whitespace-inside"),
    pytest.param(lambda raw: raw[:20] + "\t" + raw[20:], id="tab-inserted"),
    pytest.param(lambda raw: _with_checksum(raw[:20] + "-" + raw[21:-6]), id="punctuation"),
]


# Each malformed key meets one route, and one malformed key meets every route: the refusal
# happens before any route is reached, so the product of the two would test nothing more.
MALFORMED_KEY_ROUTE = next(route for route in ROUTES if route.id == f"PATCH {ORG}")


def assert_refused_before_any_query(
    api_client, world: World, django_assert_num_queries, route: Route, presented: str
) -> None:
    with django_assert_num_queries(0):
        response = call(api_client, route, world, headers=key_header(presented))

    assert_key_rejected(
        response,
        "KEY_INVALID",
        "The API key is malformed, unknown, or its owner is deactivated.",
    )
    assert_nothing_changed(route, world)


@pytest.mark.parametrize("mutate", MALFORMED)
def test_malformed_key_is_401_before_any_query(
    api_client, world, api_key_factory, django_assert_num_queries, mutate
):
    _key, raw = api_key_factory(user=world.owner, scopes=["*"])
    presented = mutate(raw)
    assert presented != raw

    assert_refused_before_any_query(
        api_client, world, django_assert_num_queries, MALFORMED_KEY_ROUTE, presented
    )


@pytest.mark.parametrize("route", routes())
def test_a_malformed_key_is_401_before_any_query_on_every_route(
    api_client, world, api_key_factory, django_assert_num_queries, route
):
    _key, raw = api_key_factory(user=world.owner, scopes=["*"])
    presented = _replace(raw, len(raw) - 1)  # the right shape, the wrong checksum

    assert_refused_before_any_query(api_client, world, django_assert_num_queries, route, presented)


def _unknown(raw: str) -> str:
    """A well-formed key, right checksum, that was never issued."""
    return crypto.generate(conf.prefix())


def _known_lookup_wrong_secret(raw: str) -> str:
    """The real key's prefix and lookup id, but another secret, with a valid checksum."""
    head = raw[: len(conf.prefix()) + crypto.LOOKUP_LENGTH]
    forged = crypto.generate(conf.prefix())
    body = head + forged[len(head) : -crypto.CHECKSUM_LENGTH]
    return _with_checksum(body)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(_unknown, id="valid-looking-not-in-db"),
        pytest.param(_known_lookup_wrong_secret, id="known-lookup-wrong-secret"),
    ],
)
@pytest.mark.parametrize("route", routes())
def test_well_formed_unknown_key_is_401_after_one_lookup(
    api_client, world, api_key_factory, django_assert_num_queries, route, forge
):
    _key, raw = api_key_factory(user=world.owner, scopes=["*"])
    presented = forge(raw)
    assert crypto.parse(presented, conf.prefix()) is not None
    assert presented != raw

    # 1. SELECT the key by its lookup id; the digest does not match (or no row): refused.
    with django_assert_num_queries(1):
        response = call(api_client, route, world, headers=key_header(presented))

    assert_key_rejected(
        response,
        "KEY_INVALID",
        "The API key is malformed, unknown, or its owner is deactivated.",
    )
    assert_nothing_changed(route, world)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer ", id="bearer-empty"),
        pytest.param("Bearer ba_nope", id="bearer-short"),
        pytest.param("bearer ba_" + "0" * 46, id="bearer-lower-case-bad-checksum"),
    ],
)
def test_malformed_bearer_key_is_401_before_any_query(
    api_client, world, django_assert_num_queries, authorization
):
    with django_assert_num_queries(0):
        response = api_client.get("/api/user/me", headers={"Authorization": authorization})

    assert_key_rejected(
        response,
        "KEY_INVALID",
        "The API key is malformed, unknown, or its owner is deactivated.",
    )


def test_another_authorization_scheme_is_not_a_key(api_client, world):
    response = api_client.get("/api/user/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert_error(response, 401, "UNAUTHORIZED", message=UNAUTHORIZED)
    assert response["WWW-Authenticate"] == challenge()


@pytest.mark.parametrize("route", routes())
def test_no_credentials_is_401_with_a_challenge(api_client, world, route):
    response = call(api_client, route, world)

    assert_error(response, 401, "UNAUTHORIZED", message=UNAUTHORIZED)
    assert response["WWW-Authenticate"] == challenge()
    assert_nothing_changed(route, world)


# --- A key never falls back to the session ---------------------------------------------------


@pytest.mark.parametrize(
    ("presented", "code"),
    [
        pytest.param("ba_not-a-key", "KEY_INVALID", id="malformed"),
        pytest.param("expired", "KEY_EXPIRED", id="expired"),
        pytest.param("revoked", "KEY_REVOKED", id="revoked"),
    ],
)
@pytest.mark.parametrize("route", routes())
def test_bad_key_with_a_valid_session_is_401(
    client_for, world, api_key_factory, route, presented, code
):
    client = client_for(world.owner)
    if presented in ("expired", "revoked"):
        _key, presented = api_key_factory(user=world.owner, scopes=["*"], **{presented: True})

    response = call(client, route, world, headers=key_header(presented))

    body = assert_error(response, 401, code, message=UNAUTHORIZED)
    assert body["reason"]
    assert_nothing_changed(route, world)
    # The session itself still works: it was the key that was refused.
    assert client.get("/api/user/me").status_code == 200


# --- An OAuth access token ------------------------------------------------------------------
#
# The same scope map, tenancy gate and error codes as a key, presented as
# `Authorization: Bearer`; what the token looks like is never assumed.


@pytest.mark.parametrize("route", OAUTH_ROUTES)
def test_oauth_token_with_the_required_scope_succeeds(api_client, world, oauth_token, route):
    raw = oauth_token(world.owner, key_scopes_for(route))

    response = call(api_client, route, world, headers=bearer_header(raw))

    assert_success(response, route, world)


@pytest.mark.parametrize("route", OAUTH_REFUSED_ROUTES)
def test_oauth_token_with_the_required_scope_is_refused_where_a_key_or_session_is_needed(
    api_client, world, oauth_token, route
):
    # Even holding api-keys:write (which no consent grants: an application mints no
    # credential of its own), a token manages no key; and only a session signs out.
    raw = oauth_token(world.owner, key_scopes_for(route))

    response = call(api_client, route, world, headers=bearer_header(raw))

    assert_error(response, 403, route.oauth, message=OAUTH_REFUSALS[route.oauth])
    assert "WWW-Authenticate" not in response
    assert_nothing_changed(route, world)


@pytest.mark.parametrize("route", SCOPED_ROUTES)
def test_oauth_token_without_the_required_scope_is_403_with_an_insufficient_scope_challenge(
    api_client, world, oauth_token, route
):
    raw = oauth_token(world.owner, [sibling_of(route.scope)])

    response = call(api_client, route, world, headers=bearer_header(raw))

    # The message says "API key" of a token too: see the report on this table.
    body = assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert body["required_scopes"] == [route.scope]
    assert response["WWW-Authenticate"] == challenge(error="insufficient_scope", scope=route.scope)
    assert_nothing_changed(route, world)


@pytest.mark.parametrize("route", OAUTH_TENANT_ROUTES)
def test_oauth_token_pinned_to_the_routes_organization_succeeds(
    api_client, world, oauth_token, route
):
    raw = oauth_token(world.owner, key_scopes_for(route), organization=world.organization)

    response = call(api_client, route, world, headers=bearer_header(raw))

    assert_success(response, route, world)


@pytest.mark.parametrize("route", TENANT_ROUTES)
def test_oauth_token_pinned_to_another_organization_is_403(api_client, world, oauth_token, route):
    raw = oauth_token(world.owner, [route.scope], organization=world.other_organization)

    response = call(api_client, route, world, headers=bearer_header(raw))

    assert_error(response, 403, "ORGANIZATION_MISMATCH")
    assert_nothing_changed(route, world)


def test_pinned_oauth_token_cannot_create_an_organization(api_client, world, oauth_token):
    raw = oauth_token(world.owner, ["organizations:write"], organization=world.organization)
    before = Organization.objects.count()

    response = api_client.post(
        "/api/user/organizations", {"name": "Escape"}, format="json", headers=bearer_header(raw)
    )

    assert_error(response, 403, "ORGANIZATION_MISMATCH")
    assert Organization.objects.count() == before


@pytest.mark.parametrize("route", TENANT_ROUTES)
def test_outsiders_oauth_token_is_403_on_tenant_routes(api_client, world, oauth_token, route):
    raw = oauth_token(world.outsider, [route.scope])

    response = call(api_client, route, world, headers=bearer_header(raw))

    assert_error(
        response,
        403,
        "NOT_ORGANIZATION_MEMBER",
        message="This credential does not belong to the requested organization.",
    )
    assert_nothing_changed(route, world)


def _tampered(raw: str) -> str:
    """`raw` with one character near its start changed: whatever the format, a token that was
    never issued (and, signed, one whose signature no longer holds)."""
    replacement = "A" if raw[10] != "A" else "B"
    return raw[:10] + replacement + raw[11:]


def unusable_oauth_token(kind: str, world: World, oauth_token, oauth_application) -> str:
    """A token of the owner's, with every scope a route here needs, that no longer stands."""
    scopes = sorted({route.scope for route in ROUTES if route.scope})
    raw = oauth_token(world.owner, scopes, expires_in=-1 if kind == "expired" else None)
    if kind == "revoked":
        # As the client revokes it (RFC 7009).
        answer = Client().post(
            "/oauth/revoke", {"token": raw, "client_id": oauth_application.client_id}
        )
        assert answer.status_code == 200
    if kind == "tampered":
        raw = _tampered(raw)
    if kind == "owner-deactivated":
        User.objects.filter(pk=world.owner.pk).update(is_active=False)
    return raw


@pytest.mark.parametrize("kind", ["expired", "revoked", "tampered", "owner-deactivated"])
@pytest.mark.parametrize("route", routes())
def test_oauth_token_that_does_not_stand_is_401_with_an_invalid_token_challenge(
    api_client, world, oauth_token, oauth_application, route, kind
):
    raw = unusable_oauth_token(kind, world, oauth_token, oauth_application)

    response = call(api_client, route, world, headers=bearer_header(raw))

    body = assert_error(response, 401, "TOKEN_INVALID", message=UNAUTHORIZED)
    assert body["reason"] == (
        "The access token is unknown, expired or revoked, or its owner is deactivated."
    )
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")
    assert_nothing_changed(route, world)


@pytest.mark.parametrize("kind", ["expired", "revoked", "tampered"])
@pytest.mark.parametrize("route", routes())
def test_bad_oauth_token_with_a_valid_session_is_401(
    client_for, world, oauth_token, oauth_application, route, kind
):
    client = client_for(world.owner)
    raw = unusable_oauth_token(kind, world, oauth_token, oauth_application)

    response = call(client, route, world, headers=bearer_header(raw))

    assert_error(response, 401, "TOKEN_INVALID", message=UNAUTHORIZED)
    assert_nothing_changed(route, world)
    # The session itself still works: it was the token that was refused.
    assert client.get("/api/user/me").status_code == 200


def test_oauth_token_in_the_api_key_header_is_not_a_key(api_client, world, oauth_token):
    # Access tokens travel as `Authorization: Bearer` only (RFC 6750): in X-Api-Key a token
    # is read as a key, and no key it is.
    raw = oauth_token(world.owner, ["user:read"])

    response = api_client.get("/api/user/me", headers=key_header(raw))

    assert_key_rejected(
        response,
        "KEY_INVALID",
        "The API key is malformed, unknown, or its owner is deactivated.",
    )


# --- Scopes ∩ role, and changes to the owner take effect on the next request -------------------


def org_url(world: World) -> str:
    return f"/api/user/organizations/{world.organization.pk}"


@pytest.mark.parametrize("scopes", [["organizations:write"], ["*"], ["admin"], ["write:all"]])
def test_members_key_cannot_do_more_than_the_member(api_client, world, api_key_factory, scopes):
    _key, raw = api_key_factory(user=world.member, scopes=scopes)

    response = api_client.patch(
        org_url(world), {"name": "Member rename"}, format="json", headers=key_header(raw)
    )

    assert_error(
        response,
        403,
        "INSUFFICIENT_ROLE",
        message="Your role in this organization does not allow this action.",
    )
    world.organization.refresh_from_db()
    assert world.organization.name != "Member rename"


def test_scope_is_checked_before_role(api_client, world, api_key_factory):
    # A member's key lacking the scope is told which scope is missing, not about its role.
    _key, raw = api_key_factory(user=world.member, scopes=["projects:read"])

    response = api_client.patch(
        org_url(world), {"name": "Member rename"}, format="json", headers=key_header(raw)
    )

    body = assert_error(
        response,
        403,
        "INSUFFICIENT_SCOPE",
        message="Insufficient API key scopes. Missing: organizations:write",
    )
    assert body["required_scopes"] == ["organizations:write"]


def test_admins_key_with_organizations_write_renames_the_organization(
    api_client, world, api_key_factory
):
    _key, raw = api_key_factory(user=world.admin, scopes=["organizations:write"])

    response = api_client.patch(
        org_url(world), {"name": "Admin rename"}, format="json", headers=key_header(raw)
    )

    assert response.status_code == 200
    assert response.json()["data"]["name"] == "Admin rename"
    assert response.json()["data"]["role"] == "admin"
    world.organization.refresh_from_db()
    assert world.organization.name == "Admin rename"


def test_demoted_admins_key_loses_the_role_on_the_next_request(api_client, world, api_key_factory):
    _key, raw = api_key_factory(user=world.admin, scopes=["organizations:write"])
    first = api_client.patch(
        org_url(world), {"name": "Before"}, format="json", headers=key_header(raw)
    )
    Membership.objects.filter(user=world.admin, organization=world.organization).update(
        role=Role.MEMBER
    )

    second = api_client.patch(
        org_url(world), {"name": "After"}, format="json", headers=key_header(raw)
    )

    assert first.status_code == 200
    assert first.json()["data"]["name"] == "Before"
    assert_error(second, 403, "INSUFFICIENT_ROLE")
    world.organization.refresh_from_db()
    assert world.organization.name == "Before"


@pytest.mark.parametrize("pinned", [False, True])
def test_removed_members_key_is_refused_on_the_very_next_request(
    api_client, world, api_key_factory, pinned
):
    _key, raw = api_key_factory(
        user=world.member,
        scopes=["projects:read"],
        organization=world.organization if pinned else None,
    )
    url = f"{org_url(world)}/projects"
    before = api_client.get(url, headers=key_header(raw))
    Membership.objects.filter(user=world.member, organization=world.organization).delete()

    after = api_client.get(url, headers=key_header(raw))

    assert before.status_code == 200
    assert [p["id"] for p in before.json()["data"]] == [world.project.pk]
    assert_error(
        after,
        403,
        "NOT_ORGANIZATION_MEMBER",
        message="This credential does not belong to the requested organization.",
    )


@pytest.mark.parametrize("path", ["/api/user/me", "/api/auth/status"])
def test_deactivated_users_key_is_401(api_client, world, api_key_factory, path):
    _key, raw = api_key_factory(user=world.owner, scopes=["*"])
    assert api_client.get(path, headers=key_header(raw)).status_code == 200
    User.objects.filter(pk=world.owner.pk).update(is_active=False)

    response = api_client.get(path, headers=key_header(raw))

    assert_key_rejected(
        response,
        "KEY_INVALID",
        "The API key is malformed, unknown, or its owner is deactivated.",
    )


# --- Wildcards through the HTTP layer --------------------------------------------------------


def route_named(route_id: str) -> Route:
    return next(route for route in ROUTES if route.id == route_id)


# (granted scopes, route, the scope it is missing or None when it succeeds)
WILDCARD_TABLE = [
    (["projects:*"], "GET " + ORG + "/projects", None),
    (["projects:*"], "POST " + ORG + "/projects", None),
    (["projects:*"], "DELETE " + PROJECT, None),
    (["projects:*"], "GET " + ORG, "organizations:read"),
    (["projects:*"], "GET /api/auth/api-key/list", "api-keys:read"),
    (["*"], "PATCH " + ORG, None),
    (["*"], "POST /api/auth/api-key/create", None),
    (["*"], "POST /api/auth/api-key/revoke", None),
    (["*"], "POST /api/auth/api-key/{key}/roll", None),
    (["admin"], "PATCH /api/auth/api-key/{key}", None),
    (["admin"], "PATCH " + ORG, None),
    (["admin"], "POST /api/auth/api-key/create", None),
    (["admin"], "GET " + ORG + "/members", None),
    (["read:all"], "GET " + ORG + "/projects", None),
    (["read:all"], "GET /api/user/me", None),
    (["read:all"], "GET /api/auth/api-key/list", None),
    (["read:all"], "POST " + ORG + "/projects", "projects:write"),
    (["read:all"], "PATCH " + ORG, "organizations:write"),
    (["read:all"], "POST /api/auth/api-key/create", "api-keys:write"),
    (["write:all"], "POST " + ORG + "/projects", None),
    (["write:all"], "PATCH " + PROJECT, None),
    (["write:all"], "PATCH " + ORG, None),
    (["write:all"], "POST /api/auth/api-key/create", "api-keys:write"),
    (["write:all"], "POST /api/auth/api-key/revoke", "api-keys:write"),
    (["write:all"], "POST /api/auth/api-key/{key}/roll", "api-keys:write"),
    (["read:all"], "PATCH /api/auth/api-key/{key}", "api-keys:write"),
    (["write:all"], "GET " + ORG + "/projects", "projects:read"),
]


@pytest.mark.parametrize(
    ("scopes", "route_id", "missing"),
    [
        pytest.param(scopes, route_id, missing, id=f"{scopes[0]}-{route_id}")
        for scopes, route_id, missing in WILDCARD_TABLE
    ],
)
def test_wildcard_scopes_through_the_api(
    api_client, world, api_key_factory, scopes, route_id, missing
):
    route = route_named(route_id)
    _key, raw = api_key_factory(user=world.owner, scopes=scopes)

    response = call(api_client, route, world, headers=key_header(raw))

    if missing is None:
        assert_success(response, route, world)
    else:
        body = assert_error(
            response,
            403,
            "INSUFFICIENT_SCOPE",
            message=f"Insufficient API key scopes. Missing: {missing}",
        )
        assert body["required_scopes"] == [missing]
        assert_nothing_changed(route, world)


# --- Query budget on the hot path ------------------------------------------------------------


def test_key_authenticated_me_costs_at_most_two_queries(
    api_client, world, api_key_factory, django_assert_max_num_queries
):
    _key, raw = api_key_factory(
        user=world.owner, scopes=["user:read"], last_used_at=timezone.now()
    )

    # 1. SELECT the key by its lookup id, JOIN its user (one indexed query).
    # 2. SELECT COUNT(*) of the user's memberships, for organizationCount.
    # lastUsedAt was recorded under a minute ago, so no UPDATE.
    with django_assert_max_num_queries(2) as captured:
        response = api_client.get("/api/user/me", headers=key_header(raw))

    assert response.status_code == 200
    assert response.json()["data"]["id"] == world.owner.pk
    assert not [q for q in captured.captured_queries if q["sql"].startswith("UPDATE")]


def test_first_use_records_last_used_and_a_second_call_within_a_minute_writes_nothing(
    api_client, world, api_key_factory, django_assert_max_num_queries
):
    key, raw = api_key_factory(user=world.owner, scopes=["user:read"])
    assert key.last_used_at is None

    # First use: the two queries above plus one conditional UPDATE of lastUsedAt.
    with django_assert_max_num_queries(3) as first_queries:
        first = api_client.get("/api/user/me", headers=key_header(raw))
    key.refresh_from_db()
    recorded = key.last_used_at

    with django_assert_max_num_queries(2) as second_queries:
        second = api_client.get("/api/user/me", headers=key_header(raw))
    key.refresh_from_db()

    assert first.status_code == 200
    assert first.json()["data"]["id"] == world.owner.pk
    assert second.status_code == 200
    assert second.json()["data"]["id"] == world.owner.pk
    assert [q for q in first_queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert recorded is not None
    assert not [q for q in second_queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert key.last_used_at == recorded


def test_last_used_is_recorded_again_after_a_minute(api_client, world, api_key_factory):
    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    key, raw = api_key_factory(
        user=world.owner, scopes=["user:read"], last_used_at=two_minutes_ago
    )

    response = api_client.get("/api/user/me", headers=key_header(raw))

    assert response.status_code == 200
    assert response.json()["data"]["id"] == world.owner.pk
    key.refresh_from_db()
    assert key.last_used_at > two_minutes_ago + timedelta(minutes=1)
