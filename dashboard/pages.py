"""What every dashboard page shares: styled error pages, the signed-in and organization guards,
and the rate limits on forms."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from access.gate import membership_of
from access.roles import require_role
from api.errors import (
    CredentialChanged,
    InsufficientRole,
    NotOrganizationMember,
    RateLimited,
)
from ratelimits.counters import Policy
from ratelimits.policies import enforce
from tenants.models import Membership

View = Callable[..., HttpResponse]

# The session remembers the organization last looked at, for the switcher on other pages.
CURRENT_ORGANIZATION = "dashboard:organization"


def memberships_of(user: Any) -> list[Membership]:
    """The user's memberships with their organizations, by organization name."""
    return list(Membership.objects.for_user(user.pk).order_by("organization__name"))


def current_membership(
    request: HttpRequest, memberships: list[Membership], shown: Membership | None = None
) -> Membership | None:
    """The page's own organization, else the one last looked at, else the first joined."""
    wanted = shown.organization_id if shown else request.session.get(CURRENT_ORGANIZATION)
    return next((m for m in memberships if m.organization_id == wanted), None) or min(
        memberships, key=lambda m: (m.created_at, m.pk), default=None
    )


def error_page(request: HttpRequest, status: int, message: str = "") -> HttpResponse:
    """The 403 or 404 page, in the dashboard's style whatever DEBUG says."""
    return render(request, f"{status}.html", {"message": message}, status=status)


def page(view: View) -> View:
    """Render a missing object as the 404 page and a refusal as the 403 page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return error_page(request, 404)
        except NotOrganizationMember:
            # Also for an organization that does not exist, so ids cannot be probed.
            return error_page(request, 403, "You are not a member of this organization.")
        except (InsufficientRole, PermissionDenied):
            return error_page(request, 403, "Your role does not allow this.")
        except CredentialChanged:
            # The account was secured, reset or deactivated while this request ran.
            logout(request)
            return redirect_to_login(request.get_full_path())

    return wrapper


def signed_in(view: View) -> View:
    """A page for signed-in people: anyone else is sent to sign in, and comes back after.

    Its answers are never cached (they show keys, members and addresses), and every POST
    spends the person's per-user budget, the same one their API calls by session spend.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            try:
                enforce(request, [Policy("user", request.user.pk, settings.RATELIMITS["USER"])])
            except RateLimited as exc:
                response = error_page(
                    request, 429, f"Too many requests. Please wait {duration(exc.wait)}."
                )
                response["Retry-After"] = str(max(1, int(exc.wait)))
                return response
        return view(request, *args, **kwargs)

    return login_required(never_cache(page(wrapper)))


def organization_page(scope: str) -> Callable[[View], View]:
    """A page inside one organization: the caller's membership goes through the same lookup as
    the API's tenancy gate, and the role must allow `scope` (e.g. "projects:read"). The view
    receives the membership, with its organization, instead of the organization id."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(
            request: HttpRequest, organization_id: str, *args: Any, **kwargs: Any
        ) -> HttpResponse:
            membership = membership_of(request.user.pk, organization_id)
            require_role(membership.role, scope)
            if request.session.get(CURRENT_ORGANIZATION) != membership.organization_id:
                request.session[CURRENT_ORGANIZATION] = membership.organization_id
            return view(request, membership, *args, **kwargs)

        guarded = signed_in(wrapper)
        guarded.organization_scope = scope  # every organization page declares it
        return guarded

    return decorator


def token_to_session(
    request: HttpRequest, name: str, token: str, target: str, lifetime: int
) -> HttpResponse:
    """Move a token from an emailed link into the session and send the browser on to `target`,
    a URL without it: the token then appears in no later access-log line, Referer or history."""
    if not request.user.is_authenticated:
        # A new session key, so a session planted before the link was opened cannot share the
        # token; and a session holding only a token lives no longer than the token does
        # (signing in gives it the usual lifetime again).
        request.session.cycle_key()
        request.session.set_expiry(lifetime)
    request.session[name] = token[:512]
    return redirect(target)


def form_status(form: Any) -> int:
    """400 for a form sent back with errors, as the API answers the same input."""
    return 400 if form.errors else 200


def posted(request: HttpRequest) -> Any:
    """The form data of a POST, even an empty one (so it is validated, not ignored)."""
    return request.POST if request.method == "POST" else None


def too_many(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    exc: RateLimited,
) -> HttpResponse:
    """The form again, with a friendly 429 message and Retry-After."""
    context["rate_limited"] = f"Too many attempts. Please wait {duration(exc.wait)} and try again."
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(max(1, int(exc.wait)))
    return response


def duration(seconds: float) -> str:
    seconds = max(1, int(seconds + 0.999))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
