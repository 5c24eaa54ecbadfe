"""Background tasks: the email that tells an owner their keys were reported leaked and revoked."""

from __future__ import annotations

from django.urls import reverse
from django_tasks import task

from accounts.mail import account_email_send, public_link
from accounts.models import User
from apikeys.models import ApiKey


@task()
def leaked_keys_email(*, user_id: str, keys: list[dict[str, str]], reporter: str) -> bool:
    """Tell an active owner which of their keys were reported leaked and revoked: each one's
    `start` and id, and its name and where the reporter said it was found; never the key
    itself, which this task is never given. `keys` is [{"id", "source"}]. Returns whether a
    mail went out.

    The name and the place are text that others chose (whoever created the key, whoever
    reported it), so they are in the mail only when the owner's address is proven: an account
    registered with someone else's address, and a key of it reported with a made-up place,
    must not make us mail that person words of the registrant's choosing. The place is kept
    to one short line of printable characters (leaks/serializers.py) and shown as the
    report's words. Only someone who holds a live key can have the mail sent, once per key,
    since the same report revokes it."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    stored = ApiKey.objects.filter(user=user).in_bulk([entry["id"] for entry in keys])
    proven = user.is_verified
    listed = [
        {
            "id": key.pk,
            # One line, whatever the name holds.
            "name": " ".join(key.name.split()) if proven else "",
            "start": key.start,
            "source": entry.get("source", "") if proven else "",
        }
        for entry in keys
        if (key := stored.get(entry["id"])) is not None
    ]
    if not listed:
        return False
    account_email_send(
        to=user.email,
        template="emails/api_key_leaked",
        context={
            "email": user.email,
            "keys": listed,
            "one": len(listed) == 1,
            "proven": proven,
            "sourced": any(entry["source"] for entry in listed),
            "by_github": reporter == "github",
            "link": public_link(reverse("dashboard:api-keys")),
        },
    )
    return True
