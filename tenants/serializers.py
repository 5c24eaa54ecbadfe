"""Organization, member and project shapes, and their input validation."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.converters import UlidConverter
from api.envelope import format_datetime
from api.fields import Timestamp
from tenants.models import Membership, Project, Role


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
