"""API key input validation and the public shape of a key (never its secret or digest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from access import scopes
from api.errors import NON_FIELD
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


def known_scopes(value: list[str]) -> list[str]:
    """`value` if every scope in it is in the catalogue; else the error lists the valid ones."""
    unknown = [scope for scope in value if not scopes.is_known(scope)]
    if unknown:
        valid = ", ".join(entry["scope"] for entry in scopes.catalogue())
        raise serializers.ValidationError(
            f"Unknown scope(s): {', '.join(unknown)}. Valid scopes: {valid}."
        )
    return value


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
        return known_scopes(value)

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


FIXED_AT_CREATION = frozenset({"expiresIn", "expiresAt", "metadata", "organizationId"})
FIXED_MESSAGE = "Fixed at creation: issue a new key instead."


class ApiKeyEditSerializer(serializers.Serializer):
    """A key's new name, new scopes, or both; nothing else (the pin and expiry are fixed)."""

    name = serializers.CharField(max_length=100, required=False)
    scopes = BoundedListField(
        child=ScopeNameField(), allow_empty=False, min_length=1, max_length=64, required=False
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Every field the body names that cannot be edited is an error of its own, reported
        # with the errors of the fields that can.
        errors: dict[str, Any] = {}
        if isinstance(data, Mapping):
            for field in sorted(set(data) - set(self.fields))[:20]:
                errors[str(field)[:64]] = [
                    FIXED_MESSAGE
                    if field in FIXED_AT_CREATION
                    else "Not a field that can be edited: send name, scopes or both."
                ]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**exc.detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        if not value:
            raise serializers.ValidationError({NON_FIELD: ["Send name, scopes or both."]})
        return value

    def validate_scopes(self, value: list[str]) -> list[str]:
        return known_scopes(value)


# The longest the previous secret of a rolled key may keep working: 7 days.
MAX_ROLL_OVERLAP = 7 * 24 * 60 * 60


class ApiKeyRollSerializer(serializers.Serializer):
    """How long a rolled key's previous secret keeps working."""

    expiresOldIn = StrictIntegerField(
        min_value=0,
        max_value=MAX_ROLL_OVERLAP,
        help_text="Seconds the previous secret keeps working (0: it stops now; at most 7 days).",
    )


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
