"""POST /mcp: the Model Context Protocol endpoint, in Streamable HTTP's stateless form: one
JSON-RPC message per POST, one JSON answer (never a stream), no session. It runs where the rest
of Latchkey runs (gunicorn's sync workers, the ORM) because nothing here waits on anything."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse
from mcp import types
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import BaseModel
from rest_framework.exceptions import APIException, MethodNotAllowed, UnsupportedMediaType
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from api.base import ApiView
from api.envelope import error_body
from api.errors import CrossOriginRequest, HttpsRequired, PayloadTooLarge
from api.middleware import API_POLICY, refuses_plain_http
from audit.models import Action
from audit.services import audit_record_once
from lib.clientip import client_ip, ip_identity
from mcpserver import protocol, schemas, tools
from mcpserver.authentication import McpTokenAuthentication
from mcpserver.errors import INTERNAL_ERROR, INVALID_REQUEST, RpcError, api_answer
from mcpserver.routes import authorize, route_rate_limits
from ratelimits.policies import rate_limit_headers

logger = logging.getLogger(__name__)

PROTOCOL_VERSION_HEADER = "HTTP_MCP_PROTOCOL_VERSION"


class McpView(ApiView):
    """POST /mcp

    In order: the transport (HTTPS, the Origin, POST only, a JSON body within the size limit),
    before the credential is read; then, as on the API (ApiView), the OAuth access token for
    this endpoint and the rate limit of that token; then the message (protocol.py): its
    MCP-Protocol-Version checked, and the answer. Each tool is admitted by the permissions of
    the API route it mirrors (tools.py)."""

    authentication_classes = [McpTokenAuthentication]
    permission_classes = [IsAuthenticated]  # any token for /mcp; each tool decides the rest
    parser_classes: list = []  # the body is a JSON-RPC message, read by protocol.parse
    http_method_names = ["post"]
    schema = None  # not an API route: JSON-RPC, described in docs/mcp.md, not in OpenAPI

    @property
    def oauth_resource(self) -> str:
        """The audience a token must name (OAuthTokenAuthentication reads it)."""
        return settings.OAUTH_MCP_RESOURCE

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        check_transport(request)
        super().initial(request, *args, **kwargs)

    def post(self, request: Request) -> HttpResponse:
        try:
            message = protocol.parse(request.body)
        except protocol.Unreadable as unreadable:
            return rpc_error(400, unreadable.error, unreadable.request_id)
        request_id = message.id if isinstance(message, types.JSONRPCRequest) else None
        version = request.META.get(PROTOCOL_VERSION_HEADER)
        # initialize negotiates the version; every later message names the one agreed on.
        if (
            version is not None
            and version not in SUPPORTED_PROTOCOL_VERSIONS
            and not protocol.is_initialize(message)
        ):
            text = "Unsupported MCP-Protocol-Version. Supported: " + ", ".join(
                SUPPORTED_PROTOCOL_VERSIONS
            )
            body = error_body(400, "BAD_REQUEST", text)
            return rpc_error(400, RpcError(INVALID_REQUEST, text, body), request_id)
        if not isinstance(message, types.JSONRPCRequest):
            # A notification, or a response to a request we never send: nothing to answer.
            accepted = HttpResponse(status=202)
            del accepted["Content-Type"]
            return accepted
        answered = protocol.answer(message, request)
        try:
            return json_response(200, answered)
        except Exception:  # an answer that cannot be written as JSON: a bug of ours
            logger.exception("MCP answer to %s could not be written", message.method)
            text = "Internal error."
            error = RpcError(INTERNAL_ERROR, text, error_body(500, "INTERNAL_ERROR", text))
            return rpc_error(200, error, request_id)

    # --- Rate limits: a tool call spends what its API route would ---------------------------

    def called_tool(self, request: Request) -> tuple[tools.Tool, dict[str, Any]] | None:
        """The tool a tools/call request names, with its arguments; None for anything else
        (any other message, an unknown tool, a body that is not one message)."""
        try:
            message = protocol.parse(request.body)
        except protocol.Unreadable:
            return None
        if not isinstance(message, types.JSONRPCRequest) or message.method != "tools/call":
            return None
        params = message.params or {}
        tool = tools.TOOLS.get(params.get("name")) if isinstance(params.get("name"), str) else None
        arguments = params.get("arguments")
        if tool is None:
            return None
        return tool, arguments if isinstance(arguments, dict) else {}

    def charged_organization(self, request: Request) -> tuple[str, str] | None:
        """As for the API route the tool mirrors: a tool in an organization spends that
        organization's plan budgets once its gate admits the caller (a refusal: the call
        counts against the token alone, and the tool answers the refusal)."""
        called = self.called_tool(request)
        if called is not None and called[0].tenant_scoped and request.auth is not None:
            tool, arguments = called
            if schemas.argument_problems(tool.input_schema, arguments):
                return None  # refused as invalid params, against the token alone
            organization_id = arguments["organizationId"].upper()
            try:
                view = authorize(request, tool.route, organization_id=organization_id)
            except APIException:
                return None
            return view.organization_plan()
        return super().charged_organization(request)

    @property
    def rate_limits(self) -> Sequence[tuple[str, str]]:  # type: ignore[override]
        """The route's own tighter policies (none of today's tools' routes has one)."""
        called = self.called_tool(self.request) if hasattr(self, "request") else None
        return route_rate_limits(called[0].route) if called else ()

    def get_exception_handler(self) -> Any:
        return exception_answer

    def finalize_response(
        self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = super().finalize_response(request, response, *args, **kwargs)
        outcome = getattr(request, "ratelimit", None)
        if outcome is not None:
            for name, value in rate_limit_headers(outcome).items():
                response[name] = value
        # Answers name people, projects and keys: no cache keeps them. They render nothing,
        # so they get the API's fixed policy.
        response["Cache-Control"] = "no-store"
        response["Content-Security-Policy"] = API_POLICY
        return response


def check_transport(request: Request) -> None:
    """Refuse what no credential could make acceptable, before one is read: plain HTTP where
    HTTPS is enforced (the API's rule), a foreign Origin (DNS rebinding: a page elsewhere
    whose name resolves here), any method but POST (no SSE stream is offered, no session
    ended), a body that is not JSON or is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    http = request._request
    if refuses_plain_http(http):
        raise HttpsRequired()
    origin = http.META.get("HTTP_ORIGIN")
    if origin is not None and not allowed_origin(origin):
        reason = "origin:null" if origin == "null" else "origin:foreign"
        # Anyone can provoke this: one event a minute per client network and reason, as the
        # API's cross-origin refusals.
        audit_record_once(
            once_key=f"cross-origin:{ip_identity(client_ip(http))}:{reason}",
            within=60,
            action=Action.CROSS_ORIGIN_REFUSED,
            request=http,
            detail={"reason": reason, "origin": origin[:200], "path": http.path_info[:200]},
        )
        raise CrossOriginRequest()
    if http.method != "POST":
        raise MethodNotAllowed(http.method)
    media_type = http.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(media_type)
    try:
        length = int(http.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise PayloadTooLarge()


def allowed_origin(origin: str) -> bool:
    """PUBLIC_URL's own origin, or one of TRUSTED_ORIGINS (as the API's cross-origin rule)."""
    public = urlsplit(settings.PUBLIC_URL)
    return (
        origin.lower() == f"{public.scheme}://{public.netloc}".lower()
        or origin in settings.TRUSTED_ORIGINS
    )


# --- Answers -----------------------------------------------------------------------------------


def json_body(status: int, body: Any) -> HttpResponse:
    # Non-ASCII escaped, as the API answers (UNICODE_JSON off): a lone surrogate a client sent
    # (in an id, say) is echoed as \ud800, where encoding it as UTF-8 would fail.
    return HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )


def json_response(status: int, answer: BaseModel) -> HttpResponse:
    return json_body(status, answer.model_dump(mode="json", by_alias=True, exclude_none=True))


def rpc_error(status: int, error: RpcError, request_id: str | int | None = None) -> HttpResponse:
    """A JSON-RPC error answered with an HTTP error status: with the request's id when it was
    read, else null (JSON-RPC 2.0 §5)."""
    data = error.error_data().model_dump(mode="json", exclude_none=True)
    return json_body(status, {"jsonrpc": "2.0", "id": request_id, "error": data})


def exception_answer(exc: Exception, context: dict[str, Any]) -> HttpResponse:
    """Every error raised before a message is answered (the transport, the token, the rate
    limit), with its HTTP status: a JSON-RPC error whose `data` is the API's error body for it.
    A 401 carries this endpoint's challenge (DRF put it on the exception); a 429 Retry-After."""
    status, body, headers = api_answer(exc)
    code = INTERNAL_ERROR if status >= 500 else INVALID_REQUEST
    response = rpc_error(status, RpcError(code, body["message"], body))
    if status == 401 and getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if "Retry-After" in headers:
        response["Retry-After"] = headers["Retry-After"]
    return response
