"""GET, PATCH /api/user/organizations/{organizationId}/key-policy"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.principal import Principal
from api.envelope import envelope
from apikeys import policy as key_policy
from apikeys.policy_services import key_policy_update
from apikeys.serializers import KeyPolicyInputSerializer, KeyPolicySerializer
from tenants.views import OrganizationAPIView


class KeyPolicyView(OrganizationAPIView):
    """The organization's rules for the API keys acting in it. Every member may read them;
    owners and admins change them (organizations:write)."""

    required_scopes = {"GET": "organizations:read", "PATCH": "organizations:write"}

    @extend_schema(operation_id="getKeyPolicy", responses=KeyPolicySerializer)
    def get(self, request: Request, organization_id: str) -> Response:
        policy = key_policy.shown(self.organization.key_policy)
        return envelope(
            {"organizationId": self.organization.pk, **policy}, message="Key policy fetched"
        )

    @extend_schema(
        operation_id="updateKeyPolicy",
        request=KeyPolicyInputSerializer,
        responses=KeyPolicySerializer,
    )
    def patch(self, request: Request, organization_id: str) -> Response:
        """Change the rules named in the body; the others keep their value. null (false for
        requireExpiry) turns a rule off. Keys that exist are held to the new rules on their
        next request: a refused one gets 403 `KEY_POLICY_VIOLATION` naming the rule."""
        serializer = KeyPolicyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = self.organization
        policy = key_policy_update(
            organization_id=organization.pk,
            changes=serializer.validated_data,
            actor=request.user,
            acting_key=request.auth if Principal.of(request).via == "api_key" else None,
        )
        return envelope(
            {"organizationId": organization.pk, **policy}, message="Key policy updated"
        )
