"""Organization routes. Every route under /organizations/{organizationId}/ is an
OrganizationAPIView, and so goes through the tenancy gate."""

from __future__ import annotations

from collections.abc import Sequence

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.gate import membership_for_request, organization_plan
from access.permissions import SessionOnly
from access.principal import Principal
from api.base import ApiView
from api.envelope import envelope
from api.errors import InsufficientRole, OrganizationMismatch
from api.pagination import paginate
from api.schema import paginated
from apikeys.models import ApiKey
from ratelimits.policies import plan_budgets
from tenants import services
from tenants.models import Membership, Organization, Project, Role
from tenants.serializers import (
    AggregateResultSerializer,
    AggregateSerializer,
    DeletedSerializer,
    LeftSerializer,
    MemberRemovedSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    OrganizationDeleteSerializer,
    OrganizationInputSerializer,
    OrganizationSerializer,
    OwnershipTransferSerializer,
    ProjectSerializer,
    SubscriptionSerializer,
    project_representation,
)


class OrganizationAPIView(ApiView):
    """Base for tenant routes: ScopePermission resolves the URL's organization through the
    tenancy gate and checks the caller's role before any handler runs."""

    tenant_scoped = True
    _membership: Membership | None = None

    def get_membership(self) -> Membership:
        if self._membership is None:
            self._membership = membership_for_request(self.request, self.kwargs["organization_id"])
        return self._membership

    @property
    def organization(self) -> Organization:
        return self.get_membership().organization

    @property
    def organization_id(self) -> str:
        return self.get_membership().organization_id

    def organization_plan(self) -> tuple[str, str]:
        """(id, plan) of the URL's organization, through the gate; no query of its own."""
        return organization_plan(self.request, self.get_membership())

    def forget_access(self) -> None:
        self._membership = None


class OrganizationListView(ApiView):
    """GET, POST /api/user/organizations

    Creating an organization spends the caller's ORGANIZATION_CREATE budget (per user, keys
    and sessions together) on top of the usual ones; listing does not.
    """

    required_scopes = {"GET": "user:read", "POST": "organizations:write"}
    create_rate_limits = (("ORGANIZATION_CREATE", "user"),)

    @property
    def rate_limits(self) -> Sequence[tuple[str, str]]:  # type: ignore[override]
        return self.create_rate_limits if self.request.method == "POST" else ()

    @paginated(OrganizationSerializer, operation_id="listOrganizations")
    def get(self, request: Request) -> Response:
        memberships = Principal.of(request).within_reach(
            Membership.objects.for_user(request.user.pk)
        )
        return paginate(
            request, memberships, OrganizationSerializer, message="Organizations fetched"
        )

    @extend_schema(
        operation_id="createOrganization",
        request=OrganizationInputSerializer,
        responses={201: OrganizationSerializer},
    )
    def post(self, request: Request) -> Response:
        principal = Principal.of(request)
        if principal.pin:
            # a pinned key (or token) stays inside its one organization
            raise OrganizationMismatch(via=principal.via)
        serializer = OrganizationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.organization_create(
            owner=request.user, name=serializer.validated_data["name"]
        )
        return envelope(
            OrganizationSerializer(membership).data,
            message="Organization created",
            status=status.HTTP_201_CREATED,
        )


class OrganizationDetailView(OrganizationAPIView):
    """GET, PATCH, DELETE /api/user/organizations/{organizationId}

    DELETE is for the owner's browser session only, with the organization's name repeated as
    {"confirm": "<name>"}."""

    required_scopes = {
        "GET": "organizations:read",
        "PATCH": "organizations:write",
        "DELETE": "",  # a session only, and its owner only: checked below
    }
    schema_delete_body = True

    def get_permissions(self) -> list:
        permissions = super().get_permissions()
        if self.request.method == "DELETE":
            permissions.append(SessionOnly())
        return permissions

    @extend_schema(operation_id="getOrganization", responses=OrganizationSerializer)
    def get(self, request: Request, organization_id: str) -> Response:
        return envelope(
            OrganizationSerializer(self.get_membership()).data, message="Organization fetched"
        )

    @extend_schema(
        operation_id="updateOrganization",
        request=OrganizationInputSerializer,
        responses=OrganizationSerializer,
    )
    def patch(self, request: Request, organization_id: str) -> Response:
        # A partial update, as PATCH is: a field left out keeps its value.
        serializer = OrganizationInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "name" in serializer.validated_data:
            services.organization_update(
                organization=self.organization,
                name=serializer.validated_data["name"],
                actor=request.user,
            )
        return envelope(
            OrganizationSerializer(self.get_membership()).data, message="Organization updated"
        )

    @extend_schema(
        operation_id="deleteOrganization",
        request=OrganizationDeleteSerializer,
        responses={200: DeletedSerializer},
    )
    def delete(self, request: Request, organization_id: str) -> Response:
        serializer = OrganizationDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = self.get_membership()
        if serializer.validated_data["confirm"] != self.organization.name:
            raise ValidationError({"confirm": ["Type the organization's name exactly."]})
        services.organization_delete(actor=membership, request=request)
        return envelope({"id": organization_id}, message="Organization deleted")


