"""Email verification tokens: signed with SECRET_KEY, time-limited, single-use, tamper-evident.

The token signs the user's id and email address with Django's TimestampSigner. It is spent
once the address is verified (a verified user's token no longer checks out) and dies if the
address changes.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from accounts.models import User

SALT = "latchkey.accounts.verify-email"


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
