"""GET /api/user/organizations/{organizationId}/api-keys and
POST /api/user/organizations/{organizationId}/api-keys/{keyId}/revoke: the keys that act in an
organization, for its owners and admins."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import NotOAuth, ScopePermission
from access.principal import Principal
from api.envelope import envelope
from api.errors import MESSAGES, InsufficientRole
from api.pagination import paginate
from api.schema import paginated
from apikeys.organization_services import api_key_revoke_in_organization, keys_acting_in
from apikeys.serializers import OrganizationApiKeyFilterSerializer, OrganizationApiKeySerializer
from apikeys.views import KEY_ID
from tenants.models import Role
from tenants.views import OrganizationAPIView


class OwnerOrAdmin(BasePermission):
    """For a tenant route of the organization's owners and admins, whatever the role its scope
    allows elsewhere (api-keys:read lets every member list their own keys): a member is
    refused with INSUFFICIENT_ROLE. Runs after ScopePermission, so the gate and the scope come
    first."""

    code = InsufficientRole.code
    message = MESSAGES[InsufficientRole.code]

    def has_permission(self, request: Request, view: APIView) -> bool:
        return view.get_membership().role in (Role.OWNER, Role.ADMIN)


class OrganizationApiKeyListView(OrganizationAPIView):
    """GET /api/user/organizations/{organizationId}/api-keys?status=active|all"""

    required_scopes = {"GET": "api-keys:read"}
    open_to_every_role = True  # the role is OwnerOrAdmin's to decide
    permission_classes = [ScopePermission, OwnerOrAdmin]

    @paginated(
        OrganizationApiKeySerializer,
        filters=OrganizationApiKeyFilterSerializer,
        operation_id="listOrganizationApiKeys",
    )
    def get(self, request: Request, organization_id: str) -> Response:
        """Every key that can act in the organization: its members' keys pinned to it, and
        their unpinned keys, newest first, with each owner, when and from which address it was
        last used, and whether it was revoked here (`revokedHere`). Never a key's secret.
        `?status=active` (the default) lists the keys neither revoked nor expired, those
        revoked here included; `?status=all` every key. Owners and admins only."""
        filters = OrganizationApiKeyFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        keys = keys_acting_in(self.organization_id).select_related("user")
        if filters.validated_data["status"] == "active":
            keys = keys.active()
        return paginate(
            request,
            keys,
            OrganizationApiKeySerializer,
            message="API keys fetched",
            context={"organization_id": self.organization_id},
        )


class OrganizationApiKeyRevokeView(OrganizationAPIView):
    """POST /api/user/organizations/{organizationId}/api-keys/{keyId}/revoke"""

    required_scopes = {"POST": "api-keys:write"}
    open_to_every_role = True  # the role is OwnerOrAdmin's to decide
    permission_classes = [ScopePermission, NotOAuth, OwnerOrAdmin]

    @extend_schema(
        operation_id="revokeOrganizationApiKey",
        request=None,
        responses=OrganizationApiKeySerializer,
    )
    def post(self, request: Request, organization_id: str, key_id: str) -> Response:
        """Revoke a key that acts in the organization, by one of its owners or admins. A key
        pinned to the organization is revoked outright, with the keys it created. An unpinned
        key is revoked here only: its requests to this organization get 403
        `KEY_REVOKED_IN_ORGANIZATION`, and it keeps working everywhere else. The key's owner
        is mailed. Revoking again changes nothing. A key that does not act in the organization
        is 404, as one that does not exist."""
        if not KEY_ID.fullmatch(key_id):
            raise NotFound("API key not found.")
        principal = Principal.of(request)
        key = api_key_revoke_in_organization(
            organization_id=self.organization_id,
            key_id=f"ak_{key_id[3:].upper()}",
            actor=request.user,
            acting_key=request.auth if principal.via == "api_key" else None,
        )
        body = OrganizationApiKeySerializer(key, context={"organization_id": self.organization_id})
        return envelope(body.data, message="API key revoked")
