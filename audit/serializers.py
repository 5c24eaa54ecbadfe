"""The public shape of an audit event, and the filters of its lists."""

from __future__ import annotations

from rest_framework import serializers

from api.fields import Timestamp
from audit.models import Action, AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    createdAt = Timestamp(source="created_at")
    actor = serializers.SerializerMethodField()
    apiKeyId = serializers.CharField(source="api_key_id", allow_null=True)
    organizationId = serializers.CharField(source="organization_id", allow_null=True)
    targetType = serializers.CharField(source="target_type")
    targetId = serializers.CharField(source="target_id")
    userAgent = serializers.CharField(source="user_agent")
    requestId = serializers.CharField(source="request_id")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "createdAt",
            "action",
            "actor",
            "apiKeyId",
            "organizationId",
            "targetType",
            "targetId",
            "ip",
            "userAgent",
            "requestId",
            "detail",
        ]
        read_only_fields = fields

    def get_actor(self, event: AuditEvent) -> dict | None:
        if event.actor is None:
            return None
        return {"id": event.actor.pk, "email": event.actor.email}


class AuditFilterSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.choices, required=False)
    actor = serializers.CharField(max_length=26, required=False)
