"""Public and account pages: landing, sign-up, sign-in, sign-out, verification, passwords."""

from __future__ import annotations

from contextlib import suppress

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services
from accounts.tokens import user_for_password_reset_token
from config.errors import (
    ApiError,
    EmailDeliveryFailed,
    EmailNotVerified,
    EmailTaken,
    InvalidPassword,
    InvalidToken,
    RateLimited,
)
from dashboard.forms import EmailForm, NewPasswordForm, PasswordChangeForm, SignInForm, SignUpForm
from dashboard.pages import form_status, limit, page, posted, signed_in, too_many


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: `next` if it is a path on this site, else the dashboard."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("dashboard:home")


@page
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/landing.html")


@sensitive_post_parameters("password")
@page
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard:home")
    form = SignUpForm(posted(request))
    context = {"form": form}
    if request.method == "POST":
        try:
            limit(request, "SIGNUP")
            if form.is_valid():
                data = form.validated_data
                user = services.user_sign_up(
                    request=request,
                    email=data["email"],
                    password=data["password"],
                    full_name=data["name"],
                )
                if settings.ACCOUNTS["REQUIRE_EMAIL_VERIFICATION"]:
                    messages.success(
                        request,
                        f"Account created. Follow the link we sent to {data['email']}, "
                        "then sign in.",
                    )
                    return redirect("dashboard:sign-in")
                # The password was set a moment ago: no need to check it (and no failed
                # sign-in budget to spend) before starting the session.
                services.user_session_start(request=request, user=user)
                messages.success(
                    request,
                    f"Welcome to Latchkey. We sent a link to {data['email']} to verify it.",
                )
                return redirect("dashboard:home")
        except RateLimited as exc:
            return too_many(request, "dashboard/sign_up.html", context, exc)
        except EmailTaken as exc:
            form.add_error("email", str(exc.detail))
        except ApiError as exc:
            form.add_error(None, str(exc.detail))
    return render(request, "dashboard/sign_up.html", context, status=form_status(form))


@sensitive_post_parameters("password")
@page
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url)
    form = SignInForm(posted(request), initial={"email": request.GET.get("email", "")})
    context = {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")}
    if request.method == "POST":
        try:
            limit(request, "SIGNIN")
            if form.is_valid():
                services.user_sign_in(
                    request=request,
                    email=form.validated_data["email"],
                    password=form.validated_data["password"],
                )
                return redirect(next_url)
        except RateLimited as exc:
            return too_many(request, "dashboard/sign_in.html", context, exc)
        except EmailNotVerified as exc:
            context["unverified"] = True
            form.add_error(None, str(exc.detail))
        except ApiError as exc:
            form.add_error(None, str(exc.detail))
    return render(request, "dashboard/sign_in.html", context, status=form_status(form))


@page
def sign_out(request: HttpRequest) -> HttpResponse:
    """GET asks; POST (with the CSRF token) signs out. A link alone never ends a session."""
    if request.method == "POST":
        if request.user.is_authenticated:
            services.user_sign_out(request=request)
        messages.success(request, "You are signed out.")
        return redirect("dashboard:landing")
    if not request.user.is_authenticated:
        return redirect("dashboard:landing")
    return render(request, "dashboard/sign_out.html")


def _email_page(request: HttpRequest, *, policy: str, template: str, send: object) -> HttpResponse:
    """A form asking for an address, whose answer never says whether it has an account."""
    initial = {"email": request.user.email} if request.user.is_authenticated else {}
    form = EmailForm(posted(request), initial=initial)
    context = {"form": form, "sent": request.GET.get("sent") == "1"}
    if request.method == "POST":
        try:
            limit(request, policy)
        except RateLimited as exc:
            return too_many(request, template, context, exc)
        if form.is_valid():
            # A delivery failure is logged by the service; the answer must not differ for
            # known addresses.
            with suppress(EmailDeliveryFailed):
                send(request=request, email=form.validated_data["email"])
            return redirect(f"{request.path}?sent=1")
    return render(request, template, context, status=form_status(form))


@page
def resend_verification(request: HttpRequest) -> HttpResponse:
    return _email_page(
        request,
        policy="VERIFY_EMAIL",
        template="dashboard/resend_verification.html",
        send=services.verification_email_resend,
    )


@page
def password_reset_request(request: HttpRequest) -> HttpResponse:
    return _email_page(
        request,
        policy="PASSWORD_RESET",
        template="dashboard/password_reset_request.html",
        send=services.password_reset_request,
    )


@sensitive_post_parameters("new_password", "confirm_password")
@page
def password_reset_confirm(request: HttpRequest, token: str) -> HttpResponse:
    template = "dashboard/password_reset_confirm.html"
    user = user_for_password_reset_token(token)
    if user is None:
        return render(request, template, {"invalid": True}, status=400)
    form = NewPasswordForm(posted(request))
    context = {"form": form}
    if request.method == "POST":
        try:
            limit(request, "PASSWORD_RESET")
        except RateLimited as exc:
            return too_many(request, template, context, exc)
        if form.is_valid():
            password = form.cleaned_data["new_password"]
            for problem in services.password_problems(password, user):
                form.add_error("new_password", problem)
            if not form.errors:
                try:
                    services.password_reset_confirm(token=token, new_password=password)
                except InvalidToken:
                    return render(request, template, {"invalid": True}, status=400)
                messages.success(request, "Your password is reset. Sign in with the new one.")
                return redirect("dashboard:sign-in")
    return render(request, template, context, status=form_status(form))


@sensitive_post_parameters("current_password", "new_password", "confirm_password")
@signed_in
def password_change(request: HttpRequest) -> HttpResponse:
    template = "dashboard/password_change.html"
    form = PasswordChangeForm(posted(request))
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["new_password"]
        for problem in services.password_problems(password, request.user):
            form.add_error("new_password", problem)
        if not form.errors:
            try:
                services.password_change(
                    request=request,
                    current_password=form.cleaned_data["current_password"],
                    new_password=password,
                )
            except RateLimited as exc:
                return too_many(request, template, context, exc)
            except InvalidPassword as exc:
                form.add_error("current_password", str(exc.detail))
            else:
                messages.success(
                    request, "Password changed. Every other session has been signed out."
                )
                return redirect("dashboard:password-change")
    return render(request, template, context, status=form_status(form))
