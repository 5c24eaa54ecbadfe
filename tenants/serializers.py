"""Organization, member and project shapes, and their input validation."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.identity import domain_is_ambiguous, nfkc_changes
from api.converters import UlidConverter
from api.envelope import format_datetime
from api.fields import EmailField, Timestamp
from tenants.models import Invitation, Membership, Project, Role


class OrganizationSerializer(serializers.Serializer):
    """An organization seen through the caller's membership (so it carries the caller's role)."""

    id = serializers.CharField(source="organization.id")
    name = serializers.CharField(source="organization.name")
    slug = serializers.CharField(source="organization.slug")
    role = serializers.CharField()
    createdAt = Timestamp(source="organization.created_at")
    updatedAt = Timestamp(source="organization.updated_at")


class OrganizationInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class OwnershipTransferSerializer(serializers.Serializer):
    userId = serializers.RegexField(
        rf"^{UlidConverter.regex}$", help_text="The member to make owner."
    )


class OrganizationDeleteSerializer(serializers.Serializer):
    confirm = serializers.CharField(
        trim_whitespace=False, help_text="The organization's name, exactly, to confirm."
    )


class LeftSerializer(serializers.Serializer):
    organizationId = serializers.CharField()


class MemberRemovedSerializer(serializers.Serializer):
    userId = serializers.CharField()


class MemberSerializer(serializers.ModelSerializer):
    userId = serializers.CharField(source="user.id")
    email = serializers.CharField(source="user.email")
    fullName = serializers.CharField(source="user.full_name")
    handle = serializers.CharField(source="user.handle")
    joinedAt = Timestamp(source="created_at")

    class Meta:
        model = Membership
        fields = ["userId", "email", "fullName", "handle", "role", "joinedAt"]
        read_only_fields = fields


class ProjectSerializer(serializers.ModelSerializer):
    organizationId = serializers.CharField(source="organization_id", read_only=True)
    createdBy = serializers.CharField(source="created_by_id", read_only=True, allow_null=True)
    createdAt = Timestamp(source="created_at")
    updatedAt = Timestamp(source="updated_at")

    class Meta:
        model = Project
        fields = [
            "id",
            "organizationId",
            "name",
            "description",
            "createdBy",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = ["id", "organizationId", "createdBy", "createdAt", "updatedAt"]
        extra_kwargs = {
            "name": {"max_length": 100},
            "description": {"max_length": 2000, "required": False, "allow_blank": True},
        }


def project_representation(project: Project) -> dict[str, Any]:
    """What ProjectSerializer renders, built directly for the lists (a test keeps the two
    identical)."""
    return {
        "id": project.id,
        "organizationId": project.organization_id,
        "name": project.name,
        "description": project.description,
        "createdBy": project.created_by_id,
        "createdAt": format_datetime(project.created_at),
        "updatedAt": format_datetime(project.updated_at),
    }


class AggregateSerializer(serializers.Serializer):
    entity = serializers.ChoiceField(choices=["projects", "members", "api_keys"])


class DeletedSerializer(serializers.Serializer):
    id = serializers.CharField()


class AggregateResultSerializer(serializers.Serializer):
    entity = serializers.ChoiceField(choices=["projects", "members", "api_keys"])
    count = serializers.IntegerField(min_value=0)


class LimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    windowSeconds = serializers.IntegerField()


class SubscriptionLimitsSerializer(serializers.Serializer):
    perKey = LimitSerializer()
    organization = LimitSerializer()


class SubscriptionSerializer(serializers.Serializer):
    plan = serializers.CharField()
    limits = SubscriptionLimitsSerializer()


class InvitationCreateSerializer(serializers.Serializer):
    email = EmailField(max_length=254, help_text="The address to invite.")
    role = serializers.ChoiceField(
        choices=Role.choices,
        default=Role.MEMBER,
        help_text="The role the person gets on joining: never above the inviter's own.",
    )

    def validate_email(self, value: str) -> str:
        # Mail goes to the address as typed, and the account that accepts must have it: a
        # disguised spelling (fullwidth letters, a Kelvin sign) is refused as at sign-up.
        if nfkc_changes(value) or domain_is_ambiguous(value):
            raise serializers.ValidationError(
                "Type the address in plain characters: it contains look-alike ones.",
                code="look_alike",
            )
        return value


class InviterSerializer(serializers.Serializer):
    userId = serializers.CharField()
    email = serializers.CharField()
    fullName = serializers.CharField()


class InvitationSerializer(serializers.Serializer):
    """A pending (or expired, until it is sent again or withdrawn) invitation, as the
    organization's members see it."""

    id = serializers.CharField()
    email = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    status = serializers.ChoiceField(choices=["pending", "expired"])
    inviter = InviterSerializer(allow_null=True)
    createdAt = Timestamp()
    sentAt = Timestamp()
    expiresAt = Timestamp()


def invitation_representation(invitation: Invitation) -> dict[str, Any]:
    inviter = invitation.invited_by
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role,
        "status": "pending" if invitation.expires_at > timezone.now() else "expired",
        "inviter": None
        if inviter is None
        else {"userId": inviter.id, "email": inviter.email, "fullName": inviter.full_name},
        "createdAt": format_datetime(invitation.created_at),
        "sentAt": format_datetime(invitation.sent_at),
        "expiresAt": format_datetime(invitation.expires_at),
    }


class NameSerializer(serializers.Serializer):
    name = serializers.CharField()


class InvitationPreviewSerializer(serializers.Serializer):
    """What anyone holding an invitation link sees: the organization's name, the inviter's
    name and the role, nothing else."""

    organization = NameSerializer()
    inviter = NameSerializer(allow_null=True)
    role = serializers.ChoiceField(choices=Role.choices)


def invitation_preview(invitation: Invitation) -> dict[str, Any]:
    inviter = invitation.invited_by
    return {
        "organization": {"name": invitation.organization.name},
        "inviter": None if inviter is None else {"name": inviter.full_name or inviter.handle},
        "role": invitation.role,
    }


class InvitationWithdrawnSerializer(serializers.Serializer):
    id = serializers.CharField()
