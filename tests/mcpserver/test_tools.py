"""The tools: each does what its API route does, for whom that route would do it. The same
scope, pin, membership and role decide; the same data comes back; the same refusal, as a
JSON-RPC error carrying the API's error body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from jsonschema import Draft202012Validator
from mcp.types import Tool

from apikeys.models import ApiKey
from audit.models import AuditEvent
from mcpserver.tools import TOOLS
from tenants.models import Project
from tests.mcpserver.conftest import error_of, post, request, result_of, tool_call

pytestmark = pytest.mark.django_db

REFUSED = -32003
INVALID_PARAMS = -32602
EVERY_GRANTABLE = ["user:read", "projects:read", "projects:write", "api-keys:read"]


def call(raw: str, name: str, arguments: dict[str, Any] | None = None) -> Any:
    return post(tool_call(name, arguments), raw)


def structured(response: Any, name: str) -> dict[str, Any]:
    """A tool's success as a client reads it: structured content that fits the tool's output
    schema, and the same as indented JSON text (as the SDK's own servers answer)."""
    result = result_of(response)
    assert result["isError"] is False
    data = result["structuredContent"]
    Draft202012Validator(TOOLS[name].output_schema).validate(data)
    assert result["content"] == [{"type": "text", "text": json.dumps(data, indent=2)}]
    return data


# --- tools/list ---------------------------------------------------------------------------------


def test_tools_list_describes_every_tool_whatever_the_token_may_do(team, token):
    raw = token(team["owner"], ["user:read"])

    tools = result_of(post(request("tools/list"), raw))["tools"]

    assert [tool["name"] for tool in tools] == [
        "whoami",
        "list_organizations",
        "list_projects",
        "create_project",
        "list_api_keys",
        "revoke_api_key",
    ]
    for tool in tools:
        Tool.model_validate(tool)
        Draft202012Validator.check_schema(tool["inputSchema"])
        Draft202012Validator.check_schema(tool["outputSchema"])
        assert tool["inputSchema"]["type"] == tool["outputSchema"]["type"] == "object"
        assert tool["inputSchema"]["additionalProperties"] is False
        assert tool["annotations"]["openWorldHint"] is False
        scope = TOOLS[tool["name"]].scope
        assert not scope or scope in tool["description"]


@pytest.mark.parametrize(
    ("name", "read_only", "destructive"),
    [
        ("whoami", True, None),
        ("list_organizations", True, None),
        ("list_projects", True, None),
        ("list_api_keys", True, None),
        ("create_project", False, False),
        ("revoke_api_key", False, True),
    ],
)
def test_tools_say_whether_they_change_anything(team, token, name, read_only, destructive):
    raw = token(team["owner"], ["user:read"])

    tools = {t["name"]: t for t in result_of(post(request("tools/list"), raw))["tools"]}

    annotations = tools[name]["annotations"]
    assert annotations["readOnlyHint"] is read_only
    assert annotations.get("destructiveHint") is destructive


# --- Each tool, within its grant --------------------------------------------------------------


def test_whoami_says_who_and_what_the_authorization_is(team, token, application):
    organization = team["organization"]
    raw = token(team["member"], ["user:read", "projects:read"], organization)

    data = structured(call(raw, "whoami"), "whoami")

    assert (data["authenticated"], data["authMethod"], data["apiKey"]) == (True, "oauth", None)
    assert data["user"]["id"] == team["member"].pk
    assert data["oauthToken"]["clientId"] == application.client_id
    assert data["oauthToken"]["scopes"] == ["user:read", "projects:read"]
    assert data["oauthToken"]["organizationId"] == organization.pk


def test_whoami_needs_no_scope_and_shows_the_profile_only_with_user_read(team, token):
    raw = token(team["owner"], ["projects:read"])

    data = structured(call(raw, "whoami"), "whoami")

    assert "user" not in data
    assert data["oauthToken"]["scopes"] == ["projects:read"]


def test_list_organizations_lists_the_person_s_with_their_role(team, token, org_factory):
    owner = team["owner"]
    other = org_factory(owner=owner, name="Second")
    raw = token(owner, ["user:read"])

    data = structured(call(raw, "list_organizations"), "list_organizations")

    rows = [(o["id"], o["role"]) for o in data["organizations"]]
    assert rows == [(team["organization"].pk, "owner"), (other.pk, "owner")]
    assert data["pagination"]["totalItems"] == 2


def test_a_pinned_authorization_lists_its_one_organization(team, token, org_factory):
    owner = team["owner"]
    org_factory(owner=owner)
    raw = token(owner, ["user:read"], team["organization"])

    data = structured(call(raw, "list_organizations"), "list_organizations")

    assert [o["id"] for o in data["organizations"]] == [team["organization"].pk]


def test_lists_are_paged_as_the_api_s(team, token, project_factory):
    organization = team["organization"]
    made = [project_factory(organization, name=f"P{n}") for n in range(3)]
    raw = token(team["member"], ["projects:read"])

    arguments = {"organizationId": organization.pk, "page": 2, "pageSize": 2}
    data = structured(call(raw, "list_projects", arguments), "list_projects")

    assert [p["name"] for p in data["projects"]] == [made[0].name]  # newest first
    assert data["pagination"] == {
        "page": 2,
        "pageSize": 2,
        "totalItems": 3,
        "totalPages": 2,
        "hasNext": False,
        "hasPrevious": True,
    }


@pytest.mark.parametrize("who", ["owner", "admin", "member"])
def test_every_member_lists_and_creates_projects(team, token, project_factory, who):
    organization = team["organization"]
    existing = project_factory(organization, name="Existing")
    raw = token(team[who], ["projects:read", "projects:write"], organization)

    listed = structured(
        call(raw, "list_projects", {"organizationId": organization.pk.lower()}), "list_projects"
    )
    arguments = {"organizationId": organization.pk, "name": "Orrery", "description": "Brass"}
    created = structured(call(raw, "create_project", arguments), "create_project")["project"]

    assert [p["id"] for p in listed["projects"]] == [existing.pk]
    project = Project.objects.get(pk=created["id"])
    assert (project.organization_id, project.name, project.description) == (
        organization.pk,
        "Orrery",
        "Brass",
    )
    assert project.created_by == team[who]
    assert created["createdBy"] == team[who].pk


def test_list_api_keys_lists_the_person_s_keys_within_the_pin(team, token, api_key_factory):
    owner, organization = team["owner"], team["organization"]
    everywhere, _ = api_key_factory(user=owner, scopes=["user:read"])
    pinned, _ = api_key_factory(user=owner, scopes=["user:read"], organization=organization)
    api_key_factory(scopes=["user:read"])  # someone else's

    unpinned = structured(call(token(owner, ["api-keys:read"]), "list_api_keys"), "list_api_keys")
    within = structured(
        call(token(owner, ["api-keys:read"], organization), "list_api_keys"), "list_api_keys"
    )

    assert {k["id"] for k in unpinned["apiKeys"]} == {everywhere.pk, pinned.pk}
    assert [k["id"] for k in within["apiKeys"]] == [pinned.pk]
    assert "key" not in unpinned["apiKeys"][0]  # never a secret


# --- The same data as the route ----------------------------------------------------------------

CONTRACT = [
    # (tool, arguments, API path; {org} is the organization's id)
    ("whoami", {}, "/api/auth/status"),
    ("list_organizations", {}, "/api/user/organizations"),
    ("list_projects", {"organizationId": "{org}"}, "/api/user/organizations/{org}/projects"),
    ("list_api_keys", {"pageSize": 1}, "/api/auth/api-key/list?pageSize=1"),
]


@pytest.mark.parametrize(("name", "arguments", "path"), CONTRACT)
@pytest.mark.parametrize("pinned", [False, True], ids=["every-organization", "pinned"])
def test_a_tool_answers_what_its_route_answers(
    team, token, project_factory, api_key_factory, name, arguments, path, pinned
):
    organization = team["organization"]
    project_factory(organization)
    api_key_factory(user=team["admin"], organization=organization)
    api_key_factory(user=team["admin"])
    raw = token(
        team["admin"],
        EVERY_GRANTABLE,
        organization if pinned else None,
        resources=[settings.OAUTH_API_RESOURCE, settings.OAUTH_MCP_RESOURCE],
    )
    filled = {k: str(v).format(org=organization.pk) for k, v in arguments.items()}
    filled = {k: int(v) if v.isdigit() else v for k, v in filled.items()}

    data = structured(call(raw, name, filled), name)
    api = (
        Client()
        .get(path.format(org=organization.pk), headers={"Authorization": f"Bearer {raw}"})
        .json()
    )

    if "pagination" in api:
        (items,) = (v for k, v in data.items() if k != "pagination")
        assert (items, data["pagination"]) == (api["data"], api["pagination"])
    else:
        assert data == api["data"]


def test_create_project_answers_the_project_as_the_api_shows_it(team, token):
    organization = team["organization"]
    raw = token(
        team["owner"],
        ["projects:read", "projects:write"],
        resources=[settings.OAUTH_API_RESOURCE, settings.OAUTH_MCP_RESOURCE],
    )

    created = structured(
        call(raw, "create_project", {"organizationId": organization.pk, "name": "Loom"}),
        "create_project",
    )["project"]
    shown = Client().get(
        f"/api/user/organizations/{organization.pk}/projects/{created['id']}",
        headers={"Authorization": f"Bearer {raw}"},
    )

    assert created == shown.json()["data"]


# --- Refusals: the route's, in the route's words -----------------------------------------------

NEEDS = [
    # (tool, the scope its route needs, arguments; {org} is the organization's id)
    ("list_organizations", "user:read", {}),
    ("list_projects", "projects:read", {"organizationId": "{org}"}),
    ("create_project", "projects:write", {"organizationId": "{org}", "name": "Not made"}),
    ("list_api_keys", "api-keys:read", {}),
    ("revoke_api_key", "api-keys:write", {"keyId": "{key}"}),
]


def fill(arguments: dict[str, str], **values: str) -> dict[str, str]:
    return {name: value.format(**values) for name, value in arguments.items()}


@pytest.mark.parametrize(("name", "scope", "arguments"), NEEDS)
def test_a_tool_without_its_scope_is_refused_naming_the_scope(
    team, token, api_key_factory, name, scope, arguments
):
    owner, organization = team["owner"], team["organization"]
    key, _ = api_key_factory(user=owner)
    others = [s for s in [*EVERY_GRANTABLE, "organizations:read"] if s != scope]
    raw = token(owner, others)

    response = call(raw, name, fill(arguments, org=organization.pk, key=key.pk))

    error = error_of(response, REFUSED)
    assert error["message"].endswith(f"Missing: {scope}")
    assert error["data"]["code"] == "INSUFFICIENT_SCOPE"
    assert error["data"]["status"] == 403
    assert error["data"]["required_scopes"] == [scope]
    event = AuditEvent.objects.get(action="access.scope_denied")
    assert event.detail["required"] == scope
    assert event.detail["path"] == "/mcp"
    assert not Project.objects.filter(name="Not made").exists()
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("list_projects", {"organizationId": "{org}"}),
        ("create_project", {"organizationId": "{org}", "name": "Not made"}),
    ],
)
@pytest.mark.parametrize(
    ("who", "pinned_to", "asked", "code"),
    [
        ("owner", "elsewhere", "organization", "ORGANIZATION_MISMATCH"),
        ("owner", "organization", "elsewhere", "ORGANIZATION_MISMATCH"),
        ("outsider", None, "organization", "NOT_ORGANIZATION_MEMBER"),
        ("owner", None, "nowhere", "NOT_ORGANIZATION_MEMBER"),
    ],
    ids=["pin-crossed", "pinned-elsewhere", "another-tenant", "no-such-organization"],
)
def test_the_gate_refuses_as_on_the_api(
    team, token, org_factory, member_factory, name, arguments, who, pinned_to, asked, code
):
    elsewhere = org_factory()
    member_factory(elsewhere, user=team["owner"])
    places = {
        "organization": team["organization"].pk,
        "elsewhere": elsewhere.pk,
        "nowhere": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        None: None,
    }
    pin = {"organization": team["organization"], "elsewhere": elsewhere}.get(pinned_to)
    raw = token(team[who], ["projects:read", "projects:write"], pin)

    response = call(raw, name, fill(arguments, org=places[asked]))

    error = error_of(response, REFUSED)
    assert error["data"]["code"] == code
    assert error["data"]["status"] == 403
    assert not Project.objects.filter(name="Not made").exists()


