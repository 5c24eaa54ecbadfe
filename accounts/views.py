"""Account endpoints: sign-up, sign-in, sign-out, email verification, password reset and
change, the current user."""

from __future__ import annotations

import re

from django.http import HttpResponse
from django.shortcuts import redirect
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from access.gate import tenancy_snapshot
from access.permissions import ScopePermission, SessionOnly
from access.principal import Principal
from access.scopes import scope_grants
from accounts import services
from accounts.models import User
from accounts.serializers import (
    AuthStatusSerializer,
    ChangePasswordSerializer,
    RequestPasswordResetSerializer,
    ResendVerificationSerializer,
    ResetPasswordSerializer,
    SecuredAccountSerializer,
    SignInSerializer,
    SignUpSerializer,
    UserSerializer,
    VerifyEmailSerializer,
    user_representation,
)
from api.base import ApiView
from api.envelope import envelope, format_datetime


def user_data(user: User, request: Request | None = None) -> dict:
    """The user as the API shows it, with their organization count: from the caller's tenancy
    snapshot when a read has one (no query), else counted."""
    count = getattr(user, "organization_count", None)
    if count is None and request is not None:
        tenancy = tenancy_snapshot(request)
        count = tenancy.membership_count if tenancy is not None else None
    if count is None:
        count = user.memberships.count()
    return user_representation(user, count)


class SignUpView(ApiView):
    """POST /api/auth/sign-up/email {email, password, name, invitationToken?}"""

    permission_classes = [AllowAny]
    rate_limits = [("SIGNUP", "ip")]
    schema_conflicts = (409,)

    @extend_schema(operation_id="signUp", request=SignUpSerializer, responses=UserSerializer)
    def post(self, request: Request) -> Response:
        serializer = SignUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_sign_up(
            request=request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
            full_name=serializer.validated_data["name"],
            invitation_token=serializer.validated_data["invitationToken"],
        )
        user.organization_count = 1
        message = (
            "Account created. Check your email to verify your address."
            if not user.is_verified
            else "Account created and invitation accepted."
        )
        return envelope(user_data(user), message=message)


