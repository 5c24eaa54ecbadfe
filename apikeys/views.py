"""API key endpoints (`/api/auth/api-key/*`) and the scope catalogue (`/api/scopes`)."""

from __future__ import annotations

import re

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from access import scopes
from access.permissions import NotOAuth, ScopePermission
from access.principal import Principal
from accounts.sessions import session_auth_hash
from api.base import ApiView
from api.envelope import envelope, format_datetime
from api.pagination import paginate
from api.schema import paginated
from apikeys import services
from apikeys.models import ApiKey
from apikeys.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeyEditSerializer,
    ApiKeyQuerySerializer,
    ApiKeyRenameSerializer,
    ApiKeyRollSerializer,
    ApiKeySerializer,
    KeyIdSerializer,
    ScopeSerializer,
)

# A key id in a path: `ak_` and a ULID, in any case (the ULID is canonically upper-case).
KEY_ID = re.compile(r"ak_[0-9A-Za-z]{26}")


def visible_keys(request: Request) -> QuerySet[ApiKey]:
    """The caller's keys; a pinned key sees only the keys pinned to its own organization."""
    return ApiKey.objects.visible_to(Principal.of(request))


def get_visible_key(request: Request, key_id: str) -> ApiKey:
    """One of the caller's keys. Anyone else's is 404, exactly like a key that does not exist."""
    key = visible_keys(request).filter(pk=key_id).first()
    if key is None:
        raise NotFound("API key not found.")
    return key


def key_in_path(request: Request, key_id: str) -> ApiKey:
    """The caller's key named by the path: any other text is 404 before any query."""
    if not KEY_ID.fullmatch(key_id):
        raise NotFound("API key not found.")
    return get_visible_key(request, f"ak_{key_id[3:].upper()}")


def created_body(key: ApiKey, raw: str) -> dict[str, object]:
    """A key with its secret: the answer of a create or a roll, the only ones that hold it."""
    return {
        "id": key.id,
        "name": key.name,
        "key": raw,
        "start": key.start,
        "scopes": key.scopes,
        "organizationId": key.organization_id,
        "allowedCidrs": key.allowed_cidrs,
        "expiresAt": format_datetime(key.expires_at),
        "createdAt": format_datetime(key.created_at),
    }


