"""Invitation routes: an organization's invitations (through the tenancy gate), and the link's
own routes for whoever holds it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import ScopePermission, SessionOnly
from api.base import ApiView
from api.envelope import envelope
from api.errors import MESSAGES, InvalidToken
from api.pagination import paginate
from api.schema import paginated
from tenants import invitations
from tenants.models import Invitation
from tenants.serializers import (
    InvitationCreateSerializer,
    InvitationPreviewSerializer,
    InvitationSerializer,
    InvitationWithdrawnSerializer,
    OrganizationSerializer,
    invitation_preview,
    invitation_representation,
)
from tenants.views import OrganizationAPIView

# Sending (or re-sending) spends the inviter's own budget here, and the organization's in the
# service, once the caller has been admitted to it.
SEND_RATE_LIMITS = (("INVITATIONS", "user"),)


def link_not_found(handler: Callable[..., Response]) -> Callable[..., Response]:
    """A link that names no live invitation (malformed, tampered with, expired, or ended) is
    a resource that is not there: 404, the same answer for every reason."""

    @wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return handler(*args, **kwargs)
        except InvalidToken:
            raise NotFound(MESSAGES["INVALID_TOKEN"]) from None

    return wrapper


TOKEN = OpenApiParameter(
    "token",
    str,
    OpenApiParameter.PATH,
    description="The token from the invitation link (the last part of its path).",
)


class InvitationListView(OrganizationAPIView):
    """GET, POST /api/user/organizations/{organizationId}/invitations"""

    required_scopes = {"GET": "members:read", "POST": "members:write"}
    schema_conflicts = (409,)

    @property
    def rate_limits(self) -> Sequence[tuple[str, str]]:  # type: ignore[override]
        return SEND_RATE_LIMITS if self.request.method == "POST" else ()

    @paginated(InvitationSerializer, operation_id="listInvitations")
    def get(self, request: Request, organization_id: str) -> Response:
        pending = Invitation.objects.filter(organization_id=self.organization_id).select_related(
            "invited_by"
        )
        return paginate(request, pending, invitation_representation, message="Invitations fetched")

    @extend_schema(
        operation_id="createInvitation",
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer},
    )
    def post(self, request: Request, organization_id: str) -> Response:
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = invitations.invitation_create(
            actor=self.get_membership(),
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            request=request,
        )
        return envelope(
            invitation_representation(invitation),
            message="Invitation sent",
            status=status.HTTP_201_CREATED,
        )


class InvitationDetailView(OrganizationAPIView):
    """DELETE /api/user/organizations/{organizationId}/invitations/{invitationId}: withdraw."""

    required_scopes = {"DELETE": "members:write"}

    @extend_schema(
        operation_id="withdrawInvitation", responses={200: InvitationWithdrawnSerializer}
    )
    def delete(self, request: Request, organization_id: str, invitation_id: str) -> Response:
        invitations.invitation_withdraw(
            actor=self.get_membership(), pk=invitation_id, request=request
        )
        return envelope({"id": invitation_id}, message="Invitation withdrawn")


class InvitationResendView(OrganizationAPIView):
    """POST …/invitations/{invitationId}/resend: a new link (the old one stops working) and a
    new expiry."""

    required_scopes = {"POST": "members:write"}
    rate_limits = SEND_RATE_LIMITS

    @extend_schema(operation_id="resendInvitation", request=None, responses=InvitationSerializer)
    def post(self, request: Request, organization_id: str, invitation_id: str) -> Response:
        invitation = invitations.invitation_resend(
            actor=self.get_membership(), pk=invitation_id, request=request
        )
        return envelope(invitation_representation(invitation), message="Invitation sent again")


class InvitationLinkView(ApiView):
    """GET /api/invitations/{token}: what the link invites to, for anyone holding it."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="getInvitation", parameters=[TOKEN], responses=InvitationPreviewSerializer
    )
    @link_not_found
    def get(self, request: Request, token: str) -> Response:
        invitation = invitations.invitation_for_token(token)
        return envelope(invitation_preview(invitation), message="Invitation fetched")


class InvitationAcceptView(ApiView):
    """POST /api/invitations/{token}/accept: the signed-in person joins (a browser session
    only; the account's address must be the invited one)."""

    required_scopes = {"POST": ""}
    permission_classes = [ScopePermission, SessionOnly]
    schema_conflicts = (409,)

    @extend_schema(
        operation_id="acceptInvitation",
        parameters=[TOKEN],
        request=None,
        responses=OrganizationSerializer,
    )
    @link_not_found
    def post(self, request: Request, token: str) -> Response:
        membership = invitations.invitation_accept(token=token, user=request.user, request=request)
        return envelope(OrganizationSerializer(membership).data, message="Invitation accepted")


class InvitationDeclineView(ApiView):
    """POST /api/invitations/{token}/decline: whoever holds the link turns it down."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="declineInvitation", parameters=[TOKEN], request=None, responses={200: None}
    )
    @link_not_found
    def post(self, request: Request, token: str) -> Response:
        invitations.invitation_decline(token=token, request=request)
        return envelope(None, message="Invitation declined")
