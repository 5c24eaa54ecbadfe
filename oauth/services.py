"""What ends a person's OAuth authorizations."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from oauth.models import AccessToken, Grant, RefreshToken


def authorizations_end(user: Any) -> int:
    """Revoke every authorization code, access and refresh token of `user` (their account was
    deactivated, or taken back by the owner of its address). Returns how many access tokens
    ended."""
    Grant.objects.filter(user=user).delete()
    RefreshToken.objects.filter(user=user, revoked__isnull=True).update(revoked=timezone.now())
    ended, _by_model = AccessToken.objects.filter(user=user).delete()
    return ended
