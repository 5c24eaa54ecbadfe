"""Account input validation and the public shape of a user."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.identity import domain_is_ambiguous, nfkc_changes
from accounts.models import User
from accounts.services import password_problems
from accounts.tokens import user_for_password_reset_token
from api.envelope import format_datetime
from api.errors import InvalidToken
from api.fields import EmailField, Timestamp

PASSWORD_MAX_LENGTH = 1024
LOOK_ALIKE_EMAIL = _(
    "Type the address in plain characters: it contains look-alike ones (such as fullwidth "
    "letters or a Kelvin sign for K)."
)


def _password_field() -> serializers.CharField:
    return serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)


class UserSerializer(serializers.ModelSerializer):
    """The user as `GET /api/user/me` shows it. Expects `organization_count` on the instance."""

    fullName = serializers.CharField(source="full_name")
    isVerified = serializers.BooleanField(source="is_verified")
    verifiedAt = Timestamp(source="verified_at", allow_null=True)
    isActive = serializers.BooleanField(source="is_active")
    lastLoginAt = Timestamp(source="last_login", allow_null=True)
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


def user_representation(user: User, organization_count: int) -> dict[str, Any]:
    """What UserSerializer renders, built directly: the API answers with it on every request
    for the current user, where building a serializer's fields would cost more than the rest
    of the request (a test keeps the two identical)."""
    return {
        "id": user.id,
        "email": user.email,
        "fullName": user.full_name,
        "handle": user.handle,
        "isVerified": user.is_verified,
        "verifiedAt": format_datetime(user.verified_at),
        "isActive": user.is_active,
        "lastLoginAt": format_datetime(user.last_login),
        "role": user.role,
        "organizationCount": organization_count,
        "createdAt": format_datetime(user.created_at),
        "updatedAt": format_datetime(user.updated_at),
    }


class SignUpSerializer(serializers.Serializer):
    email = EmailField(max_length=254)
    password = _password_field()
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    invitationToken = serializers.CharField(
        max_length=512,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text="The token of an invitation to this address: the account joins that "
        "organization, verified, instead of getting one of its own.",
    )

    def validate_email(self, value: str) -> str:
        # The account keeps the address as typed, and mail goes to it. A compatibility
        # look-alike (Kelvin sign, fullwidth letters, a decomposed accent) would have the same
        # key as the plain address, so it could not take another account, but it would put a
        # disguised address on show; refused, every address is written as its mailbox is known.
        if nfkc_changes(value) or domain_is_ambiguous(value):
            raise serializers.ValidationError(LOOK_ALIKE_EMAIL, code="look_alike")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Django's validators (length, common passwords, similarity to the email and name);
        # their messages go back to the client in the 400 body.
        candidate = User(email=attrs["email"], full_name=attrs["name"])
        problems = password_problems(attrs["password"], candidate)
        if problems:
            raise serializers.ValidationError({"password": problems})
        return attrs


class SignInSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = _password_field()


class ResendVerificationSerializer(serializers.Serializer):
    email = EmailField(max_length=254, required=False)


class VerifyEmailSerializer(serializers.Serializer):
    """{token, secure?}: `secure: true` when the address's owner did not create the account."""

    token = serializers.CharField(max_length=512)
    secure = serializers.BooleanField(required=False, default=False)


class RequestPasswordResetSerializer(serializers.Serializer):
    email = EmailField(max_length=254)


class ResetPasswordSerializer(serializers.Serializer):
    """{token, newPassword}. The token is checked first: with a bad token the answer is
    INVALID_TOKEN whatever the password, so nothing else is learnt from it."""

    # Any string: a blank or overlong token is just an invalid one (tokens.py refuses it).
    token = serializers.CharField(allow_blank=True, trim_whitespace=False)
    newPassword = _password_field()
    # Revoke every key of the account, not only those created before the address was proven.
    revokeKeys = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = user_for_password_reset_token(attrs["token"])
        if user is None:
            raise InvalidToken()
        problems = password_problems(attrs["newPassword"], user)
        if problems:
            raise serializers.ValidationError({"newPassword": problems})
        return attrs


class ChangePasswordSerializer(serializers.Serializer):
    """{currentPassword, newPassword}, for the user in context["user"]."""

    currentPassword = _password_field()
    newPassword = _password_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["newPassword"] == attrs["currentPassword"]:
            raise serializers.ValidationError(
                {"newPassword": ["The new password must be different from the current one."]}
            )
        problems = password_problems(attrs["newPassword"], self.context["user"])
        if problems:
            raise serializers.ValidationError({"newPassword": problems})
        return attrs


class SecuredAccountSerializer(serializers.Serializer):
    """The answer to securing an account: the user, and the one-time token to choose a new
    password with (shown in this answer only)."""

    user = UserSerializer()
    passwordResetToken = serializers.CharField()


class KeyMetadataSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    organizationId = serializers.CharField(allow_null=True)
    expiresAt = Timestamp(allow_null=True)


class OAuthTokenMetadataSerializer(serializers.Serializer):
    clientId = serializers.CharField(allow_null=True)
    application = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    organizationId = serializers.CharField(allow_null=True)
    expiresAt = Timestamp()


class AuthStatusSerializer(serializers.Serializer):
    """What GET /api/auth/status answers: `user` only for a session or a key with user:read."""

    authenticated = serializers.BooleanField()
    authMethod = serializers.ChoiceField(choices=["session", "api_key", "oauth"])
    user = UserSerializer(required=False)
    apiKey = KeyMetadataSerializer(allow_null=True)
    oauthToken = OAuthTokenMetadataSerializer(required=False)
