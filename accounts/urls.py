from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/sign-up/email", views.SignUpView.as_view(), name="sign-up"),
    path("auth/sign-in/email", views.SignInView.as_view(), name="sign-in"),
    path("auth/sign-out", views.SignOutView.as_view(), name="sign-out"),
    path("auth/status", views.AuthStatusView.as_view(), name="auth-status"),
    path("auth/verify-email", views.VerifyEmailView.as_view(), name="verify-email"),
    path(
        "auth/send-verification-email",
        views.SendVerificationEmailView.as_view(),
        name="send-verification-email",
    ),
    path(
        "auth/request-password-reset",
        views.RequestPasswordResetView.as_view(),
        name="request-password-reset",
    ),
    path("auth/reset-password", views.ResetPasswordView.as_view(), name="reset-password"),
    path("auth/change-password", views.ChangePasswordView.as_view(), name="change-password"),
    path("user/me", views.MeView.as_view(), name="me"),
]
