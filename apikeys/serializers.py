"""API key input validation and the public shape of a key (never its secret or digest)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from access import scopes
from api.fields import BoundedListField, Timestamp
from apikeys import conf
from apikeys.models import ApiKey


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, as JSON Schema counts them (3600 or 3600.0): no strings, booleans or
    fractions."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ScopeNameField(serializers.CharField):
    """A scope name: one of the catalogue's (GET /api/scopes), wildcards included."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)


class MetadataSerializer(serializers.Serializer):
    organizationId = serializers.CharField(max_length=26, required=False, allow_null=True)


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expiresIn = StrictIntegerField(required=False, allow_null=True)
    scopes = BoundedListField(
        child=ScopeNameField(), allow_empty=False, min_length=1, max_length=64
    )
    metadata = MetadataSerializer(required=False, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # The bounds are settings, read when the form is built; the schema shows them too.
        fields["expiresIn"].min_value = conf.setting("MIN_EXPIRES_IN")
        fields["expiresIn"].max_value = conf.setting("MAX_EXPIRES_IN")
        return fields

    def validate_expiresIn(self, value: int | None) -> int | None:
        if value is None:
            return None
        low, high = conf.setting("MIN_EXPIRES_IN"), conf.setting("MAX_EXPIRES_IN")
        if not low <= value <= high:
            raise serializers.ValidationError(
                f"Must be between {low} and {high} seconds, or omitted for no expiry."
            )
        return value

    def validate_scopes(self, value: list[str]) -> list[str]:
        unknown = [scope for scope in value if not scopes.is_known(scope)]
        if unknown:
            valid = ", ".join(entry["scope"] for entry in scopes.catalogue())
            raise serializers.ValidationError(
                f"Unknown scope(s): {', '.join(unknown)}. Valid scopes: {valid}."
            )
        return value

    def organization_id(self) -> str | None:
        metadata = self.validated_data.get("metadata") or {}
        organization_id = metadata.get("organizationId")
        return organization_id.upper() if organization_id else None


class KeyIdSerializer(serializers.Serializer):
    keyId = serializers.CharField(max_length=40)


class ApiKeyRenameSerializer(KeyIdSerializer):
    name = serializers.CharField(max_length=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        fixed = sorted({"scopes", "expiresIn", "metadata"} & set(self.initial_data))
        if fixed:
            raise serializers.ValidationError(
                {field: ["Fixed at creation: issue a new key instead."] for field in fixed}
            )
        return attrs


class ApiKeyQuerySerializer(serializers.Serializer):
    id = serializers.CharField(max_length=40)


class ApiKeySerializer(serializers.ModelSerializer):
    organizationId = serializers.CharField(source="organization_id", allow_null=True)
    expiresAt = Timestamp(source="expires_at", allow_null=True)
    lastUsedAt = Timestamp(source="last_used_at", allow_null=True)
    createdAt = Timestamp(source="created_at")
    revokedAt = Timestamp(source="revoked_at", allow_null=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "start",
            "scopes",
            "organizationId",
            "expiresAt",
            "lastUsedAt",
            "createdAt",
            "revokedAt",
            "status",
        ]
        read_only_fields = fields

    def get_status(self, key: ApiKey) -> str:
        return key.status()


class ApiKeyCreatedSerializer(serializers.Serializer):
    """A new key, with the key itself: this answer is the only one that ever holds it."""

    id = serializers.CharField()
    name = serializers.CharField()
    key = serializers.CharField(help_text="The key. Shown once: store it now.")
    start = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    organizationId = serializers.CharField(allow_null=True)
    expiresAt = Timestamp(allow_null=True)
    createdAt = Timestamp()


class ScopeSerializer(serializers.Serializer):
    scope = serializers.CharField()
    resource = serializers.CharField()
    description = serializers.CharField()
