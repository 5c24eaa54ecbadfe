"""Invitations in the dashboard: the invite form and pending invitations on the Members page,
and the page an emailed invitation link leads to."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import NotFound

from accounts.services import user_sign_out
from api.errors import (
    AlreadyMember,
    EmailNotVerified,
    InvalidToken,
    InvitationEmailMismatch,
    RateLimited,
)
from dashboard.forms import InvitationForm
from dashboard.pages import (
    CURRENT_ORGANIZATION,
    duration,
    organization_page,
    page,
    token_to_session,
)
from dashboard.views.organizations import render_members, roles_up_to
from ratelimits.policies import consume
from tenants import invitations
from tenants.models import Invitation, Membership

# The token of the invitation link followed last, kept in the session (never in a URL) while
# its visitor signs in or signs up.
INVITATION_TOKEN_KEY = "dashboard:invitation-token"  # noqa: S105 - a session key name


def pending_invitation(request: HttpRequest) -> tuple[str, Invitation] | None:
    """The token and live invitation of the link this browser followed, if any."""
    token = request.session.get(INVITATION_TOKEN_KEY, "")
    if not token:
        return None
    try:
        return token, invitations.invitation_for_token(token)
    except InvalidToken:
        request.session.pop(INVITATION_TOKEN_KEY, None)
        return None


def joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    """After joining from an invitation: on to the organization."""
    request.session.pop(INVITATION_TOKEN_KEY, None)
    request.session[CURRENT_ORGANIZATION] = membership.organization_id
    messages.success(request, f"You joined {membership.organization.name}.")
    return redirect("dashboard:projects", organization_id=membership.organization_id)


@never_cache
def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: changes nothing (mail scanners open links), only moves the token."""
    return token_to_session(
        request,
        INVITATION_TOKEN_KEY,
        token,
        "dashboard:invitation",
        settings.ACCOUNTS["INVITATION_MAX_AGE"],
    )


@never_cache
@page
def invitation(request: HttpRequest) -> HttpResponse:
    """What the invitation is to, and what the visitor can do: accept it (signed in with the
    invited address), sign in or sign up (signed out), or switch accounts; or decline it."""
    pending = pending_invitation(request)
    if pending is None:
        return render(request, "dashboard/invitation.html", {"invalid": True}, status=400)
    token, invited = pending
    signed_in = request.user.is_authenticated
    matches = signed_in and same_address(invited, request.user.email)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "decline":
            request.session.pop(INVITATION_TOKEN_KEY, None)
            try:
                invitations.invitation_decline(token=token, request=request)
            except InvalidToken:  # ended a moment ago (a second click)
                return render(request, "dashboard/invitation.html", {"invalid": True}, status=400)
            messages.success(request, "Invitation declined.")
            return redirect("dashboard:home" if signed_in else "dashboard:landing")
        if action == "switch" and signed_in:
            # Signing out ends the session and its token with it: the new one keeps the token.
            user_sign_out(request=request)
            token_to_session(
                request,
                INVITATION_TOKEN_KEY,
                token,
                "dashboard:invitation",
                settings.ACCOUNTS["INVITATION_MAX_AGE"],
            )
            return redirect(
                f"{reverse('dashboard:sign-in')}?next={reverse('dashboard:invitation')}"
            )
        if action == "accept" and matches:
            try:
                membership = invitations.invitation_accept(
                    token=token, user=request.user, request=request
                )
            except AlreadyMember:
                request.session.pop(INVITATION_TOKEN_KEY, None)
                messages.info(request, f"You are already a member of {invited.organization.name}.")
                return redirect("dashboard:home")
            except (InvalidToken, InvitationEmailMismatch):
                return redirect("dashboard:invitation")
            return joined(request, membership)
    context = {
        "invitation": invited,
        "inviter": invited.invited_by,
        "signed_in": signed_in,
        "matches": matches,
        "already_member": signed_in
        and Membership.objects.filter(
            organization_id=invited.organization_id, user_id=request.user.pk
        ).exists(),
    }
    return render(request, "dashboard/invitation.html", context)


def same_address(invitation: Invitation, email: str) -> bool:
    """Whether `email` is the invited address (by canonical key)."""
    try:
        invitations.require_address(invitation, email)
    except InvitationEmailMismatch:
        return False
    return True


@organization_page("members:write")
def invite(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The Members page's invite form."""
    if request.method != "POST":
        return redirect("dashboard:members", organization_id=membership.organization_id)
    form = InvitationForm(request.POST, roles=roles_up_to(membership.role))
    try:
        consume(request, "INVITATIONS", per="user")
        if form.is_valid():
            invitation = invitations.invitation_create(
                actor=membership,
                email=form.validated_data["email"],
                role=form.validated_data["role"],
                request=request,
            )
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("dashboard:members", organization_id=membership.organization_id)
    except RateLimited as exc:
        return render_members(request, membership, invite_form=form, limited=exc)
    except (AlreadyMember, EmailNotVerified) as exc:
        form.add_error("email" if isinstance(exc, AlreadyMember) else None, str(exc.detail))
    return render_members(request, membership, invite_form=form)


def _invitation_change(
    request: HttpRequest, membership: Membership, change: Callable[[], object], done: str
) -> HttpResponse:
    """Withdraw or resend (POST only), then back to the Members page with the outcome."""
    if request.method == "POST":
        try:
            change()
        except NotFound as exc:
            raise Http404 from exc
        except RateLimited as exc:
            messages.error(
                request, f"Too many invitations sent. Please wait {duration(exc.wait)}."
            )
        else:
            messages.success(request, done)
    return redirect("dashboard:members", organization_id=membership.organization_id)


@organization_page("members:write")
def invitation_resend(
    request: HttpRequest, membership: Membership, invitation_id: str
) -> HttpResponse:
    def change() -> None:
        consume(request, "INVITATIONS", per="user")
        invitations.invitation_resend(actor=membership, pk=invitation_id, request=request)

    return _invitation_change(request, membership, change, "Invitation sent again.")


@organization_page("members:write")
def invitation_withdraw(
    request: HttpRequest, membership: Membership, invitation_id: str
) -> HttpResponse:
    return _invitation_change(
        request,
        membership,
        lambda: invitations.invitation_withdraw(
            actor=membership, pk=invitation_id, request=request
        ),
        "Invitation withdrawn.",
    )
