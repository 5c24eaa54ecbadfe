"""/mcp under load and odd input: a tool call spends the rate-limit budgets its API route
would; notifications and initialize run nothing without a token; no body is a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from ratelimits.counters import Rate
from tenants.models import Project
from tests.mcpserver.conftest import error_of, post, request, tool_call

pytestmark = pytest.mark.django_db

ALL = ["user:read", "projects:read", "projects:write", "api-keys:read"]


def plans(settings: Any, *, key: str, organization: str) -> None:
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "KEY": Rate.parse("1000/min"),
        "PLANS": {
            "free": {"key": Rate.parse(key), "organization": Rate.parse(organization)},
        },
    }


def mcp_create(raw: str, organization_id: str, name: str) -> Any:
    arguments = {"organizationId": organization_id, "name": name}
    return post(tool_call("create_project", arguments), raw)


def refused_by_rate_limit(response: Any) -> bool:
    if response.status_code == 429:
        return True
    error = response.json().get("error") or {}
    return (error.get("data") or {}).get("code") == "RATE_LIMITED"


# --- 1. Rate limits: a tenant tool does not spend the organization's plan budgets ------------


def test_the_api_route_spends_the_organization_budget(team, token, settings, one_ratelimit_window):
    """Control (passes): on the API, two unpinned tokens share the organization's budget."""
    plans(settings, key="100/min", organization="2/min")
    org = team["organization"].pk
    raws = [
        token(team["owner"], ALL, resources=[django_settings.OAUTH_API_RESOURCE]) for _ in "ab"
    ]
    url = f"/api/user/organizations/{org}/projects"

    answers = [
        Client().post(
            url,
            {"name": f"p{i}"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {raws[i % 2]}"},
        )
        for i in range(3)
    ]

    assert [a.status_code for a in answers] == [201, 201, 429]


def test_mcp_tenant_tool_spends_the_organization_budget_as_its_route_does(
    team, token, settings, one_ratelimit_window
):
    """An unpinned token's create_project spends the organization's budget, as POST
    …/projects does: no number of tokens writes to a tenant beyond its plan."""
    plans(settings, key="100/min", organization="2/min")
    org = team["organization"].pk
    raws = [token(team["owner"], ALL) for _ in "ab"]

    answers = [mcp_create(raws[i % 2], org, f"p{i}") for i in range(3)]

    assert refused_by_rate_limit(answers[2])
    assert Project.objects.filter(organization_id=org).count() == 2


def test_mcp_tenant_tool_spends_the_plan_s_per_key_budget(
    team, token, settings, one_ratelimit_window
):
    """And the plan's per-key budget (free: 600/min by default, below RATELIMIT_KEY's)."""
    plans(settings, key="2/min", organization="100/min")
    org = team["organization"].pk
    raw = token(team["owner"], ALL)

    answers = [mcp_create(raw, org, f"p{i}") for i in range(3)]

    assert refused_by_rate_limit(answers[2])


# --- 2. A 500 from an argument's name -----------------------------------------------------------


def test_an_unknown_argument_named_with_a_lone_surrogate_is_32602_not_500(team, token):
    """An unknown argument's name is echoed in data.details, written so that JSON can carry
    it even when it is a lone surrogate."""
    raw = token(team["owner"], ["user:read"])
    body = (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        '"params":{"name":"whoami","arguments":{"\\ud800":1}}}'
    )

    response = post(body, raw)

    assert response.status_code == 200, response.content
    error_of(response, -32602)


# --- 3. organizationId passes the schema with a trailing newline --------------------------------


def test_an_organization_id_with_a_trailing_newline_is_invalid_params(team, token):
    """A pattern's `$` matches before a final newline; the id's length rules it out."""
    raw = token(team["owner"], ALL)
    arguments = {"organizationId": team["organization"].pk + "\n"}

    response = post(tool_call("list_projects", arguments), raw)

    error_of(response, -32602)


# --- Nothing runs without a token; no body is a 500 ----------------------------------------


def test_a_notification_never_runs_a_tool(team, token):
    raw = token(team["owner"], ALL)
    org = team["organization"].pk
    message = {
        "jsonrpc": "2.0",
        "method": "tools/call",
        "params": {"name": "create_project", "arguments": {"organizationId": org, "name": "n"}},
    }

    assert post(message, raw).status_code == 202
    assert not Project.objects.exists()


def test_initialize_needs_the_token(team):
    response = post(
        request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "a", "version": "1"},
            },
        )
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        '{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}',
        '{"jsonrpc":"2.0","id":' + "9" * 4000 + ',"method":"ping"}',
        '{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
        '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":' + "[" * 5000 + "]" * 5000 + "}}",
        b'{"jsonrpc":"2.0","id":1,"method":"ping","x":"\xff"}',
    ],
    ids=["surrogate-id", "huge-id", "inf-id", "deep", "not-utf8"],
)
def test_odd_bodies_are_never_500(team, token, body):
    raw = token(team["owner"], ["user:read"])
    assert post(body, raw).status_code in (200, 400)