class ApiKeyCreateView(ApiView):
    """POST /api/auth/api-key/create
    {name, expiresIn?, scopes, metadata?: {organizationId}, allowedCidrs?}"""

    required_scopes = {"POST": "api-keys:write"}
    permission_classes = [ScopePermission, NotOAuth]
    rate_limits = [("KEY_CREATE", "user")]

    @extend_schema(
        operation_id="createApiKey",
        request=ApiKeyCreateSerializer,
        responses=ApiKeyCreatedSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = services.api_key_issue(
            user=request.user,
            name=serializer.validated_data["name"],
            scopes=serializer.validated_data["scopes"],
            expires_in=serializer.validated_data.get("expiresIn"),
            organization_id=serializer.organization_id(),
            allowed_cidrs=serializer.validated_data.get("allowedCidrs"),
            creator_key=request.auth,
            session_auth_hash=session_auth_hash(request),
        )
        response = envelope(created_body(key, raw), message="API key created")
        # One of the two responses that ever hold a key: keep it out of every cache.
        response["Cache-Control"] = "no-store"
        return response


class ApiKeyListView(ApiView):
    """GET /api/auth/api-key/list"""

    required_scopes = {"GET": "api-keys:read"}

    @paginated(ApiKeySerializer, operation_id="listApiKeys")
    def get(self, request: Request) -> Response:
        return paginate(
            request, visible_keys(request), ApiKeySerializer, message="API keys fetched"
        )


class ApiKeyGetView(ApiView):
    """GET /api/auth/api-key/get?id=ak_…"""

    required_scopes = {"GET": "api-keys:read"}
    schema_may_not_find = True

    @extend_schema(
        operation_id="getApiKey", parameters=[ApiKeyQuerySerializer], responses=ApiKeySerializer
    )
    def get(self, request: Request) -> Response:
        query = ApiKeyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        key = get_visible_key(request, query.validated_data["id"])
        return envelope(ApiKeySerializer(key).data, message="API key fetched")


class ApiKeyUpdateView(ApiView):
    """POST /api/auth/api-key/update {keyId, name}: only the name changes; scopes are fixed."""

    required_scopes = {"POST": "api-keys:write"}
    permission_classes = [ScopePermission, NotOAuth]
    schema_may_not_find = True

    @extend_schema(
        operation_id="updateApiKey", request=ApiKeyRenameSerializer, responses=ApiKeySerializer
    )
    def post(self, request: Request) -> Response:
        serializer = ApiKeyRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = get_visible_key(request, serializer.validated_data["keyId"])
        key = services.api_key_rename(
            key=key, name=serializer.validated_data["name"], acting_key=request.auth
        )
        return envelope(ApiKeySerializer(key).data, message="API key updated")


class ApiKeyRevokeView(ApiView):
    """POST /api/auth/api-key/revoke {keyId}: the key, and every key it created, gets 401
    from the next request on."""

    required_scopes = {"POST": "api-keys:write"}
    permission_classes = [ScopePermission, NotOAuth]
    schema_may_not_find = True

    @extend_schema(
        operation_id="revokeApiKey", request=KeyIdSerializer, responses=ApiKeySerializer
    )
    def post(self, request: Request) -> Response:
        serializer = KeyIdSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = get_visible_key(request, serializer.validated_data["keyId"])
        key = services.api_key_revoke(key=key, revoked_by=request.user, acting_key=request.auth)
        return envelope(ApiKeySerializer(key).data, message="API key revoked")


class ApiKeyEditView(ApiView):
    """PATCH /api/auth/api-key/{keyId} {name?, scopes?}: scopes change by the rules of
    creation; the pin and the expiry never change."""

    required_scopes = {"PATCH": "api-keys:write"}
    permission_classes = [ScopePermission, NotOAuth]
    schema_conflicts = (409,)
    schema_body_required = True

    @extend_schema(
        operation_id="editApiKey", request=ApiKeyEditSerializer, responses=ApiKeySerializer
    )
    def patch(self, request: Request, key_id: str) -> Response:
        """Change the key's name, its scopes, or both, from its next request on. Scopes may
        change as at creation: a key making the change must cover the key as it is
        (`KEY_OUTRANKS_CALLER`) and every scope it grants (`KEY_BROADER_THAN_CREATOR`). Any
        other field is 400; a revoked or expired key is 409 `KEY_NOT_ACTIVE`."""
        serializer = ApiKeyEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = services.api_key_edit(
            key=key_in_path(request, key_id),
            name=serializer.validated_data.get("name"),
            scopes=serializer.validated_data.get("scopes"),
            acting_key=request.auth,
            session_auth_hash=session_auth_hash(request),
        )
        return envelope(ApiKeySerializer(key).data, message="API key updated")


class ApiKeyRollView(ApiView):
    """POST /api/auth/api-key/{keyId}/roll {expiresOldIn}"""

    required_scopes = {"POST": "api-keys:write"}
    permission_classes = [ScopePermission, NotOAuth]
    rate_limits = [("KEY_CREATE", "user")]  # a roll issues a secret, as a create does
    schema_conflicts = (409,)

    @extend_schema(
        operation_id="rollApiKey", request=ApiKeyRollSerializer, responses=ApiKeyCreatedSerializer
    )
    def post(self, request: Request, key_id: str) -> Response:
        """Give the key a new secret, shown once in this answer (the shape a create answers
        with). The key keeps its id, name, scopes, pin, expiry and history; the previous secret
        keeps working for `expiresOldIn` seconds (0 to 604800, never past the key's expiry),
        then gets 401 `KEY_EXPIRED`. Rolling again during an overlap ends the secret before
        the previous one at once. A revoked or expired key is 409 `KEY_NOT_ACTIVE`."""
        serializer = ApiKeyRollSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = services.api_key_roll(
            key=key_in_path(request, key_id),
            expires_old_in=serializer.validated_data["expiresOldIn"],
            acting_key=request.auth,
            session_auth_hash=session_auth_hash(request),
        )
        response = envelope(created_body(key, raw), message="API key rolled")
        response["Cache-Control"] = "no-store"
        return response


class ScopeCatalogueView(ApiView):
    """GET /api/scopes: every scope with its description. Public: it is documentation."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="listScopes", responses=ScopeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return envelope(scopes.catalogue(), message="Scopes fetched")
