"""Account endpoints: sign-up, sign-in, sign-out, email verification, password reset and
change, the current user."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.models import User
from accounts.serializers import (
    ChangePasswordSerializer,
    RequestPasswordResetSerializer,
    ResendVerificationSerializer,
    ResetPasswordSerializer,
    SignInSerializer,
    SignUpSerializer,
    UserSerializer,
    VerifyEmailSerializer,
)
from config.api import ApiView
from config.envelope import envelope, format_datetime
from config.errors import InvalidToken, SessionRequired


def user_data(user: User) -> dict:
    """The user as the API shows it, with their organization count."""
    if not hasattr(user, "organization_count"):
        user.organization_count = user.memberships.count()
    return UserSerializer(user).data


def authentication_method(request: Request) -> str:
    return "session" if request.auth is None else "api_key"


class SignUpView(ApiView):
    """POST /api/auth/sign-up/email {email, password, name}"""

    permission_classes = [AllowAny]
    rate_limits = [("SIGNUP", "ip")]

    def post(self, request: Request) -> Response:
        serializer = SignUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_sign_up(
            request=request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
            full_name=serializer.validated_data["name"],
        )
        user.organization_count = 1
        return envelope(
            user_data(user),
            message="Account created. Check your email to verify your address.",
        )


class SignInView(ApiView):
    """POST /api/auth/sign-in/email {email, password}: sets the session cookie."""

    permission_classes = [AllowAny]
    rate_limits = [("SIGNIN", "ip")]

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

    def post(self, request: Request) -> Response:
        if request.auth is not None:
            raise SessionRequired()
        services.user_sign_out(request=request._request)
        return envelope(None, message="Signed out")


class SendVerificationEmailView(ApiView):
    """POST /api/auth/send-verification-email {email?}: always the same answer, so it reveals
    nothing about which addresses have accounts."""

    permission_classes = [AllowAny]
    rate_limits = [("VERIFY_EMAIL", "ip")]

    def post(self, request: Request) -> Response:
        serializer = ResendVerificationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data.get("email")
        if email is None and request.user.is_authenticated:
            email = request.user.email
        if email:
            services.verification_email_resend(request=request._request, email=email)
        return envelope(
            None,
            message="If that address belongs to an unverified account, a new link is on its way.",
        )


class RequestPasswordResetView(ApiView):
    """POST /api/auth/request-password-reset {email}: always the same answer, so it reveals
    nothing about which addresses have accounts."""

    permission_classes = [AllowAny]
    rate_limits = [("PASSWORD_RESET", "ip")]

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

    def post(self, request: Request) -> Response:
        serializer = ResetPasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(
            token=serializer.validated_data["token"],
            new_password=serializer.validated_data["newPassword"],
        )
        return envelope(None, message="Password reset. Sign in with your new password.")


class ChangePasswordView(ApiView):
    """POST /api/auth/change-password {currentPassword, newPassword}: this session stays
    signed in (with a new key); every other session ends."""

    required_scopes = {"POST": ""}

    def post(self, request: Request) -> Response:
        if request.auth is not None:
            raise SessionRequired()
        serializer = ChangePasswordSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        services.password_change(
            request=request._request,
            current_password=serializer.validated_data["currentPassword"],
            new_password=serializer.validated_data["newPassword"],
        )
        return envelope(None, message="Password changed. Your other sessions are signed out.")


class VerifyEmailView(ApiView):
    """GET /api/auth/verify-email?token=…

    JSON for API clients; a browser following the emailed link is sent to a page instead.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        # A browser asks for text/html only; it gets a redirect to a page, not a 406.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request) -> Response | HttpResponse:
        wants_page = "text/html" in request.META.get("HTTP_ACCEPT", "")
        serializer = VerifyEmailSerializer(data=request.query_params)
        if wants_page:
            verified = serializer.is_valid() and _verify(serializer.validated_data["token"])
            result = "verified" if verified else "invalid"
            return redirect(f"{reverse('email-verification-result')}?result={result}")
        serializer.is_valid(raise_exception=True)
        user = services.email_verify(token=serializer.validated_data["token"])
        return envelope(user_data(user), message="Email verified")


def _verify(token: str) -> bool:
    try:
        services.email_verify(token=token)
    except InvalidToken:
        return False
    return True


class MeView(ApiView):
    """GET /api/user/me"""

    required_scopes = {"GET": "user:read"}

    def get(self, request: Request) -> Response:
        return envelope(user_data(request.user), message="User fetched successfully")


class AuthStatusView(ApiView):
    """GET /api/auth/status: who the credential belongs to and how it authenticated."""

    required_scopes = {"GET": ""}

    def get(self, request: Request) -> Response:
        key = request.auth
        return envelope(
            {
                "authenticated": True,
                "authMethod": authentication_method(request),
                "user": user_data(request.user),
                "apiKey": None
                if key is None
                else {
                    "id": key.id,
                    "name": key.name,
                    "scopes": key.scopes,
                    "organizationId": key.organization_id,
                    "expiresAt": format_datetime(key.expires_at),
                },
            },
            message="Authenticated",
            authenticated=True,
        )


def email_verification_result(request: HttpRequest) -> HttpResponse:
    """The page a browser lands on after following the verification link."""
    verified = request.GET.get("result") == "verified"
    return render(request, "accounts/verify_email_result.html", {"verified": verified})
