"""Account input validation and the public shape of a user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User
from config.fields import EmailField, Timestamp

PASSWORD_MAX_LENGTH = 1024


def _password_field() -> serializers.CharField:
    return serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)


class UserSerializer(serializers.ModelSerializer):
    """The user as `GET /api/user/me` shows it. Expects `organization_count` on the instance."""

    fullName = serializers.CharField(source="full_name")
    isVerified = serializers.BooleanField(source="is_verified")
    verifiedAt = Timestamp(source="verified_at")
    isActive = serializers.BooleanField(source="is_active")
    lastLoginAt = Timestamp(source="last_login")
    organizationCount = serializers.IntegerField(source="organization_count")
    createdAt = Timestamp(source="created_at")
    updatedAt = Timestamp(source="updated_at")

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "fullName",
            "handle",
            "isVerified",
            "verifiedAt",
            "isActive",
            "lastLoginAt",
            "role",
            "organizationCount",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = fields


class SignUpSerializer(serializers.Serializer):
    email = EmailField(max_length=254)
    password = _password_field()
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Django's validators (length, common passwords, similarity to the email and name);
        # their messages go back to the client in the 400 body.
        candidate = User(email=attrs["email"], full_name=attrs["name"])
        try:
            validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class SignInSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = _password_field()


class ResendVerificationSerializer(serializers.Serializer):
    email = EmailField(max_length=254, required=False)


class VerifyEmailSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