class SignInView(ApiView):
    """POST /api/auth/sign-in/email {email, password}: sets the session cookie."""

    permission_classes = [AllowAny]
    rate_limits = [("SIGNIN", "ip")]

    @extend_schema(operation_id="signIn", request=SignInSerializer, responses=UserSerializer)
    def post(self, request: Request) -> Response:
        serializer = SignInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_sign_in(
            request=request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        return envelope(user_data(user), message="Signed in")


class SignOutView(ApiView):
    """POST /api/auth/sign-out: ends the browser session."""

    required_scopes = {"POST": ""}
    permission_classes = [ScopePermission, SessionOnly]

    @extend_schema(operation_id="signOut", request=None, responses={200: None})
    def post(self, request: Request) -> Response:
        services.user_sign_out(request=request._request)
        return envelope(None, message="Signed out")


class SendVerificationEmailView(ApiView):
    """POST /api/auth/send-verification-email {email?}: always the same answer, so it reveals
    nothing about which addresses have accounts."""

    permission_classes = [AllowAny]
    rate_limits = [("VERIFY_EMAIL", "ip")]

    @extend_schema(
        operation_id="sendVerificationEmail",
        request=ResendVerificationSerializer,
        responses={200: None},
    )
    def post(self, request: Request) -> Response:
        serializer = ResendVerificationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data.get("email")
        if email is None and request.user.is_authenticated:
            email = request.user.email
        if email:
            services.verification_email_request(request=request._request, email=email)
        return envelope(
            None,
            message="If that address belongs to an unverified account, a new link is on its way.",
        )


class RequestPasswordResetView(ApiView):
    """POST /api/auth/request-password-reset {email}: always the same answer, so it reveals
    nothing about which addresses have accounts."""

    permission_classes = [AllowAny]
    rate_limits = [("PASSWORD_RESET", "ip")]

    @extend_schema(
        operation_id="requestPasswordReset",
        request=RequestPasswordResetSerializer,
        responses={200: None},
    )
    def post(self, request: Request) -> Response:
        serializer = RequestPasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(
            request=request._request, email=serializer.validated_data["email"]
        )
        return envelope(
            None, message="If that address has an account, a reset link is on its way."
        )


class ResetPasswordView(ApiView):
    """POST /api/auth/reset-password {token, newPassword}: sets the password from an emailed
    link; every session of the user ends."""

    permission_classes = [AllowAny]
    rate_limits = [("PASSWORD_RESET", "ip")]

    @extend_schema(
        operation_id="resetPassword", request=ResetPasswordSerializer, responses={200: None}
    )
    def post(self, request: Request) -> Response:
        serializer = ResetPasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.password_reset_confirm(
            token=serializer.validated_data["token"],
            new_password=serializer.validated_data["newPassword"],
            revoke_keys=serializer.validated_data["revokeKeys"],
        )
        services.user_sign_out_if(request=request, user=user)
        return envelope(None, message="Password reset. Sign in with your new password.")


class ChangePasswordView(ApiView):
    """POST /api/auth/change-password {currentPassword, newPassword}: this session stays
    signed in (with a new key); every other session ends."""

    required_scopes = {"POST": ""}
    permission_classes = [ScopePermission, SessionOnly]

    @extend_schema(
        operation_id="changePassword", request=ChangePasswordSerializer, responses={200: None}
    )
    def post(self, request: Request) -> Response:
        serializer = ChangePasswordSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        services.password_change(
            request=request._request,
            current_password=serializer.validated_data["currentPassword"],
            new_password=serializer.validated_data["newPassword"],
        )
        return envelope(None, message="Password changed. Your other sessions are signed out.")


# What a verification token can look like (a signed value: base64url and colons); anything
# else is not passed on into a URL.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_\-:]{1,512}")


class VerifyEmailView(ApiView):
    """POST /api/auth/verify-email {token}: the account is the address owner's, verify it.
    {token, "secure": true}: the owner did not create it; every session ends, every key is
    revoked, the address is verified, and a password reset token comes back to choose a new
    password with (POST /api/auth/reset-password).

    A GET never changes anything (mail scanners open links): a browser following an old link
    to here is sent to the page that asks which it is.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    rate_limits = [("VERIFY_EMAIL", "ip")]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        # A browser asks for text/html only; it gets a redirect to a page, not a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(exclude=True)  # a browser's way to the page, not part of the JSON API
    def get(self, request: Request) -> Response | HttpResponse:
        token = request.query_params.get("token", "")
        if "text/html" in request.META.get("HTTP_ACCEPT", ""):
            if isinstance(token, str) and TOKEN_SHAPE.fullmatch(token):
                return redirect("dashboard:verify-email", token=token)
            return redirect("dashboard:verify-email-choice")  # says the link is not valid
        raise MethodNotAllowed("GET")

    @extend_schema(
        operation_id="verifyEmail",
        request=VerifyEmailSerializer,
        responses=PolymorphicProxySerializer(
            component_name="VerifyEmailResult",
            serializers=[UserSerializer, SecuredAccountSerializer],
            resource_type_field_name=None,
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = VerifyEmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = serializer.validated_data["token"]
        if not serializer.validated_data["secure"]:
            user = services.email_verify(token=token)
            return envelope(user_data(user), message="Email verified")
        user, reset_token = services.email_secure(token=token)
        services.user_sign_out_if(request=request, user=user)
        response = envelope(
            {"user": user_data(user), "passwordResetToken": reset_token},
            message="Account secured: every session ended and every key revoked. Choose a new "
            "password with the reset token.",
        )
        response["Cache-Control"] = "no-store"  # the reset token is shown in this answer only
        return response


class MeView(ApiView):
    """GET /api/user/me"""

    required_scopes = {"GET": "user:read"}

    @extend_schema(operation_id="getMe", responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return envelope(user_data(request.user, request), message="User fetched successfully")


class AuthStatusView(ApiView):
    """GET /api/auth/status: whether the credential works and how it authenticated.

    Any valid credential may ask. The profile (`user`) is shown only to a session or to a key
    with `user:read`; a key without it sees only its own metadata.
    """

    required_scopes = {"GET": ""}

    @extend_schema(operation_id="getAuthStatus", responses=AuthStatusSerializer)
    def get(self, request: Request) -> Response:
        key = request.auth
        principal = Principal.of(request)
        data: dict = {"authenticated": True, "authMethod": principal.via}
        if key is None or scope_grants(principal.scopes, "user:read"):
            data["user"] = user_data(request.user, request)
        if principal.via == "oauth":
            data["oauthToken"] = {
                "clientId": key.application.client_id if key.application else None,
                "application": key.application.name if key.application else "",
                "scopes": principal.scopes,
                "organizationId": principal.pin,
                "expiresAt": format_datetime(key.expires),
            }
            key = None
        data["apiKey"] = (
            None
            if key is None
            else {
                "id": key.id,
                "name": key.name,
                "scopes": key.scopes,
                "organizationId": Principal.of(request).pin,
                "expiresAt": format_datetime(key.expires_at),
            }
        )
        return envelope(data, message="Authenticated", authenticated=True)
