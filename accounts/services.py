"""Account workflows: sign-up, verification, sign-in, sign-out, password reset and change."""

from __future__ import annotations

import logging
import smtplib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import HANDLE_MAX_LENGTH, User
from accounts.tokens import (
    make_password_reset_token,
    make_verification_token,
    password_reset_token_matches,
    user_for_password_reset_token,
    user_for_verification_token,
)
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import Action
from audit.services import audit_record
from config.errors import (
    EmailDeliveryFailed,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidPassword,
    InvalidToken,
)
from config.ids import available_slug
from config.throttling import enforce, record, signin_failure_policies
from tenants.services import organization_create

logger = logging.getLogger(__name__)


@transaction.atomic
def user_sign_up(*, request: HttpRequest, email: str, password: str, full_name: str = "") -> User:
    """Create the user, their default organization, and send the verification email.

    All in one transaction: if the email cannot be sent, nothing is created.
    """
    if User.objects.with_email(email).exists():
        raise EmailTaken()
    for attempt in range(3):
        try:
            handle = available_slug(
                User,
                "handle",
                email.split("@", 1)[0],
                max_length=HANDLE_MAX_LENGTH,
                contended=attempt > 0,
            )
            with transaction.atomic():
                user = User.objects.create_user(
                    email, password, full_name=full_name, handle=handle
                )
            break
        except IntegrityError:
            # A concurrent sign-up took the email or the derived handle; retry the handle.
            if User.objects.with_email(email).exists():
                raise EmailTaken() from None
            if attempt == 2:
                raise
    membership = organization_create(owner=user, name=f"{full_name or user.handle}'s organization")
    audit_record(
        action=Action.SIGNED_UP, actor=user, organization=membership.organization, target=user
    )
    verification_email_send(request=request, user=user)
    return user


def verification_email_send(*, request: HttpRequest, user: User) -> None:
    """Email the user a link to GET /api/auth/verify-email?token=…"""
    link = request.build_absolute_uri(
        f"{reverse('verify-email')}?{urlencode({'token': make_verification_token(user)})}"
    )
    context = {
        "user": user,
        "link": link,
        "hours": settings.ACCOUNTS["VERIFY_EMAIL_MAX_AGE"] // 3600,
    }
    if not _email_send(user=user, template="emails/verify_email", context=context):
        raise EmailDeliveryFailed()


def _email_send(*, user: User, template: str, context: dict) -> bool:
    """Render `template`_subject.txt and `template`.txt and send them to the user; False (and
    an error logged, naming only the exception's type) if the mail could not be sent."""
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context)
    try:
        send_mail(subject, body, None, [user.email])
    except (smtplib.SMTPException, OSError, UnicodeError, ValueError) as exc:
        logger.error("Email %s could not be sent: %s", template, type(exc).__name__)
        return False
    return True


def verification_email_resend(*, request: HttpRequest, email: str) -> None:
    """Email a new link if `email` is an active, unverified account; tell the caller nothing."""
    user = User.objects.with_email(email).filter(is_active=True, is_verified=False).first()
    if user is not None:
        verification_email_send(request=request, user=user)


@transaction.atomic
def email_verify(*, token: str) -> User:
    user = user_for_verification_token(token)
    if user is None:
        raise InvalidToken()
    user.mark_verified()
    audit_record(action=Action.EMAIL_VERIFIED, actor=user, target=user)
    return user


def user_sign_in(*, request: HttpRequest, email: str, password: str) -> User:
    """Check the password and start a fresh session.

    Django's ModelBackend runs the password hasher for an unknown email as well, so a wrong
    email and a wrong password take the same time and get the same answer.
    """
    # Failed sign-ins are limited per account and per IP. While either is exhausted even the
    # right password is refused (so the limit is no oracle), before any password is hashed.
    failures = signin_failure_policies(request, email)
    enforce(request, failures, cost=0)
    user = authenticate(request, email=email, password=password)
    if user is None:
        record(failures)
        # The account, when there is one, is the actor; the attempted address is not kept.
        known = User.objects.with_email(email).first()
        audit_record(
            action=Action.SIGN_IN_FAILED,
            actor=known,
            target=known,
            detail={"reason": "invalid_credentials"},
        )
        raise InvalidCredentials()
    if settings.ACCOUNTS["REQUIRE_EMAIL_VERIFICATION"] and not user.is_verified:
        audit_record(
            action=Action.SIGN_IN_FAILED,
            actor=user,
            target=user,
            detail={"reason": "email_not_verified"},
        )
        raise EmailNotVerified()
    user_session_start(request=request, user=user)
    return user


