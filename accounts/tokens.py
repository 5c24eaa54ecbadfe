"""Account tokens: email verification links and password reset links.

A verification token signs the user's id and email address with Django's TimestampSigner. It
is spent once the address is verified (a verified user's token no longer checks out) and dies
if the address changes.

A password reset token is `<base64 user id>.<Django's reset token>`. Django's generator hashes
the password hash, the last sign-in time and the email address, so the token is spent once the
password changes (or the user signs in) and dies after PASSWORD_RESET_TIMEOUT seconds.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from lib.ids import ULID_LENGTH

SALT = "latchkey.accounts.verify-email"

# Far longer than any token we issue (about 60 characters); longer input is refused unread.
RESET_TOKEN_MAX_LENGTH = 200


def make_verification_token(user: User) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"u": user.pk, "e": user.email})


def user_for_verification_token(token: str) -> User | None:
    """Return the user the token verifies, or None if it is invalid, expired or spent."""
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=settings.ACCOUNTS["VERIFY_EMAIL_MAX_AGE"]
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    user = User.objects.filter(pk=str(payload.get("u")), is_active=True).first()
    if user is None or user.email != payload.get("e") or user.is_verified:
        return None
    return user


def make_password_reset_token(user: User) -> str:
    """A token for the reset link: neither part contains a dot, so a dot separates them."""
    encoded_pk = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{encoded_pk}.{default_token_generator.make_token(user)}"


def _reset_token_parts(token: str) -> tuple[str, str] | None:
    """The user id and Django's token, or None if `token` cannot be one of ours."""
    if not isinstance(token, str) or len(token) > RESET_TOKEN_MAX_LENGTH:
        return None
    encoded_pk, dot, key = token.partition(".")
    if not dot or not key:
        return None
    try:
        pk = urlsafe_base64_decode(encoded_pk).decode()
    except (ValueError, TypeError, OverflowError):  # bad base64 or not UTF-8
        return None
    # Only a well-formed id reaches the database: no NUL byte, no oversized value.
    if len(pk) != ULID_LENGTH or not (pk.isascii() and pk.isalnum()):
        return None
    return pk, key


def password_reset_token_matches(user: User, token: str) -> bool:
    """Whether `token` resets this (active) user's password now."""
    parts = _reset_token_parts(token)
    return (
        parts is not None
        and parts[0] == user.pk
        and user.is_active
        and default_token_generator.check_token(user, parts[1])
    )


def user_for_password_reset_token(token: str) -> User | None:
    """Return the user whose password the token resets, or None if it is malformed, for an
    unknown or inactive user, tampered with, expired or spent. Never raises."""
    parts = _reset_token_parts(token)
    if parts is None:
        return None
    user = User.objects.filter(pk=parts[0], is_active=True).first()
    if user is None or not password_reset_token_matches(user, token):
        return None
    return user
