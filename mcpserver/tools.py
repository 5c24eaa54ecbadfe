"""The tools. Each mirrors one API route: it is admitted by that route's permissions (scope,
pin, membership, role), calls the services and querysets the route calls, and answers with the
data the route answers with, so that a tool can never do more than its route."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from mcp import types
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from access.principal import Principal
from access.scopes import scope_grants
from accounts.views import AuthStatusView, user_data
from api.envelope import format_datetime
from api.pagination import PageParams
from apikeys import services as apikey_services
from apikeys.serializers import ApiKeySerializer, KeyIdSerializer
from apikeys.views import ApiKeyListView, ApiKeyRevokeView, get_visible_key, visible_keys
from mcpserver import schemas
from mcpserver.errors import from_api, invalid_params
from mcpserver.routes import authorize, mirror
from oauth.scopes import CatalogueScopes
from tenants import services as tenant_services
from tenants.models import Membership, Project
from tenants.serializers import OrganizationSerializer, ProjectSerializer, project_representation
from tenants.views import OrganizationListView, ProjectListView

Run = Callable[[Request, APIView, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Tool:
    """One tool: what tools/list shows of it, the route it mirrors (made with routes.mirror),
    and `run`, which gets the request, the route's view once it admitted the caller, and the
    arguments once they fit `input_schema`."""

    name: str
    title: str
    description: str
    route: type[APIView]
    input_schema: schemas.Schema
    output_schema: schemas.Schema
    run: Run
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True

    @property
    def scope(self) -> str:
        """The scope the mirrored route needs ("" for any valid token)."""
        return self.route.mirrored_scope  # type: ignore[attr-defined]

    @property
    def tenant_scoped(self) -> bool:
        return getattr(self.route, "tenant_scoped", False)

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            inputSchema=self.input_schema,
            outputSchema=self.output_schema,
            annotations=types.ToolAnnotations(
                title=self.title,
                readOnlyHint=self.read_only,
                # The other two hints mean something only for a tool that changes things.
                destructiveHint=None if self.read_only else self.destructive,
                idempotentHint=None if self.read_only else self.idempotent,
                openWorldHint=False,
            ),
        )


# --- Helpers the tools share ---------------------------------------------------------------


def page(
    queryset: QuerySet,
    render: type[serializers.BaseSerializer] | Callable[[Any], dict[str, Any]],
    arguments: dict[str, Any],
) -> tuple[list[Any], dict[str, Any]]:
    """One page of `queryset` and its `pagination`, as api.pagination.paginate answers a list
    route: the same parameters (PageParams), defaults and bounds, and the same two queries."""
    params = PageParams(data={k: arguments[k] for k in ("page", "pageSize") if k in arguments})
    params.is_valid(raise_exception=True)
    number, size = params.validated_data["page"], params.validated_data["pageSize"]
    total = queryset.count()
    items = list(queryset[(number - 1) * size : number * size])
    if isinstance(render, type) and issubclass(render, serializers.BaseSerializer):
        data = list(render(items, many=True).data)
    else:
        data = [render(item) for item in items]
    total_pages = math.ceil(total / size)
    return data, {
        "page": number,
        "pageSize": size,
        "totalItems": total,
        "totalPages": total_pages,
        "hasNext": number < total_pages,
        "hasPrevious": number > 1,
    }


def validated(serializer: serializers.Serializer) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- The tools, each after its route's handler -----------------------------------------------


def whoami(request: Request, view: APIView, arguments: dict[str, Any]) -> dict[str, Any]:
    """AuthStatusView.get, for the one kind of credential /mcp accepts: an OAuth token."""
    principal, token = Principal.of(request), request.auth
    data: dict[str, Any] = {"authenticated": True, "authMethod": principal.via}
    if scope_grants(principal.scopes, "user:read"):
        data["user"] = user_data(request.user, request)
    data["oauthToken"] = {
        "clientId": token.application.client_id if token.application else None,
        "application": token.application.name if token.application else "",
        "scopes": principal.scopes,
        "organizationId": principal.pin,
        "expiresAt": format_datetime(token.expires),
    }
    data["apiKey"] = None
    return data


def list_organizations(
    request: Request, view: APIView, arguments: dict[str, Any]
) -> dict[str, Any]:
    """OrganizationListView.get: the caller's memberships, within the token's reach."""
    memberships = Principal.of(request).within_reach(Membership.objects.for_user(request.user.pk))
    organizations, pagination = page(memberships, OrganizationSerializer, arguments)
    return {"organizations": organizations, "pagination": pagination}


def list_projects(request: Request, view: APIView, arguments: dict[str, Any]) -> dict[str, Any]:
    """ProjectListView.get: the projects of the organization the gate admitted."""
    projects = Project.objects.filter(organization_id=view.organization_id)  # type: ignore[attr-defined]
    items, pagination = page(projects, project_representation, arguments)
    return {"projects": items, "pagination": pagination}


def create_project(request: Request, view: APIView, arguments: dict[str, Any]) -> dict[str, Any]:
    """ProjectListView.post."""
    fields = validated(
        ProjectSerializer(
            data={k: arguments[k] for k in ("name", "description") if k in arguments}
        )
    )
    project = tenant_services.project_create(
        organization=view.organization,  # type: ignore[attr-defined]
        created_by=request.user,
        name=fields["name"],
        description=fields.get("description", ""),
    )
    return {"project": ProjectSerializer(project).data}


def list_api_keys(request: Request, view: APIView, arguments: dict[str, Any]) -> dict[str, Any]:
    """ApiKeyListView.get: the caller's keys, within the token's reach."""
    keys, pagination = page(visible_keys(request), ApiKeySerializer, arguments)
    return {"apiKeys": keys, "pagination": pagination}


def revoke_api_key(request: Request, view: APIView, arguments: dict[str, Any]) -> dict[str, Any]:
    """ApiKeyRevokeView.post. Its route refuses every OAuth token (NotOAuth), so through /mcp
    this never runs: the tool answers that refusal."""
    fields = validated(KeyIdSerializer(data={"keyId": arguments["keyId"]}))
    key = get_visible_key(request, fields["keyId"])
    key = apikey_services.api_key_revoke(key=key, revoked_by=request.user, acting_key=request.auth)
    return {"apiKey": ApiKeySerializer(key).data}


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in [
        Tool(
            name="whoami",
            title="Who am I",
            description=(
                "Who this authorization acts for and what it may do: the application, its "
                "scopes, the organization it is pinned to (null: every organization), and the "
                "person's profile when the user:read scope was granted. As GET /api/auth/status."
            ),
            route=mirror(AuthStatusView, "GET"),
            input_schema=schemas.NO_ARGUMENTS,
            output_schema=schemas.AUTH_STATUS,
            run=whoami,
        ),
        Tool(
            name="list_organizations",
            title="List organizations",
            description=(
                "The organizations the person belongs to, with their role in each (only the "
                "pinned one for an authorization pinned to an organization). Needs user:read. "
                "As GET /api/user/organizations."
            ),
            route=mirror(OrganizationListView, "GET"),
            input_schema=schemas.PAGE_ARGUMENTS,
            output_schema=schemas.page_of("organizations", schemas.ORGANIZATION),
            run=list_organizations,
        ),
        Tool(
            name="list_projects",
            title="List projects",
            description=(
                "The projects of one organization, newest first. Needs projects:read. As GET "
                "/api/user/organizations/{organizationId}/projects."
            ),
            route=mirror(ProjectListView, "GET"),
            input_schema=schemas.PROJECT_LIST_ARGUMENTS,
            output_schema=schemas.page_of("projects", schemas.PROJECT),
            run=list_projects,
        ),
        Tool(
            name="create_project",
            title="Create a project",
            description=(
                "Create a project in an organization. Needs projects:write. As POST "
                "/api/user/organizations/{organizationId}/projects."
            ),
            route=mirror(ProjectListView, "POST"),
            input_schema=schemas.PROJECT_CREATE_ARGUMENTS,
            output_schema=schemas.one("project", schemas.PROJECT),
            run=create_project,
            read_only=False,
            idempotent=False,
        ),
        Tool(
            name="list_api_keys",
            title="List API keys",
            description=(
                "The person's API keys (never their secrets), newest first; for an "
                "authorization pinned to an organization, the keys pinned to it. Needs "
                "api-keys:read. As GET /api/auth/api-key/list."
            ),
            route=mirror(ApiKeyListView, "GET"),
            input_schema=schemas.PAGE_ARGUMENTS,
            output_schema=schemas.page_of("apiKeys", schemas.API_KEY),
            run=list_api_keys,
        ),
        Tool(
            name="revoke_api_key",
            title="Revoke an API key",
            description=(
                "Revoke one of the person's API keys, as POST /api/auth/api-key/revoke. That "
                "route needs api-keys:write, which no application is granted, and refuses "
                "OAuth tokens: through an authorized application this tool is always refused. "
                "Revoke keys in the dashboard or with an API key."
            ),
            route=mirror(ApiKeyRevokeView, "POST"),
            input_schema=schemas.KEY_ID_ARGUMENTS,
            output_schema=schemas.one("apiKey", schemas.API_KEY),
            run=revoke_api_key,
            read_only=False,
            destructive=True,
        ),
    ]
}


def requested_scopes() -> str:
    """The scopes a client should ask for to use every tool: those the tools need that an
    application may be granted at all (the 401's `scope`, which MCP clients request)."""
    grantable = CatalogueScopes().get_all_scopes()
    needed = dict.fromkeys(tool.scope for tool in TOOLS.values() if tool.scope)
    return " ".join(scope for scope in needed if scope in grantable)


# --- Calling a tool --------------------------------------------------------------------------


def call(request: Request, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """Run the tool `name` for the request's caller: the result, with the structured data and
    a text copy (as the SDK's own servers shape it), or an RpcError: -32602 for an unknown tool
    or arguments that do not fit, REFUSED (with the API's error body) for what the route
    refuses."""
    tool = TOOLS.get(name)
    if tool is None:
        raise invalid_params("Unknown tool.", {"name": ["No tool has this name."]})
    problems = schemas.argument_problems(tool.input_schema, arguments)
    if problems:
        field, messages = next(iter(problems.items()))
        raise invalid_params(f"Invalid arguments for {name}: {field}: {messages[0]}", problems)
    kwargs = {"organization_id": arguments["organizationId"].upper()} if tool.tenant_scoped else {}
    try:
        view = authorize(request, tool.route, **kwargs)
        data = tool.run(request, view, arguments)
    except APIException as exc:
        raise from_api(exc) from exc
    # Plain JSON types (serializers answer with their own list and dict classes).
    data = json.loads(json.dumps(data, cls=JSONEncoder))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(data, indent=2))],
        structuredContent=data,
        isError=False,
    )
