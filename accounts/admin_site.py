"""The admin site, whose sign-in goes through the same service as the API's and the
dashboard's: the same limits, failure lock, audit events and session rotation."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


class AdminSignInForm(AdminAuthenticationForm):
    """Django's admin login form, checked by accounts.services.user_authenticate: only active
    staff accounts are admitted, and every failure counts like any other sign-in's."""

    def clean(self) -> dict[str, Any]:
        # Imported here: this module is loaded with the app registry, before any model.
        from accounts.services import user_authenticate
        from api.errors import ApiError, RateLimited
        from ratelimits.policies import consume

        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email is None or not password:
            return self.cleaned_data
        try:
            consume(self.request, "SIGNIN")
            self.user_cache = user_authenticate(
                request=self.request, email=email, password=password, staff_only=True
            )
        except RateLimited as exc:
            self.request.signin_refused = exc
            raise ValidationError(
                "Too many sign-in attempts. Please wait %(seconds)s seconds and try again.",
                code="rate_limited",
                params={"seconds": max(1, int(exc.wait + 0.999))},
            ) from None
        except ApiError:
            raise self.get_invalid_login_error() from None
        return self.cleaned_data


class AdminSite(admin.AdminSite):
    login_form = AdminSignInForm
    site_header = "Latchkey administration"
    site_title = "Latchkey administration"

    def password_change(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        """The dashboard's password page: its wrong current passwords spend the sign-in
        failure budgets and its changes are audited, which Django's own view does not do."""
        return redirect("dashboard:password-change")

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from accounts.services import user_session_started

        response = super().login(request, extra_context)
        refused = getattr(request, "signin_refused", None)
        if refused is not None:
            response.status_code = 429
            response["Retry-After"] = str(max(1, int(refused.wait + 0.999)))
        elif request.method == "POST" and response.status_code == 302:
            # The form was valid and Django's login() has signed the user in.
            user_session_started(request=request, user=request.user)
        return response
