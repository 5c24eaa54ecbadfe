"""The transport at /mcp (Streamable HTTP, stateless, JSON answers) and JSON-RPC around the
tools: what a client sees for every kind of message, well formed or not. Never a 500."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from django.test import Client
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from mcp.types import LATEST_PROTOCOL_VERSION

from audit.models import AuditEvent
from tests.mcpserver.conftest import INITIALIZE, error_of, post, request, result_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw(team, token) -> str:
    return token(team["owner"], ["user:read"])


# --- Before the credential is read -------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "delete", "put", "patch", "head", "options"])
@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "anonymous"])
def test_only_post_is_served(raw, method, authenticated):
    # GET would open an SSE stream and DELETE end a session: neither is offered.
    headers = {"Authorization": f"Bearer {raw}"} if authenticated else {}

    response = getattr(Client(), method)("/mcp", headers=headers)

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "WWW-Authenticate" not in response
    if method != "head":
        error = error_of(response, -32600, status=405, id=None)
        assert error["data"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "{}"),
        ("application/x-www-form-urlencoded", "a=1"),
        ("multipart/form-data; boundary=x", "--x--"),
        ("", "{}"),
    ],
)
def test_a_body_that_is_not_json_is_415(raw, content_type, body):
    response = post(body, raw, content_type=content_type)

    error = error_of(response, -32600, status=415, id=None)
    assert error["data"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_client_that_accepts_no_json_is_406(raw):
    response = post(request("ping"), raw, headers={"Accept": "text/event-stream"})

    error = error_of(response, -32600, status=406, id=None)
    assert error["data"]["code"] == "NOT_ACCEPTABLE"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_json_alone_or_anything_is_acceptable(raw, accept):
    assert result_of(post(request("ping"), raw, headers={"Accept": accept})) == {}


def test_a_body_over_the_limit_is_413_before_it_is_read(raw, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = post(request("ping", {"padding": "x" * 2000}), raw)

    error = error_of(response, -32600, status=413, id=None)
    assert error["data"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:8000", True),  # PUBLIC_URL's own origin
        ("HTTP://LOCALHOST:8000", True),
        ("https://console.example", True),  # in TRUSTED_ORIGINS
        ("https://evil.example", False),
        ("http://localhost:8001", False),
        ("http://127.0.0.1:8000", False),
        ("null", False),
    ],
)
def test_a_foreign_origin_is_refused_as_dns_rebinding(raw, settings, origin, allowed):
    settings.TRUSTED_ORIGINS = ["https://console.example"]

    response = post(request("ping"), raw, headers={"Origin": origin})

    if allowed:
        assert result_of(response) == {}
        assert not AuditEvent.objects.filter(action="access.cross_origin_refused").exists()
    else:
        error = error_of(response, -32600, status=403, id=None)
        assert error["data"]["code"] == "CROSS_ORIGIN_REQUEST"
        event = AuditEvent.objects.get(action="access.cross_origin_refused")
        assert event.detail["origin"] == origin


def test_a_foreign_origin_is_refused_before_the_token_is_read(token, team):
    response = post(request("ping"), "not-a-token", headers={"Origin": "https://evil.example"})

    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


def test_plain_http_is_refused_where_https_is_enforced(raw, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^api(?:/|$)", r"^mcp$"]

    refused = post(request("ping"), raw)
    served = post(request("ping"), raw, secure=True)

    error = error_of(refused, -32600, status=403, id=None)
    assert error["data"]["code"] == "HTTPS_REQUIRED"
    assert result_of(served) == {}


# --- The message --------------------------------------------------------------------------------

MALFORMED = [
    # (body, JSON-RPC code, the API's code, id answered)
    (b"{", -32700, "MALFORMED_JSON", None),
    (b"\xff\xfe", -32700, "MALFORMED_JSON", None),
    (b" ", -32700, "MALFORMED_JSON", None),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "x": NaN}', -32700, "MALFORMED_JSON", None),
    (b"[" * 100_000, -32700, "MALFORMED_JSON", None),
    ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], -32600, "BAD_REQUEST", None),
    ([], -32600, "BAD_REQUEST", None),
    ("ping", -32600, "BAD_REQUEST", None),
    (42, -32600, "BAD_REQUEST", None),
    (None, -32600, "BAD_REQUEST", None),
    ({}, -32600, "BAD_REQUEST", None),
    ({"jsonrpc": "2.0", "id": None, "method": "ping"}, -32600, "BAD_REQUEST", None),
    ({"jsonrpc": "2.0", "id": True, "method": "ping"}, -32600, "BAD_REQUEST", None),
    ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, -32600, "BAD_REQUEST", None),
    ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, -32600, "BAD_REQUEST", None),
    ({"id": 7, "method": "ping"}, -32600, "BAD_REQUEST", 7),
    ({"jsonrpc": "1.0", "id": 7, "method": "ping"}, -32600, "BAD_REQUEST", 7),
    ({"jsonrpc": "2.0", "id": "a", "method": 5}, -32600, "BAD_REQUEST", "a"),
    ({"jsonrpc": "2.0", "id": 7, "method": "ping", "params": [1]}, -32600, "BAD_REQUEST", 7),
    ({"jsonrpc": "2.0", "id": 7}, -32600, "BAD_REQUEST", 7),
]


@pytest.mark.parametrize(("body", "code", "api_code", "id"), MALFORMED)
def test_a_body_that_is_not_one_json_rpc_message_is_400(raw, body, code, api_code, id):
    sent = body if isinstance(body, bytes) else json.dumps(body)

    response = post(sent, raw)

    error = error_of(response, code, status=400, id=id)
    assert error["data"]["code"] == api_code


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {"jsonrpc": "2.0", "method": "notifications/anything-else"},
        {"jsonrpc": "2.0", "id": 3, "result": {}},
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -1, "message": "no"}},
    ],
    ids=["initialized", "cancelled", "unknown", "response", "error"],
)
def test_a_notification_or_a_response_is_accepted_with_no_body(raw, message):
    response = post(message, raw)

    assert response.status_code == 202
    assert response.content == b""


def test_a_notification_still_needs_a_token():
    response = post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        *[(version, version) for version in SUPPORTED_PROTOCOL_VERSIONS],
        ("2099-01-01", LATEST_PROTOCOL_VERSION),
        ("1.0", LATEST_PROTOCOL_VERSION),
    ],
)
def test_initialize_agrees_on_a_version_and_offers_tools(raw, asked, answered):
    response = post(request("initialize", {**INITIALIZE, "protocolVersion": asked}), raw)

    result = result_of(response)
    assert result["protocolVersion"] == answered
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "latchkey"
    assert result["serverInfo"]["version"]
    assert "whoami" in result["instructions"]
    assert "Mcp-Session-Id" not in response  # stateless: no session to keep


def test_initialize_is_answered_whatever_version_the_header_names(raw):
    # A client may name its own latest version before the two have agreed on one.
    response = post(
        request("initialize", INITIALIZE), raw, headers={"MCP-Protocol-Version": "2099-01-01"}
    )

    assert result_of(response)["protocolVersion"] == "2025-11-25"


@pytest.mark.parametrize("version", ["2099-01-01", "", "latest"])
def test_an_unsupported_protocol_version_is_400(raw, version):
    response = post(request("ping", id="p"), raw, headers={"MCP-Protocol-Version": version})

    error = error_of(response, -32600, status=400, id="p")
    assert error["data"]["code"] == "BAD_REQUEST"
    assert "2025-11-25" in error["message"]


def test_no_protocol_version_header_is_the_default_one(raw):
    assert result_of(post(request("ping"), raw, headers={"MCP-Protocol-Version": None})) == {}


@pytest.mark.parametrize(
    "method",
    ["resources/list", "prompts/list", "logging/setLevel", "completion/complete", "tools", ""],
)
def test_a_method_not_served_is_32601(raw, method):
    error = error_of(post(request(method, id=9), raw), -32601, id=9)

    assert error["message"] == "Method not found."


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("initialize", None, "params"),
        ("initialize", {"protocolVersion": "2025-11-25"}, "params.capabilities"),
        ("tools/call", None, "params"),
        ("tools/call", {}, "params.name"),
        ("tools/call", {"name": 5}, "params.name"),
        ("tools/call", {"name": "whoami", "arguments": [1]}, "params.arguments"),
        ("tools/call", {"name": "whoami", "arguments": "{}"}, "params.arguments"),
        ("tools/list", {"cursor": 5}, "params.cursor"),
    ],
)
def test_params_that_do_not_fit_the_method_are_32602(raw, method, params, field):
    error = error_of(post(request(method, params), raw), -32602)

    assert error["data"]["code"] == "VALIDATION_ERROR"
    assert field in error["data"]["details"], error["data"]["details"]


def test_ping_answers_an_empty_result(raw):
    assert result_of(post(request("ping", id="x"), raw), id="x") == {}


def test_a_bug_answers_a_json_rpc_error_not_a_500(raw, monkeypatch):
    from mcpserver import tools

    def broken(*args: Any) -> dict:
        raise RuntimeError("a bug")

    monkeypatch.setitem(tools.TOOLS, "whoami", replace(tools.TOOLS["whoami"], run=broken))

    error = error_of(post(request("tools/call", {"name": "whoami"}), raw), -32603)

    assert error["data"]["code"] == "INTERNAL_ERROR"
    assert "a bug" not in json.dumps(error)


def test_every_answer_is_kept_out_of_caches_and_counts_against_the_token(raw):
    response = post(request("ping"), raw)

    assert response["Cache-Control"] == "no-store"
    assert response["RateLimit-Policy"].startswith('"oauth";')
    assert response["X-RateLimit-Remaining"].isdigit()


def test_a_lone_surrogate_is_escaped_or_refused_never_a_500(raw, team, token):
    writer = token(team["owner"], ["projects:write"])
    organization = team["organization"].pk
    echoed = '{"jsonrpc": "2.0", "id": "\\ud800", "method": "ping"}'
    named = (
        '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "create_project",'
        f' "arguments": {{"organizationId": "{organization}", "name": "a\\ud800"}}}}}}'
    )

    pong = post(echoed, raw)
    refused = post(named, writer)

    assert pong.status_code == 200
    assert b'"id":"\\ud800"' in pong.content
    error = error_of(refused, -32602)
    assert "name" in error["data"]["details"]