def user_session_start(*, request: HttpRequest, user: User) -> None:
    """Sign `user` in on this request's session, under a new session key.

    Only for a user whose credentials were just checked: user_sign_in, or the sign-up form,
    which has just set the password itself.
    """
    login(request, user)
    # login() keeps the session key when the same user signs in again; a sign-in must always
    # issue a new key so that a key planted or leaked before it is worthless (fixation).
    request.session.cycle_key()
    audit_record(action=Action.SIGNED_IN, actor=user, target=user)


def user_sign_out(*, request: HttpRequest) -> None:
    """End the session: its row is deleted, so the old cookie no longer works."""
    user = request.user
    logout(request)
    audit_record(action=Action.SIGNED_OUT, actor=user, target=user)


def password_problems(password: str, user: User) -> list[str]:
    """Django's password validators' messages for `password` as `user`'s, or [] if it passes.

    Serializers and forms call this before password_reset_confirm and password_change, which
    take the new password as valid.
    """
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        return [str(message) for message in exc.messages]
    return []


def password_reset_request(*, request: HttpRequest, email: str) -> None:
    """Email a reset link if `email` is an active account; tell the caller nothing.

    The answer is the same whether or not the address has an account, and a failed delivery
    is logged, not raised: an error would tell the caller that the address exists.
    """
    user = User.objects.with_email(email).filter(is_active=True).first()
    if user is None:
        return
    link = request.build_absolute_uri(
        reverse("dashboard:password-reset-confirm", args=[make_password_reset_token(user)])
    )
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    context = {"user": user, "link": link, "minutes": minutes, "hours": minutes // 60}
    _email_send(user=user, template="emails/password_reset", context=context)
    audit_record(action=Action.PASSWORD_RESET_REQUESTED, actor=user, target=user)


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set the password of the user the token names; every session of theirs ends.

    The caller has checked `new_password` with password_problems. The token is checked again
    on the locked row, so of two concurrent uses of one token only the first succeeds: the
    second sees the new password hash, which spends the token.
    """
    user = user_for_password_reset_token(token)
    if user is None:
        raise InvalidToken()
    user = User.objects.select_for_update().get(pk=user.pk)
    if not password_reset_token_matches(user, token):
        raise InvalidToken()
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    # Sessions keep a hash of the password hash; AuthenticationMiddleware ends every session
    # whose hash no longer matches, on its next request.
    audit_record(action=Action.PASSWORD_RESET, actor=user, target=user)
    if not user.is_verified:
        # The emailed link proves who owns the address, which nothing had proven before. An
        # account someone else registered with this address first (with email verification
        # off) must not keep that person's keys: they are revoked, and the address verified.
        for key in ApiKey.objects.owned_by(user).filter(revoked_at__isnull=True):
            api_key_revoke(key=key, revoked_by=user, by="password_reset")
        user.mark_verified()
    return user


def password_change(*, request: HttpRequest, current_password: str, new_password: str) -> User:
    """Change the signed-in user's password, keeping this session and ending every other.

    The caller has checked `new_password` with password_problems.
    """
    user = request.user
    # A wrong current password is a failed sign-in: it counts against the same per-account
    # and per-IP budgets, so a stolen session cannot be used to guess the password. (Outside
    # the transaction: the rate-limit trip's audit event must not roll back with the 429.)
    failures = signin_failure_policies(request, user.email)
    enforce(request, failures, cost=0)
    if not user.check_password(current_password):
        record(failures)
        raise InvalidPassword()
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        audit_record(action=Action.PASSWORD_CHANGED, actor=user, target=user)
    # This session gets a new key and the new hash; every other one no longer matches and
    # ends on its next request.
    update_session_auth_hash(request, user)
    return user
