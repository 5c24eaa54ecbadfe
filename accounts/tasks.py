"""Background tasks: every account email is sent here, never by the request that asks for it.

A request that asks for a mail to an address (a reset, a new verification link) enqueues the
same task whether or not the address has an account, and the task looks the account up: the
request's answer and its timing say nothing about which addresses exist.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from django_tasks import task

from accounts.mail import account_email_send, public_link
from accounts.models import User
from accounts.tokens import make_password_reset_token, make_verification_token
from audit.models import Action
from audit.services import audit_record
from ratelimits.policies import email_recipient_allowed


@task()
def verification_email(
    *, user_id: str = "", email: str = "", origin: dict[str, Any] | None = None
) -> bool:
    """Send a verification link to an active, unverified account named by id (sign-up, the
    admin) or by address (a resend request). Returns whether a mail went out."""
    users = User.objects.filter(is_active=True, is_verified=False)
    user = users.filter(pk=user_id).first() if user_id else users.with_email(email).first()
    if user is None or not email_recipient_allowed(user.email):
        return False
    token = make_verification_token(user)
    account_email_send(
        to=user.email,
        template="emails/verify_email",
        context={
            "email": user.email,
            "link": public_link(reverse("dashboard:verify-email", args=[token])),
            "hours": settings.ACCOUNTS["VERIFY_EMAIL_MAX_AGE"] // 3600,
        },
    )
    return True


@task()
def password_reset_email(*, email: str, origin: dict[str, Any] | None = None) -> bool:
    """Send a reset link if `email` is an active account. Returns whether a mail went out."""
    user = User.objects.with_email(email).filter(is_active=True).first()
    if user is None or not email_recipient_allowed(user.email):
        return False
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    token = make_password_reset_token(user)
    account_email_send(
        to=user.email,
        template="emails/password_reset",
        context={
            "email": user.email,
            "link": public_link(reverse("dashboard:password-reset-confirm", args=[token])),
            "minutes": minutes,
            "hours": minutes // 60,
        },
    )
    audit_record(action=Action.PASSWORD_RESET_REQUESTED, actor=user, target=user, origin=origin)
    return True


@task()
def password_changed_email(*, user_id: str, reset: bool = False) -> bool:
    """Tell an active account that its password was changed (or, with `reset`, set from a
    reset link), so that a change its owner did not make does not go unnoticed. Returns
    whether a mail went out."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    account_email_send(
        to=user.email,
        template="emails/password_changed",
        context={
            "email": user.email,
            "reset": reset,
            "link": public_link(reverse("dashboard:password-reset")),
        },
    )
    return True
