"""Invitation links: `<invitation id>.<signature>`.

The signature is Django's salted HMAC (keyed by SECRET_KEY, as its password reset tokens are)
over the invitation's id, its address and the time its current link was sent. Nothing secret
is stored: a link dies when its invitation ends (the row is deleted), when it is sent again
(a new `sent_at`), and when it expires.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from lib.ids import ULID_LENGTH
from tenants.models import Invitation

SALT = "latchkey.tenants.invitation"

# Far longer than any token we issue (about 90 characters); longer input is refused unread.
TOKEN_MAX_LENGTH = 200


def _signature(invitation: Invitation) -> str:
    value = f"{invitation.pk}|{invitation.email_key}|{invitation.sent_at.isoformat()}"
    return salted_hmac(SALT, value, algorithm="sha256").hexdigest()


def make_invitation_token(invitation: Invitation) -> str:
    return f"{invitation.pk}.{_signature(invitation)}"


def invitation_id(token: str) -> str | None:
    """The invitation id a token names, or None if `token` cannot be one of ours."""
    if not isinstance(token, str) or len(token) > TOKEN_MAX_LENGTH:
        return None
    pk, dot, signature = token.partition(".")
    # Only a well-formed id reaches the database: no NUL byte, no oversized value.
    if not dot or not signature or len(pk) != ULID_LENGTH or not (pk.isascii() and pk.isalnum()):
        return None
    return pk.upper()


def token_matches(invitation: Invitation, token: str) -> bool:
    """Whether `token` is this invitation's current link, and the invitation has not expired."""
    return invitation.expires_at > timezone.now() and constant_time_compare(
        token.partition(".")[2], _signature(invitation)
    )
