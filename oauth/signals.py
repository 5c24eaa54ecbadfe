"""What a membership's end does to OAuth: the person's authorizations pinned to that
organization end with it (oauth.services.membership_ended), whichever way it ended; and what
withdraws an access token from the warm-key cache."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from oauth.models import lookup_of


@receiver(post_delete, sender="tenants.Membership", dispatch_uid="oauth.membership_ended")
def _membership_ended(sender: Any, instance: Any, **kwargs: Any) -> None:
    from oauth.services import membership_ended

    user_id, organization_id = instance.user_id, instance.organization_id
    # In the transaction that removed the membership: both stand or neither.
    with transaction.atomic():
        membership_ended(user_id=user_id, organization_id=organization_id)


# The warm-key cache holds access tokens as it holds keys (oauth/authentication.py): the
# same changes withdraw their entries. post_delete covers revocation, which deletes the token.
def _forget_tokens(tokens: Any) -> None:
    from apikeys import warm_cache

    if warm_cache.enabled():
        warm_cache.forget(
            lookup_of(jti) for jti in tokens.exclude(jti=None).values_list("jti", flat=True)
        )


@receiver([post_save, post_delete], sender="oauth.AccessToken", dispatch_uid="oauth.token_cache")
def _token_changed(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    from apikeys import warm_cache

    if not created and instance.jti:
        warm_cache.forget([instance.lookup])


@receiver([post_save, post_delete], sender="accounts.User", dispatch_uid="oauth.token_cache.user")
def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    from oauth.models import AccessToken

    _forget_tokens(AccessToken.objects.filter(user_id=instance.pk))


@receiver(
    [post_save, post_delete], sender="tenants.Membership", dispatch_uid="oauth.token_cache.member"
)
def _membership_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    from oauth.models import AccessToken

    _forget_tokens(AccessToken.objects.filter(user_id=instance.user_id))


@receiver(post_save, sender="tenants.Organization", dispatch_uid="oauth.token_cache.organization")
def _organization_changed(sender: Any, instance: Any, created: bool = False, **kwargs: Any):
    from oauth.models import AccessToken

    if not created:
        _forget_tokens(AccessToken.objects.filter(user__memberships__organization=instance))