@pytest.mark.parametrize(
    ("scopes", "code"),
    [
        (EVERY_GRANTABLE, "INSUFFICIENT_SCOPE"),  # what an application can be granted
        (["api-keys:read", "api-keys:write"], "FORBIDDEN"),  # even so: OAuth manages no keys
    ],
)
def test_revoke_api_key_is_refused_to_a_token_as_its_route_refuses_it(
    team, token, api_key_factory, scopes, code
):
    owner = team["owner"]
    key, _ = api_key_factory(user=owner)
    raw = token(
        owner, scopes, resources=[settings.OAUTH_API_RESOURCE, settings.OAUTH_MCP_RESOURCE]
    )

    response = call(raw, "revoke_api_key", {"keyId": key.pk})
    api = Client().post(
        "/api/auth/api-key/revoke",
        {"keyId": key.pk},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )

    error = error_of(response, REFUSED)
    assert error["data"]["code"] == api.json()["code"] == code
    assert error["message"] == api.json()["message"]
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


# --- Arguments that do not fit -------------------------------------------------------------------

BAD_ARGUMENTS = [
    # (tool, arguments; {org} is an organization the caller may reach, argument named)
    ("whoami", {"verbose": True}, "verbose"),
    ("list_organizations", {"page": 0}, "page"),
    ("list_organizations", {"page": "1"}, "page"),
    ("list_organizations", {"pageSize": 101}, "pageSize"),
    ("list_projects", {}, "organizationId"),
    ("list_projects", {"organizationId": "<script>"}, "organizationId"),
    ("list_projects", {"organizationId": 42}, "organizationId"),
    ("list_projects", {"organizationId": "{org}", "pageSize": 0}, "pageSize"),
    ("list_projects", {"organizationId": "{org}", "page": 1.5}, "page"),
    ("create_project", {"organizationId": "{org}"}, "name"),
    ("create_project", {"organizationId": "{org}", "name": ""}, "name"),
    ("create_project", {"organizationId": "{org}", "name": "   "}, "name"),  # the serializer's
    ("create_project", {"organizationId": "{org}", "name": "<script>" * 13}, "name"),
    ("create_project", {"organizationId": "{org}", "name": ["x"]}, "name"),
    (
        "create_project",
        {"organizationId": "{org}", "name": "x", "description": "d" * 2001},
        "description",
    ),
    ("create_project", {"organizationId": "{org}", "name": "x", "owner": "me"}, "owner"),
    ("list_api_keys", {"pageSize": -1}, "pageSize"),
    ("revoke_api_key", {}, "keyId"),
    ("revoke_api_key", {"keyId": ""}, "keyId"),
    ("revoke_api_key", {"keyId": "<script>" * 6}, "keyId"),
]


