"""API key input validation and the public shape of a key (never its secret or digest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from access import scopes
from api.errors import NON_FIELD
from api.fields import BoundedListField, Timestamp
from apikeys import conf
from apikeys import policy as key_policy
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


_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = (
    f"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}"
    f"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    f"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    f"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:))"
)
# An IPv4 or IPv6 address with an optional prefix length: what the schema promises to accept.
CIDR_PATTERN = (
    rf"^(?:{_IPV4}(?:/(?:3[0-2]|[12]\d|\d))?|{_IPV6}(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?)$"
)


NOT_A_NETWORK = "Is not an IP network such as 203.0.113.0/24."


class CidrListField(BoundedListField):
    """A list of IP networks in CIDR notation (a bare address is its own /32 or /128), given
    back in canonical form without duplicates."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "child",
            serializers.RegexField(
                CIDR_PATTERN,
                max_length=64,
                error_messages={"invalid": NOT_A_NETWORK},
            ),
        )
        kwargs.setdefault("allow_empty", False)
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("max_length", key_policy.MAX_CIDRS)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            # An item's error is said of the list (its first only), naming a bad network.
            raise serializers.ValidationError(
                [
                    f"{str(data[int(index)])[:64]!r} {NOT_A_NETWORK[0].lower()}{NOT_A_NETWORK[1:]}"
                    if messages[0] == NOT_A_NETWORK
                    else str(messages[0])
                    for index, messages in exc.detail.items()
                ]
            ) from None
        try:
            return key_policy.normalized_cidrs(values)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class MetadataSerializer(serializers.Serializer):
    organizationId = serializers.CharField(max_length=26, required=False, allow_null=True)


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expiresIn = StrictIntegerField(required=False, allow_null=True)
    scopes = BoundedListField(
        child=ScopeNameField(), allow_empty=False, min_length=1, max_length=64
    )
    metadata = MetadataSerializer(required=False, allow_null=True)
    allowedCidrs = CidrListField(
        required=False,
        allow_null=True,
        help_text="Networks the key may be used from (CIDR notation); omitted: anywhere.",
    )

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
        fixed = sorted(
            {"scopes", "expiresIn", "metadata", "allowedCidrs"} & set(self.initial_data)
        )
        if fixed:
            raise serializers.ValidationError(
                {field: ["Fixed at creation: issue a new key instead."] for field in fixed}
            )
        return attrs


FIXED_AT_CREATION = frozenset(
    {"expiresIn", "expiresAt", "metadata", "organizationId", "allowedCidrs"}
)
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
    allowedCidrs = serializers.ListField(
        source="allowed_cidrs", child=serializers.CharField(), read_only=True
    )
    expiresAt = Timestamp(source="expires_at", allow_null=True)
    lastUsedAt = Timestamp(source="last_used_at", allow_null=True)
    lastUsedIp = serializers.IPAddressField(
        source="last_used_ip",
        allow_null=True,
        read_only=True,
        help_text="The address of the latest use, folded in from the usage counters every few "
        "minutes.",
    )
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
            "allowedCidrs",
            "expiresAt",
            "lastUsedAt",
            "lastUsedIp",
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
    allowedCidrs = serializers.ListField(child=serializers.CharField())
    expiresAt = Timestamp(allow_null=True)
    createdAt = Timestamp()


class ScopeSerializer(serializers.Serializer):
    scope = serializers.CharField()
    resource = serializers.CharField()
    description = serializers.CharField()


# The longest lifetime and idle time a key policy may name: 10 years.
MAX_POLICY_DAYS = 3650


class KeyPolicyInputSerializer(serializers.Serializer):
    """A change to an organization's key policy: the rules named change, the others keep their
    value; null (or false) turns a rule off."""

    requireExpiry = serializers.BooleanField(required=False)
    maxLifetimeDays = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_POLICY_DAYS
    )
    allowedScopes = BoundedListField(
        child=ScopeNameField(),
        required=False,
        allow_null=True,
        allow_empty=False,
        min_length=1,
        max_length=64,
        help_text="Keys may carry only scopes these cover; null: any scope.",
    )
    maxKeysPerMember = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=1000
    )
    allowedCidrs = CidrListField(
        required=False,
        allow_null=True,
        help_text="Keys acting in the organization are refused from any other address.",
    )
    staleAfterDays = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_POLICY_DAYS
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            unknown = sorted(str(field)[:64] for field in set(data) - set(self.fields))[:20]
            if unknown:
                rules = ", ".join(key_policy.RULES)
                raise serializers.ValidationError(
                    {field: [f"Not a key policy rule: send {rules}."] for field in unknown}
                )
        value = super().to_internal_value(data)
        if not value:
            raise serializers.ValidationError({NON_FIELD: ["Send at least one rule."]})
        return value

    def validate_allowedScopes(self, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(known_scopes(value)))


class KeyPolicySerializer(serializers.Serializer):
    """An organization's key policy: every rule, those that are off as false or null."""

    organizationId = serializers.CharField()
    requireExpiry = serializers.BooleanField()
    maxLifetimeDays = serializers.IntegerField(allow_null=True)
    allowedScopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
    maxKeysPerMember = serializers.IntegerField(allow_null=True)
    allowedCidrs = serializers.ListField(child=serializers.CharField(), allow_null=True)
    staleAfterDays = serializers.IntegerField(allow_null=True)


class ApiKeyOwnerSerializer(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.CharField()
    fullName = serializers.CharField(source="full_name")


class OrganizationApiKeyFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["active", "all"],
        default="active",
        help_text="active (default): keys neither revoked nor expired, those revoked in this "
        "organization included; all: every key, revoked and expired ones too.",
    )


class OrganizationApiKeySerializer(serializers.ModelSerializer):
    """A key that acts in an organization, as its owners and admins see it: whose it is, and
    when and from where it was last used. Never its secret, digest or lookup id."""

    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    organizationId = serializers.CharField(source="organization_id", allow_null=True)
    owner = ApiKeyOwnerSerializer(source="user")
    createdAt = Timestamp(source="created_at")
    expiresAt = Timestamp(source="expires_at", allow_null=True)
    lastUsedAt = Timestamp(source="last_used_at", allow_null=True)
    lastUsedIp = serializers.CharField(source="last_used_ip", allow_null=True)
    status = serializers.SerializerMethodField()
    revokedHere = serializers.SerializerMethodField(
        help_text="An unpinned key an owner or admin revoked in this organization: it is "
        "refused here and keeps working elsewhere."
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "start",
            "scopes",
            "organizationId",
            "owner",
            "createdAt",
            "expiresAt",
            "lastUsedAt",
            "lastUsedIp",
            "status",
            "revokedHere",
        ]
        read_only_fields = fields

    def get_status(self, key: ApiKey) -> str:
        return key.status()

    def get_revokedHere(self, key: ApiKey) -> bool:
        # The view names the organization the key is shown in.
        return self.context["organization_id"] in key.revoked_in
