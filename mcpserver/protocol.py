"""The MCP messages /mcp answers, over Streamable HTTP without sessions: one JSON-RPC message
per POST, read and answered with the SDK's own types (mcp.types).

Requests: initialize, ping, tools/list and tools/call; any other method is -32601. A
notification or a response needs no answer (202). Batches (JSON arrays) are refused: MCP
dropped them in 2025-06-18."""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Callable
from typing import Any

from mcp import types
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from rest_framework.request import Request

from api.envelope import error_body
from mcpserver import tools
from mcpserver.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    invalid_params,
)

logger = logging.getLogger(__name__)

SERVER_NAME = "latchkey"
SERVER_TITLE = "Latchkey"
INSTRUCTIONS = (
    "Latchkey keeps accounts, organizations, projects and API keys. These tools act for the "
    "person who authorized this client, within the scopes they granted and, when they chose "
    "one, within a single organization; never beyond their role there. Call whoami first to "
    "see which; an organization's id comes from list_organizations."
)

Message = (
    types.JSONRPCRequest | types.JSONRPCNotification | types.JSONRPCResponse | types.JSONRPCError
)
Answer = types.JSONRPCResponse | types.JSONRPCError


class Unreadable(Exception):
    """A body that is not one JSON-RPC message: answered with 400, `error` and the request's
    id when one could be read (else null, as JSON-RPC 2.0 says)."""

    def __init__(self, error: RpcError, request_id: str | int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_id(value: Any) -> bool:
    """A JSON-RPC request id as MCP allows it: a string or an integer (never null)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def parse(body: bytes) -> Message:
    """The one JSON-RPC message of a POST body; Unreadable for anything else."""
    try:
        raw = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise Unreadable(malformed(PARSE_ERROR, "Parse error: the body is not JSON.")) from exc
    if isinstance(raw, list):
        raise Unreadable(
            malformed(INVALID_REQUEST, "Batches are not supported: send one message per request.")
        )
    if not isinstance(raw, dict):
        raise Unreadable(malformed(INVALID_REQUEST, "Invalid request: not a JSON-RPC message."))
    request_id = raw.get("id")
    if "id" in raw and not is_id(request_id):
        raise Unreadable(
            malformed(INVALID_REQUEST, "Invalid request: the id must be a string or an integer.")
        )
    try:
        return types.JSONRPCMessage.model_validate(raw).root
    except ValidationError as exc:
        raise Unreadable(
            malformed(INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message."), request_id
        ) from exc


def malformed(code: int, message: str) -> RpcError:
    """A body refused before any method is looked at; `data` is the API's answer to a body it
    cannot read (MALFORMED_JSON, or BAD_REQUEST for JSON that is not a message)."""
    api_code = "MALFORMED_JSON" if code == PARSE_ERROR else "BAD_REQUEST"
    return RpcError(code, message, error_body(400, api_code, message))


def is_initialize(message: Message) -> bool:
    return isinstance(message, types.JSONRPCRequest) and message.method == "initialize"


# --- Requests ------------------------------------------------------------------------------


def initialize(params: types.InitializeRequestParams, request: Request) -> types.Result:
    # The client's version when we speak it, else our latest: the client then decides.
    asked = params.protocolVersion
    version = asked if asked in SUPPORTED_PROTOCOL_VERSIONS else types.LATEST_PROTOCOL_VERSION
    return types.InitializeResult(
        protocolVersion=version,
        capabilities=types.ServerCapabilities(tools=types.ToolsCapability(listChanged=False)),
        serverInfo=types.Implementation(
            name=SERVER_NAME, title=SERVER_TITLE, version=importlib.metadata.version("latchkey")
        ),
        instructions=INSTRUCTIONS,
    )


def ping(params: Any, request: Request) -> types.Result:
    return types.EmptyResult()


def list_tools(params: Any, request: Request) -> types.Result:
    # Every tool, whatever the token's scopes: a call says which scope it lacks.
    return types.ListToolsResult(tools=[tool.definition() for tool in tools.TOOLS.values()])


def call_tool(params: types.CallToolRequestParams, request: Request) -> types.Result:
    return tools.call(request, params.name, params.arguments or {})


METHODS: dict[str, tuple[type[BaseModel], Callable[[Any, Request], types.Result]]] = {
    "initialize": (types.InitializeRequest, initialize),
    "ping": (types.PingRequest, ping),
    "tools/list": (types.ListToolsRequest, list_tools),
    "tools/call": (types.CallToolRequest, call_tool),
}


def answer(message: types.JSONRPCRequest, request: Request) -> Answer:
    """The response to one request: its result, or its JSON-RPC error."""
    try:
        return types.JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result(message, request))
    except RpcError as error:
        return types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error.error_data())
    except Exception:
        # A bug of ours: the client gets a JSON-RPC error, the log the traceback.
        logger.exception("MCP request %s failed", message.method)
        text = "Internal error."
        error = RpcError(INTERNAL_ERROR, text, error_body(500, "INTERNAL_ERROR", text))
        return types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error.error_data())


def result(message: types.JSONRPCRequest, request: Request) -> dict[str, Any]:
    entry = METHODS.get(message.method)
    if entry is None:
        text = "Method not found."
        raise RpcError(METHOD_NOT_FOUND, text, error_body(404, "NOT_FOUND", text))
    request_type, handler = entry
    try:
        typed = request_type.model_validate({"method": message.method, "params": message.params})
    except ValidationError as exc:
        problems = params_problems(exc)
        raise invalid_params(f"Invalid params for {message.method}.", problems) from exc
    answered = handler(typed.params, request)  # type: ignore[attr-defined]
    return answered.model_dump(by_alias=True, mode="json", exclude_none=True)


def params_problems(exc: ValidationError) -> dict[str, list[str]]:
    """Pydantic's errors by field, without the values sent."""
    problems: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "params"
        problems.setdefault(location, []).append(error["msg"])
    return problems
