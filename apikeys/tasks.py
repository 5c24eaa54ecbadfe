"""Background tasks: the emails that tell a key's owner it was created, rolled or revoked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.urls import reverse
from django_tasks import task

from accounts.mail import account_email_send, public_link
from apikeys.models import ApiKey

# What a revocation's `by` says to the owner, for those they did not ask for themselves.
REVOKED_BY = {
    "operator": "an operator of this service",
    "command": "an operator of this service",
}


def owner_notify(key: ApiKey, template: str, **context: Any) -> None:
    """Email the key's owner about it (`emails/<template>`), from the background worker, once
    the change has committed. `context` holds JSON values only: it is queued as it is."""
    key_id = key.pk
    transaction.on_commit(
        lambda: api_key_email.enqueue(key_id=key_id, template=template, context=context)
    )


@task()
def api_key_email(*, key_id: str, template: str, context: dict[str, Any]) -> bool:
    """Send `emails/<template>` about one key to its owner, if the account is active. Returns
    whether a mail went out.

    The mail names the key by its id and `start`, never by anything secret. Its name, which a
    person chose, is in it only when the owner's address is proven: an account registered with
    someone else's address must not make us mail that person text its creator wrote."""
    key = ApiKey.objects.select_related("user").filter(pk=key_id).first()
    if key is None or not key.user.is_active:
        return False
    verified = key.user.is_verified
    by_key_id = context.get("by_key_id")
    by_key = ApiKey.objects.filter(pk=by_key_id).first() if by_key_id else None
    ends_at = context.get("previous_ends_at")
    account_email_send(
        to=key.user.email,
        template=f"emails/{template}",
        context={
            **context,
            "email": key.user.email,
            "key_id": key.pk,
            "start": key.start,
            # One line, whatever the name holds: it goes in the subject too.
            "name": " ".join(key.name.split()) if verified else "",
            "by_key": _named(by_key, verified=verified),
            "by_label": REVOKED_BY.get(context.get("by", ""), "someone other than you"),
            "previous_ends": _readable(datetime.fromisoformat(ends_at)) if ends_at else "",
            "link": public_link(reverse("dashboard:api-key", args=[key.pk])),
        },
    )
    return True


def _named(key: ApiKey | None, *, verified: bool) -> str:
    """Another key, as the mail names it."""
    if key is None:
        return ""
    name = f"“{' '.join(key.name.split())}” " if verified else ""
    return f"{name}({key.start}…, {key.pk})"


def _readable(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%-d %B %Y, %H:%M UTC")
