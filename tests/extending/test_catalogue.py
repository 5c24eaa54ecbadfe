"""The notes app's scopes join Latchkey's catalogue: GET /api/scopes, list_scopes, the
dashboard's key form, and the check that a new key's scopes are known."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

LATCHKEYS_OWN = [
    "user:read",
    "user:write",
    "organizations:read",
    "organizations:write",
    "members:read",
    "members:write",
    "projects:read",
    "projects:write",
    "api-keys:read",
    "api-keys:write",
    "subscription:read",
    "audit:read",
]
RESOURCE_WILDCARDS = [
    "api-keys:*",
    "audit:*",
    "members:*",
    "notes:*",
    "organizations:*",
    "projects:*",
    "subscription:*",
    "user:*",
]
WILDCARDS = ["*", "admin", "read:all", "write:all"]


def test_get_scopes_lists_the_apps_scopes_after_latchkeys_own(api_client):
    response = api_client.get("/api/scopes")

    assert response.status_code == 200
    entries = response.json()["data"]
    assert [entry["scope"] for entry in entries] == [
        *LATCHKEYS_OWN,
        "notes:read",
        "notes:write",
        *RESOURCE_WILDCARDS,
        *WILDCARDS,
    ]
    by_scope = {entry["scope"]: entry for entry in entries}
    assert by_scope["notes:read"] == {
        "scope": "notes:read",
        "resource": "notes",
        "description": "List and read the organization's notes.",
    }
    assert by_scope["notes:write"]["description"] == "Create, edit and delete notes."
    assert by_scope["notes:*"] == {
        "scope": "notes:*",
        "resource": "notes",
        "description": "Every notes scope.",
    }


def test_list_scopes_prints_the_apps_scopes():
    out = StringIO()
    call_command("list_scopes", stdout=out)

    lines = out.getvalue().splitlines()
    assert any(
        re.fullmatch(r"notes:read +List and read the organization's notes\.", line)
        for line in lines
    )
    assert any(re.fullmatch(r"notes:\* +Every notes scope\.", line) for line in lines)


def test_the_key_form_offers_the_apps_scopes_in_a_group_of_their_own(client_for, user_factory):
    response = client_for(user_factory()).get("/settings/api-keys/new")

    assert response.status_code == 200
    body = response.content.decode()
    groups = dict(
        re.findall(
            r'<fieldset class="scope-group">\s*<legend>([^<]+)</legend>(.*?)</fieldset>',
            body,
            re.DOTALL,
        )
    )
    assert list(groups) == [
        "User",
        "Organizations",
        "Members",
        "Projects",
        "Api keys",
        "Subscription",
        "Audit",
        "Notes",
        "Every resource",
    ]
    assert re.findall(r'name="scopes" value="([^"]+)"', groups["Notes"]) == [
        "notes:read",
        "notes:write",
        "notes:*",
    ]
    assert "List and read the organization&#x27;s notes." in groups["Notes"]
    full_access = re.search(r'value="full-access" data-scopes="([^"]+)"', body)
    read_only = re.search(r'value="read-only" data-scopes="([^"]+)"', body)
    assert {"notes:read", "notes:write"} <= set(full_access.group(1).split())
    assert "notes:read" in read_only.group(1).split()
    assert "notes:write" not in read_only.group(1).split()


@pytest.mark.parametrize("scopes", [["notes:read"], ["notes:*"], ["notes:write", "read:all"]])
def test_a_key_may_hold_the_apps_scopes(client_for, user_factory, scopes):
    response = client_for(user_factory()).post(
        "/api/auth/api-key/create", {"name": "Notes sync", "scopes": scopes}
    )

    assert response.status_code == 200
    assert response.json()["data"]["scopes"] == scopes


@pytest.mark.parametrize("scope", ["notes:delete", "note:read", "notes:READ"])
def test_a_scope_the_app_did_not_register_is_refused(client_for, user_factory, scope):
    response = client_for(user_factory()).post(
        "/api/auth/api-key/create", {"name": "Notes sync", "scopes": [scope]}
    )

    assert_error(response, 400, "VALIDATION_ERROR", field="scopes")


def test_the_schema_lists_the_new_operations_with_their_scopes(client):
    schema = client.get("/api/schema").json()

    notes = schema["paths"]["/api/user/organizations/{organizationId}/notes"]
    assert notes["get"]["x-required-scopes"] == ["notes:read"]
    assert notes["post"]["x-required-scopes"] == ["notes:write"]
    detail = schema["paths"]["/api/user/organizations/{organizationId}/notes/{noteId}"]
    assert detail["delete"]["operationId"] == "deleteNote"
    scopes = schema["components"]["schemas"]["ApiKeyCreateRequest"]["properties"]["scopes"]
    assert "notes:write" in scopes["items"]["enum"]