class MemberListView(OrganizationAPIView):
    """GET /api/user/organizations/{organizationId}/members"""

    required_scopes = {"GET": "members:read"}

    @paginated(MemberSerializer, operation_id="listMembers")
    def get(self, request: Request, organization_id: str) -> Response:
        members = Membership.objects.filter(organization_id=self.organization_id).select_related(
            "user"
        )
        return paginate(request, members, MemberSerializer, message="Members fetched")


class MemberDetailView(OrganizationAPIView):
    """PATCH, DELETE /api/user/organizations/{organizationId}/members/{userId}

    Owners manage everyone, admins manage members and admins (never owners, and give no one
    the owner role); an organization keeps at least one owner (409 LAST_OWNER)."""

    required_scopes = {"PATCH": "members:write", "DELETE": "members:write"}
    schema_conflicts = (409,)

    @extend_schema(
        operation_id="updateMember", request=MemberRoleSerializer, responses=MemberSerializer
    )
    def patch(self, request: Request, organization_id: str, user_id: str) -> Response:
        # A partial update, as PATCH is: no role leaves the member as they are.
        serializer = MemberRoleSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        member = services.member_role_set(
            actor=self.get_membership(),
            user_id=user_id,
            role=serializer.validated_data.get("role"),
            request=request,
        )
        return envelope(MemberSerializer(member).data, message="Member updated")

    @extend_schema(operation_id="removeMember", responses={200: MemberRemovedSerializer})
    def delete(self, request: Request, organization_id: str, user_id: str) -> Response:
        services.member_remove(actor=self.get_membership(), user_id=user_id, request=request)
        return envelope({"userId": user_id}, message="Member removed")


class LeaveView(OrganizationAPIView):
    """POST /api/user/organizations/{organizationId}/leave: any member leaves (a key needs
    members:write); the only owner cannot (409 LAST_OWNER)."""

    required_scopes = {"POST": "members:write"}
    open_to_every_role = True
    schema_conflicts = (409,)

    @extend_schema(operation_id="leaveOrganization", request=None, responses=LeftSerializer)
    def post(self, request: Request, organization_id: str) -> Response:
        services.membership_leave(membership=self.get_membership(), request=request)
        return envelope({"organizationId": organization_id}, message="Left the organization")


class OwnershipTransferView(OrganizationAPIView):
    """POST /api/user/organizations/{organizationId}/transfer-ownership {"userId"}: an owner
    makes a member owner and becomes an admin."""

    required_scopes = {"POST": "members:write"}

    @extend_schema(
        operation_id="transferOwnership",
        request=OwnershipTransferSerializer,
        responses=MemberSerializer,
    )
    def post(self, request: Request, organization_id: str) -> Response:
        serializer = OwnershipTransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id = serializer.validated_data["userId"].upper()
        membership = self.get_membership()
        if membership.role != Role.OWNER:
            raise InsufficientRole()
        if user_id == membership.user_id:
            raise ValidationError({"userId": ["You are already an owner: name another member."]})
        member = services.ownership_transfer(actor=membership, user_id=user_id, request=request)
        return envelope(MemberSerializer(member).data, message="Ownership transferred")


