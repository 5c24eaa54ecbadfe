"""Public and account pages: landing, sign-up, sign-in, sign-out, verification, passwords."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services
from accounts.tokens import user_for_password_reset_token
from api.errors import (
    ApiError,
    EmailNotVerified,
    EmailTaken,
    InvalidPassword,
    InvalidToken,
    InvitationEmailMismatch,
    RateLimited,
)
from dashboard.forms import (
    EmailForm,
    PasswordChangeForm,
    PasswordResetForm,
    SignInForm,
    SignUpForm,
)
from dashboard.pages import form_status, page, posted, signed_in, token_to_session, too_many
from dashboard.views.invitations import (
    INVITATION_TOKEN_KEY,
    joined,
    pending_invitation,
    same_address,
)
from ratelimits.policies import consume


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
    # Coming from an invitation link: the invited address is prefilled, and the new account
    # joins that organization, verified, instead of getting one of its own.
    pending = pending_invitation(request)
    initial = {"email": pending[1].email} if pending else {}
    form = SignUpForm(posted(request), initial=initial)
    context = {"form": form, "invitation": pending[1] if pending else None}
    if request.method == "POST":
        try:
            consume(request, "SIGNUP")
            if form.is_valid():
                data = form.validated_data
                if pending and not same_address(pending[1], data["email"]):
                    # Another address: an ordinary sign-up, and the invitation is left for
                    # whoever it was sent to (a link someone else sent cannot steer this one).
                    request.session.pop(INVITATION_TOKEN_KEY, None)
                    pending = None
                user = services.user_sign_up(
                    request=request,
                    email=data["email"],
                    password=data["password"],
                    full_name=data["name"],
                    invitation_token=pending[0] if pending else "",
                )
                if pending:
                    services.user_session_start(request=request, user=user)
                    return joined(request, user.memberships.select_related("organization").get())
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
        except (EmailTaken, InvitationEmailMismatch) as exc:
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
    pending = pending_invitation(request)
    email = request.GET.get("email", "") or (pending[1].email if pending else "")
    form = SignInForm(posted(request), initial={"email": email})
    context = {
        "form": form,
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "invitation": pending[1] if pending else None,
    }
    if request.method == "POST":
        try:
            consume(request, "SIGNIN")
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
            consume(request, policy)
        except RateLimited as exc:
            return too_many(request, template, context, exc)
        if form.is_valid():
            # The mail is sent by a background task: the answer and its timing are the same
            # for every address.
            send(request=request, email=form.validated_data["email"])
            return redirect(f"{request.path}?sent=1")
    return render(request, template, context, status=form_status(form))


@page
def resend_verification(request: HttpRequest) -> HttpResponse:
    return _email_page(
        request,
        policy="VERIFY_EMAIL",
        template="dashboard/resend_verification.html",
        send=services.verification_email_request,
    )


@page
def password_reset_request(request: HttpRequest) -> HttpResponse:
    return _email_page(
        request,
        policy="PASSWORD_RESET",
        template="dashboard/password_reset_request.html",
        send=services.password_reset_request,
    )


# Tokens from emailed links move into the session on first use, and the browser is sent on to
# a URL without them: the token then appears in no later access-log line, Referer or history.
VERIFY_TOKEN_KEY = "dashboard:verify-token"  # noqa: S105 - a session key name
RESET_TOKEN_KEY = "dashboard:reset-token"  # noqa: S105 - a session key name


@never_cache
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: changes nothing (mail scanners open links), only moves the token."""
    return token_to_session(
        request,
        VERIFY_TOKEN_KEY,
        token,
        "dashboard:verify-email-choice",
        settings.ACCOUNTS["VERIFY_EMAIL_MAX_AGE"],
    )


@never_cache
@page
def verify_email_choice(request: HttpRequest) -> HttpResponse:
    """What the account holds, and the two choices: verify it, or secure it."""
    template = "dashboard/verify_email.html"
    token = request.session.get(VERIFY_TOKEN_KEY, "")
    try:
        summary = services.verification_summary(token=token)
    except InvalidToken:
        return render(request, template, {"invalid": True}, status=400)
    context = {"summary": summary}
    if request.method != "POST":
        return render(request, template, context)
    try:
        consume(request, "VERIFY_EMAIL")
    except RateLimited as exc:
        return too_many(request, template, context, exc)
    choice = request.POST.get("choice")
    try:
        if choice == "verify":
            services.email_verify(token=token)
        elif choice == "secure":
            secured, reset_token = services.email_secure(token=token)
        else:
            return render(request, template, context, status=400)
    except InvalidToken:
        return render(request, template, {"invalid": True}, status=400)
    del request.session[VERIFY_TOKEN_KEY]
    if choice == "secure":
        services.user_sign_out_if(request=request, user=secured)
        request.session[RESET_TOKEN_KEY] = reset_token
        messages.success(
            request,
            "Your account is secured: every session is signed out and every API key revoked. "
            "Choose a new password.",
        )
        return redirect("dashboard:password-reset-choose")
    messages.success(request, "Your email address is verified. Thank you.")
    return redirect("dashboard:home" if request.user.is_authenticated else "dashboard:sign-in")


@never_cache
def password_reset_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed reset link: only moves the token into the session."""
    return token_to_session(
        request,
        RESET_TOKEN_KEY,
        token,
        "dashboard:password-reset-choose",
        settings.PASSWORD_RESET_TIMEOUT,
    )


@sensitive_post_parameters("new_password", "confirm_password")
@never_cache
@page
def password_reset_choose(request: HttpRequest) -> HttpResponse:
    template = "dashboard/password_reset_confirm.html"
    token = request.session.get(RESET_TOKEN_KEY, "")
    user = user_for_password_reset_token(token)
    if user is None:
        return render(request, template, {"invalid": True}, status=400)
    form = PasswordResetForm(posted(request))
    context = {"form": form}
    if request.method == "POST":
        try:
            consume(request, "PASSWORD_RESET")
        except RateLimited as exc:
            return too_many(request, template, context, exc)
        if form.is_valid():
            password = form.cleaned_data["new_password"]
            for problem in services.password_problems(password, user):
                form.add_error("new_password", problem)
            if not form.errors:
                try:
                    services.password_reset_confirm(
                        token=token,
                        new_password=password,
                        revoke_keys=form.cleaned_data["revoke_keys"],
                    )
                except InvalidToken:
                    return render(request, template, {"invalid": True}, status=400)
                services.user_sign_out_if(request=request, user=user)
                request.session.pop(RESET_TOKEN_KEY, None)
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
