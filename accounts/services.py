"""Account workflows: sign-up, verification, sign-in, sign-out, password reset and change."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import (
    SESSION_KEY,
    authenticate,
    login,
    logout,
    update_session_auth_hash,
)
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts import devices, tasks
from accounts.models import HANDLE_MAX_LENGTH, User
from accounts.sessions import live_sessions, session_auth_hash, session_is_current, sessions_end
from accounts.tokens import (
    make_password_reset_token,
    password_reset_token_matches,
    user_for_password_reset_token,
    user_for_verification_token,
)
from api.errors import (
    CredentialChanged,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidPassword,
    InvalidToken,
)
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import Action
from audit.services import audit_record, request_origin
from lib.ids import available_slug
from oauth.services import authorizations_end
from ratelimits.policies import failure_refund, failure_spend, signin_failure_policies
from tenants.invitations import invitation_for_token, invitation_join, require_address
from tenants.services import organization_create

logger = logging.getLogger(__name__)


@transaction.atomic
def user_sign_up(
    *,
    request: HttpRequest,
    email: str,
    password: str,
    full_name: str = "",
    invitation_token: str = "",
) -> User:
    """Create the user and their default organization, and queue the verification email.

    From an invitation (`invitation_token`, for this very address) the account joins the
    inviting organization instead, already verified: the emailed link proved the address."""
    invitation = None
    if invitation_token:
        invitation = invitation_for_token(invitation_token, lock=True)
        require_address(invitation, email)
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
    if invitation is not None:
        audit_record(
            action=Action.SIGNED_UP,
            actor=user,
            organization_id=invitation.organization_id,
            target=user,
            detail={"invitationId": invitation.pk},
        )
        invitation_join(invitation=invitation, user=user, request=request)
        return user
    membership = organization_create(owner=user, name=f"{full_name or user.handle}'s organization")
    audit_record(
        action=Action.SIGNED_UP, actor=user, organization=membership.organization, target=user
    )
    # In this transaction: the queued mail and the account exist together or not at all.
    tasks.verification_email.enqueue(user_id=user.pk, origin=request_origin(request))
    return user


def verification_email_request(*, request: HttpRequest, email: str) -> None:
    """Queue a new verification link for `email`. The same task is queued whether or not the
    address has an unverified account: the task looks it up, so the answer tells nothing."""
    tasks.verification_email.enqueue(email=email, origin=request_origin(request))


def verification_email_queue(*, request: HttpRequest, user: User) -> None:
    """Queue a verification link for this account (an operator's resend)."""
    tasks.verification_email.enqueue(user_id=user.pk, origin=request_origin(request))


@dataclass(frozen=True)
class AccountSummary:
    """What the owner of an address is shown before choosing to verify or secure the account
    registered with it."""

    email: str
    created_at: datetime
    sessions: int
    keys: int


def verification_summary(*, token: str) -> AccountSummary:
    """The account a verification token names, without changing anything."""
    user = user_for_verification_token(token)
    if user is None:
        raise InvalidToken()
    return AccountSummary(
        email=user.email,
        created_at=user.created_at,
        sessions=live_sessions(user.pk).count(),
        keys=ApiKey.objects.owned_by(user).active().count(),
    )


@transaction.atomic
def email_verify(*, token: str) -> User:
    """The owner of the address says the account is theirs: it is verified."""
    user = _user_for_token_locked(token)
    user.mark_verified()
    audit_record(action=Action.EMAIL_VERIFIED, actor=user, target=user)
    return user


@transaction.atomic
def email_secure(*, token: str) -> tuple[User, str]:
    """The owner of the address did not create this account: take it back from whoever did.

    Every session ends, every key is revoked, the password stops working, and the address is
    verified: the link has proven the mailbox. Returns the user and a password reset token,
    so that the owner chooses a password straight away.
    """
    user = _user_for_token_locked(token)
    ended = sessions_end(user.pk)
    keys = list(ApiKey.objects.owned_by(user).filter(revoked_at__isnull=True))
    for key in keys:
        api_key_revoke(key=key, revoked_by=user, by="email_secured", reason="unproven_address")
    authorizations_end(user)
    # The impostor's password must not work even for a moment before the owner picks one;
    # changing the hash also ends any session that a cache still remembers.
    user.set_unusable_password()
    user.save(update_fields=["password", "updated_at"])
    user.mark_verified()
    audit_record(
        action=Action.ACCOUNT_SECURED,
        actor=user,
        target=user,
        detail={"sessionsEnded": ended, "keysRevoked": len(keys)},
    )
    return user, make_password_reset_token(user)


def _user_for_token_locked(token: str) -> User:
    """The user a verification token names, locked: of two concurrent uses, one wins."""
    user = user_for_verification_token(token)
    if user is None:
        raise InvalidToken()
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_verified:
        raise InvalidToken()  # spent by a concurrent use
    return user


def user_authenticate(
    *, request: HttpRequest, email: str, password: str, staff_only: bool = False
) -> User:
    """Check an email and password, for every sign-in form there is (the API, the dashboard,
    the admin): the same limits, failure lock and audit events. Starts no session.

    Each attempt is counted as a failure before the password is hashed, atomically, and given
    back if it succeeds: concurrent guesses cannot overrun the budget, and while the budget is
    spent even the right password is refused (so the lock is no oracle) and nothing is hashed.
    Django's ModelBackend runs the hasher for an unknown email as well, so a wrong email and
    a wrong password take the same time and get the same answer.
    """
    failures = signin_failure_policies(
        request, email, known_device=devices.is_known(request, email)
    )
    counted_at = failure_spend(request, failures)
    user = authenticate(request, email=email, password=password)
    reason = "invalid_credentials"
    if user is not None and staff_only and not user.is_staff:
        user, reason = None, "not_staff"
    if user is None:
        # The account, when there is one, is the actor; the attempted address is not kept.
        known = User.objects.with_email(email).first()
        audit_record(
            action=Action.SIGN_IN_FAILED, actor=known, target=known, detail={"reason": reason}
        )
        raise InvalidCredentials()
    failure_refund(failures, counted_at)
    if settings.ACCOUNTS["REQUIRE_EMAIL_VERIFICATION"] and not user.is_verified:
        audit_record(
            action=Action.SIGN_IN_FAILED,
            actor=user,
            target=user,
            detail={"reason": "email_not_verified"},
        )
        raise EmailNotVerified()
    return user


def user_sign_in(*, request: HttpRequest, email: str, password: str) -> User:
    """Check the password (user_authenticate) and start a fresh session."""
    user = user_authenticate(request=request, email=email, password=password)
    user_session_start(request=request, user=user)
    return user


def user_session_start(*, request: HttpRequest, user: User) -> None:
    """Sign `user` in on this request's session, under a new session key.

    Only for a user whose credentials were just checked: user_sign_in, or the sign-up form,
    which has just set the password itself.
    """
    login(request, user)
    user_session_started(request=request, user=user)


def user_session_started(*, request: HttpRequest, user: User) -> None:
    """What follows every sign-in, whichever form started the session (the admin's login view
    calls Django's login() itself): a new session key, the audit event, a known device."""
    # login() keeps the session key when the same user signs in again; a sign-in must always
    # issue a new key so that a key planted or leaked before it is worthless (fixation).
    request.session.cycle_key()
    # A session that held only an emailed link's token lived no longer than the token; signed
    # in, it has the usual lifetime.
    request.session.set_expiry(None)
    audit_record(action=Action.SIGNED_IN, actor=user, target=user)
    devices.remember(request, user)


def user_sign_out_if(*, request: HttpRequest | Any, user: User) -> None:
    """After every session of `user` was ended (secure, reset), a browser that held one of
    them starts afresh: its session row is gone and must not be written back."""
    http = getattr(request, "_request", request)
    # The session itself says whose it is: an API view that authenticates no one (or by a
    # key) leaves request.user anonymous whatever the cookie holds.
    if http.session.get(SESSION_KEY) == str(user.pk):
        logout(http)


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
    """Queue a reset link for `email`. The same task is queued whether or not the address has
    an account, and the task looks it up: neither the answer nor its timing tells."""
    tasks.password_reset_email.enqueue(email=email, origin=request_origin(request))


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str, revoke_keys: bool = False) -> User:
    """Set the password of the user the token names; every session of theirs ends.

    The emailed link proves who owns the address. Keys created before that was ever proven
    (before `verified_at`, or every key of a never-verified account) may be someone else's,
    who registered the address first: they are revoked, and the address verified. With
    `revoke_keys`, every key is revoked.

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
    sessions_end(user.pk)
    keys = ApiKey.objects.owned_by(user).filter(revoked_at__isnull=True)
    if revoke_keys:
        reason = "requested"
    else:
        reason = "unproven_address"
        if user.is_verified:
            # Verified without a date (an operator ticked the box): proven from the start.
            keys = keys.filter(created_at__lt=user.verified_at or user.created_at)
    revoked = 0
    for key in keys:
        api_key_revoke(key=key, revoked_by=user, by="password_reset", reason=reason)
        revoked += 1
    audit_record(
        action=Action.PASSWORD_RESET,
        actor=user,
        target=user,
        detail={"keysRevoked": revoked, **({"revokeKeys": True} if revoke_keys else {})},
    )
    _password_changed_notify(user, reset=True)
    if not user.is_verified:
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
    failures = signin_failure_policies(
        request, user.email, known_device=devices.is_known(request, user.email, user)
    )
    counted_at = failure_spend(request, failures)
    if not user.check_password(current_password):
        raise InvalidPassword()
    failure_refund(failures, counted_at)
    auth_hash = session_auth_hash(request)
    with transaction.atomic():
        # Locked as securing, resetting and deactivating lock it: a change that checked the
        # password just before one of those committed must not undo it afterwards.
        user = User.objects.select_for_update().get(pk=user.pk)
        if not session_is_current(auth_hash, user):
            raise CredentialChanged()
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        audit_record(action=Action.PASSWORD_CHANGED, actor=user, target=user)
        _password_changed_notify(user)
    # This session gets a new key and the new hash; every other one no longer matches and
    # ends on its next request.
    update_session_auth_hash(request, user)
    return user


def _password_changed_notify(user: User, *, reset: bool = False) -> None:
    """Email the owner that the password changed, once the change has committed."""
    user_id = user.pk
    transaction.on_commit(
        lambda: tasks.password_changed_email.enqueue(user_id=user_id, reset=reset)
    )


@transaction.atomic
def user_deactivate(
    *, user: User, request: HttpRequest | Any = None, by: str = "operator"
) -> User:
    """Stop the account: no sign-in, every session ended, every key revoked for good, so that
    reactivating the account later brings none of them back. Idempotent."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        return user
    user.is_active = False
    # save(), not a bulk update: its signals withdraw the user's keys from the warm-key cache.
    user.save(update_fields=["is_active", "updated_at"])
    actor = getattr(request, "user", None) if request is not None else None
    actor = actor if actor is not None and actor.is_authenticated else None
    for key in ApiKey.objects.owned_by(user).filter(revoked_at__isnull=True):
        api_key_revoke(key=key, revoked_by=actor, by="deactivation")
    authorizations_end(user)
    sessions_end(user.pk)
    audit_record(
        action=Action.USER_DEACTIVATED,
        request=request,
        actor=actor,
        target=user,
        detail={"by": by},
    )
    return user


@transaction.atomic
def user_reactivate(*, user: User, request: HttpRequest | Any = None) -> User:
    """Let the account sign in again. Its keys stay revoked: the owner issues new ones."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active:
        return user
    user.is_active = True
    user.save(update_fields=["is_active", "updated_at"])
    actor = getattr(request, "user", None) if request is not None else None
    audit_record(
        action=Action.USER_REACTIVATED,
        request=request,
        actor=actor if actor is not None and actor.is_authenticated else None,
        target=user,
    )
    return user
