"""Fixtures of the MCP endpoint's tests: an application people authorize, tokens it holds for
/mcp, and a client that speaks to /mcp as the SDK's does (JSON-RPC over POST)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from oauth.models import Application
from oauth.tokens import issue_access_token
from tenants.models import Organization

PROTOCOL_VERSION = "2025-11-25"
INITIALIZE = {
    "protocolVersion": PROTOCOL_VERSION,
    "capabilities": {},
    "clientInfo": {"name": "test-client", "version": "1.0"},
}


@pytest.fixture
def application(user_factory: Callable[..., User]) -> Application:
    return Application.objects.create(
        name="Engine Room Assistant",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1/callback",
        user=user_factory(),
    )


@pytest.fixture
def token(application: Application) -> Callable[..., str]:
    """token(user, scopes, organization=None, resources=[/mcp], expires_in=3600): the raw value
    of an access token the person granted the application, pinned to `organization`."""

    def make(
        user: User,
        scopes: list[str],
        organization: Organization | None = None,
        *,
        resources: list[str] | None = None,
        expires_in: int = 3600,
    ) -> str:
        return issue_access_token(
            user=user,
            application=application,
            scopes=scopes,
            organization=organization,
            resources=resources or [settings.OAUTH_MCP_RESOURCE],
            expires_in=expires_in,
        )

    return make


def request(method: str, params: dict[str, Any] | None = None, id: int | str = 1) -> dict:
    """A JSON-RPC request."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def tool_call(name: str, arguments: dict[str, Any] | None = None, id: int = 1) -> dict:
    params: dict[str, Any] = {"name": name}
    if arguments is not None:
        params["arguments"] = arguments
    return request("tools/call", params, id)


def post(
    body: Any,
    raw: str | None = None,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    """POST `body` (JSON-encoded unless bytes or str) to /mcp with `raw` as the Bearer token,
    and the headers the SDK's client sends."""
    sent = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
        **({"Authorization": f"Bearer {raw}"} if raw else {}),
        **(headers or {}),
    }
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return Client().post(
        "/mcp",
        data,
        content_type=content_type,
        headers={k: v for k, v in sent.items() if v is not None},
        **extra,
    )


def result_of(response: Any, id: int | str = 1) -> dict[str, Any]:
    """The `result` of a JSON-RPC success answered with 200 JSON."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"jsonrpc", "id", "result"}, body
    assert (body["jsonrpc"], body["id"]) == ("2.0", id)
    return body["result"]


def error_of(
    response: Any, code: int, *, status: int = 200, id: int | str | None = 1
) -> dict[str, Any]:
    """The `error` of a JSON-RPC error answered with `status`, with `code`, a message, and the
    API's error body as `data`."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"jsonrpc", "id", "error"}, body
    assert (body["jsonrpc"], body["id"]) == ("2.0", id)
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    data = error["data"]
    assert (data["success"], data["message"]) == (False, error["message"]), data
    return error