@pytest.mark.parametrize(("name", "arguments", "field"), BAD_ARGUMENTS)
def test_arguments_that_do_not_fit_are_32602_naming_the_argument(
    team, token, name, arguments, field
):
    organization = team["organization"]
    raw = token(team["owner"], [*EVERY_GRANTABLE, "api-keys:write"])
    filled = {
        k: v.format(org=organization.pk) if isinstance(v, str) and "{org}" in v else v
        for k, v in arguments.items()
    }

    response = call(raw, name, filled)

    error = error_of(response, INVALID_PARAMS)
    assert error["data"]["code"] == "VALIDATION_ERROR"
    assert error["data"]["status"] == 400
    assert field in error["data"]["details"], error["data"]["details"]
    assert "<script>" not in response.content.decode()  # no value is echoed
    assert not Project.objects.exists()


def test_an_unknown_tool_is_32602(team, token):
    raw = token(team["owner"], EVERY_GRANTABLE)

    error = error_of(call(raw, "delete_everything"), INVALID_PARAMS)

    assert error["message"] == "Unknown tool."
    assert error["data"]["details"] == {"name": ["No tool has this name."]}


# --- Cost ------------------------------------------------------------------------------------


def test_listing_projects_costs_a_handful_of_queries(
    team, token, project_factory, django_assert_max_num_queries
):
    organization = team["organization"]
    for _ in range(5):
        project_factory(organization)
    raw = token(team["member"], ["projects:read"], organization)
    message = tool_call("list_projects", {"organizationId": organization.pk})
    result_of(post(message, raw))  # the signing keys, which every worker keeps, are read once

    # The token with its person and application; the pinned organization's plan (the rate
    # limit's budget); the tool's gate (the membership); the count; the page.
    with django_assert_max_num_queries(5):
        response = post(message, raw)

    assert len(structured(response, "list_projects")["projects"]) == 5