class ProjectListView(OrganizationAPIView):
    """GET, POST /api/user/organizations/{organizationId}/projects"""

    required_scopes = {"GET": "projects:read", "POST": "projects:write"}

    @paginated(ProjectSerializer, operation_id="listProjects")
    def get(self, request: Request, organization_id: str) -> Response:
        projects = Project.objects.filter(organization_id=self.organization_id)
        return paginate(request, projects, project_representation, message="Projects fetched")

    @extend_schema(
        operation_id="createProject",
        request=ProjectSerializer,
        responses={201: ProjectSerializer},
    )
    def post(self, request: Request, organization_id: str) -> Response:
        serializer = ProjectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_create(
            organization=self.organization,
            created_by=request.user,
            name=serializer.validated_data["name"],
            description=serializer.validated_data.get("description", ""),
        )
        return envelope(
            ProjectSerializer(project).data,
            message="Project created",
            status=status.HTTP_201_CREATED,
        )


class ProjectDetailView(OrganizationAPIView):
    """GET, PATCH, DELETE /api/user/organizations/{organizationId}/projects/{projectId}

    A project asked for through another organization's path is 404: the lookup is always
    confined to the organization the gate admitted.
    """

    required_scopes = {
        "GET": "projects:read",
        "PATCH": "projects:write",
        "DELETE": "projects:write",
    }

    def get_project(self, project_id: str) -> Project:
        project = Project.objects.filter(
            organization_id=self.organization_id, pk=project_id
        ).first()
        if project is None:
            raise NotFound("Project not found.")
        return project

    @extend_schema(operation_id="getProject", responses=ProjectSerializer)
    def get(self, request: Request, organization_id: str, project_id: str) -> Response:
        return envelope(
            ProjectSerializer(self.get_project(project_id)).data, message="Project fetched"
        )

    @extend_schema(
        operation_id="updateProject", request=ProjectSerializer, responses=ProjectSerializer
    )
    def patch(self, request: Request, organization_id: str, project_id: str) -> Response:
        project = self.get_project(project_id)
        serializer = ProjectSerializer(project, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = services.project_update(
            project=project,
            name=serializer.validated_data.get("name"),
            description=serializer.validated_data.get("description"),
        )
        return envelope(ProjectSerializer(project).data, message="Project updated")

    @extend_schema(operation_id="deleteProject", responses={200: DeletedSerializer})
    def delete(self, request: Request, organization_id: str, project_id: str) -> Response:
        project = self.get_project(project_id)
        services.project_delete(project=project)
        return envelope({"id": project_id}, message="Project deleted")


class AggregateView(OrganizationAPIView):
    """POST /api/user/organizations/{organizationId}/aggregate {"entity": …}: a count.

    The scope needed depends on the entity counted: projects:read, members:read or
    api-keys:read.
    """

    ENTITY_SCOPES = {
        "projects": "projects:read",
        "members": "members:read",
        "api_keys": "api-keys:read",
    }
    schema_scopes = ENTITY_SCOPES.values()

    def get_required_scope(self, request: Request) -> str | None:
        """The scope of the entity named in the body. A body that names none the catalogue
        knows needs no scope here: the handler answers it with 400, as for anyone."""
        if request.method != "POST":
            return None
        entity = request.data.get("entity") if isinstance(request.data, dict) else None
        return self.ENTITY_SCOPES.get(entity, "") if isinstance(entity, str) else ""

    @extend_schema(
        operation_id="aggregate",
        request=AggregateSerializer,
        responses=AggregateResultSerializer,
    )
    def post(self, request: Request, organization_id: str) -> Response:
        serializer = AggregateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entity = serializer.validated_data["entity"]
        organization_id = self.organization_id
        if entity == "projects":
            count = Project.objects.filter(organization_id=organization_id).count()
        elif entity == "members":
            count = Membership.objects.filter(organization_id=organization_id).count()
        else:
            count = ApiKey.objects.active().filter(organization_id=organization_id).count()
        return envelope({"entity": entity, "count": count}, message="Aggregate computed")


class SubscriptionView(OrganizationAPIView):
    """GET /api/user/organizations/{organizationId}/subscription: the plan and its limits."""

    required_scopes = {"GET": "subscription:read"}

    @extend_schema(operation_id="getSubscription", responses=SubscriptionSerializer)
    def get(self, request: Request, organization_id: str) -> Response:
        _organization_id, plan = self.organization_plan()
        budgets = plan_budgets(plan)
        return envelope(
            {
                "plan": plan,
                "limits": {
                    name: {"limit": rate.limit, "windowSeconds": rate.window}
                    for name, rate in (
                        ("perKey", budgets["key"]),
                        ("organization", budgets["organization"]),
                    )
                },
            },
            message="Subscription fetched",
        )
