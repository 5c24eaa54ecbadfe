"""JSON-RPC errors at /mcp, and the API's own errors in that form.

Every error object carries, as `data`, the body the API answers the same refusal with (its
machine `code`, `message`, and fields such as `required_scopes`), so a client reads one
vocabulary on both."""

from __future__ import annotations

from typing import Any

from mcp import types

from api.envelope import error_body
from api.errors import exception_handler

PARSE_ERROR = types.PARSE_ERROR  # -32700: the body is not JSON
INVALID_REQUEST = types.INVALID_REQUEST  # -32600: not one JSON-RPC 2.0 message
METHOD_NOT_FOUND = types.METHOD_NOT_FOUND  # -32601
INVALID_PARAMS = types.INVALID_PARAMS  # -32602: bad arguments, an unknown tool or object
INTERNAL_ERROR = types.INTERNAL_ERROR  # -32603
# Implementation-defined (JSON-RPC reserves -32000 to -32099 for servers): the route the tool
# mirrors refused the caller (a missing scope, another organization, a role); `data.code` says
# which, as the API's body does.
REFUSED = -32003


class RpcError(Exception):
    """One JSON-RPC error object: `code`, `message`, and `data` (an API error body)."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def error_data(self) -> types.ErrorData:
        return types.ErrorData(code=self.code, message=self.message, data=self.data)


def api_answer(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) the API answers `exc` with: its exception handler's own, so the
    codes, messages and extra fields are the API's."""
    response = exception_handler(exc, {})
    return response.status_code, dict(response.data), dict(response.headers)


def invalid_params(message: str, details: dict[str, list[str]] | None = None) -> RpcError:
    """Arguments that do not fit: -32602, with the API's VALIDATION_ERROR body."""
    extra = {"details": details} if details else {}
    return RpcError(INVALID_PARAMS, message, error_body(400, "VALIDATION_ERROR", message, **extra))


def from_api(exc: Exception) -> RpcError:
    """What the mirrored route raised, as the JSON-RPC error of a tool call: its input refused
    (400) or an object it cannot find (404) is -32602; any other refusal is REFUSED. The
    message is the API's, which for a missing scope names it."""
    status_code, body, _headers = api_answer(exc)
    code = INVALID_PARAMS if status_code in (400, 404) else REFUSED
    return RpcError(code, body["message"], body)
