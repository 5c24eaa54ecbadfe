"""Audit event lists: an organization's (owners and admins) and the caller's own."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response

from access.principal import Principal
from api.base import ApiView
from api.pagination import paginate
from api.schema import paginated
from audit.models import AuditEvent
from audit.serializers import AuditEventSerializer, AuditFilterSerializer
from tenants.views import OrganizationAPIView


def filtered(request: Request, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    filters = AuditFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    if "action" in filters.validated_data:
        events = events.filter(action=filters.validated_data["action"])
    if "actor" in filters.validated_data:
        events = events.filter(actor_id=filters.validated_data["actor"].upper())
    return events.select_related("actor")


class OrganizationAuditEventsView(OrganizationAPIView):
    """GET /api/user/organizations/{organizationId}/audit-events?action=&actor=&page=

    Newest first. The audit:read scope belongs to owners' and admins' roles only.
    """

    required_scopes = {"GET": "audit:read"}

    @paginated(
        AuditEventSerializer,
        filters=AuditFilterSerializer,
        operation_id="listOrganizationAuditEvents",
    )
    def get(self, request: Request, organization_id: str) -> Response:
        events = filtered(request, AuditEvent.objects.for_organization(self.organization_id))
        return paginate(request, events, AuditEventSerializer, message="Audit events fetched")


class OwnAuditEventsView(ApiView):
    """GET /api/user/audit-events?action=&page=: the caller's own events; a pinned key sees
    only those in its organization."""

    required_scopes = {"GET": "audit:read"}

    @paginated(
        AuditEventSerializer, filters=AuditFilterSerializer, operation_id="listOwnAuditEvents"
    )
    def get(self, request: Request) -> Response:
        events = AuditEvent.objects.filter(actor_id=request.user.pk)
        events = filtered(request, Principal.of(request).within_reach(events))
        return paginate(request, events, AuditEventSerializer, message="Audit events fetched")
