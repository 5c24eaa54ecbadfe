"""Background tasks: the emails that tell a key's owner it was created, rolled or revoked, or
that it expires soon or stopped for staleness; and the periodic key maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from accounts.mail import account_email_send, public_link
from accounts.models import User
from apikeys import notices, usage
from apikeys.models import ApiKey, KeyNotice
from audit.models import Action
from audit.services import audit_record
from tenants.models import Membership, Organization

# What a revocation's `by` says to the owner, for those they did not ask for themselves.
REVOKED_BY = {
    "operator": "an operator of this service",
    "command": "an operator of this service",
    "organization": "an owner or admin of an organization you belong to",
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
            **_revoked_by(context, verified=verified),
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


def _revoked_by(context: dict[str, Any], *, verified: bool) -> dict[str, str]:
    """Who revoked the key, as the mail says it (`by_label`); for an organization's owner or
    admin (`organization_id` and `by_user_id` in the context), also the organization and the
    person's address. Both are text other people chose, so only an owner whose address is
    proven reads them; anyone else reads the organization's id alone."""
    label = REVOKED_BY.get(context.get("by", ""), "someone other than you")
    organization_id = context.get("organization_id")
    if not organization_id:
        return {"by_label": label}
    organization, by_person = organization_id, ""
    if verified:
        name = (
            Organization.objects.filter(pk=organization_id).values_list("name", flat=True).first()
        )
        if name:
            organization = f"“{' '.join(name.split())}” ({organization_id})"
        by_person = (
            User.objects.filter(pk=context.get("by_user_id") or None)
            .values_list("email", flat=True)
            .first()
        ) or ""
    label = f"an owner or admin of the organization {organization}"
    return {
        "by_label": f"{by_person}, {label}" if by_person else label,
        "organization": organization,
        "by_person": by_person,
    }


def _readable(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%-d %B %Y, %H:%M UTC")


@task()
def key_maintenance() -> dict[str, int]:
    """The periodic work on keys, queued by `manage.py run_scheduler`: fold the usage counts
    into the database, then record and queue the notices due. Safe to run in several workers
    at once. Returns the requests folded in and the notices queued."""
    folded = usage.fold()
    return {"folded": folded, "notices": notices.send_due_notices(timezone.now())}


@task()
def api_key_notice_email(*, key_id: str, kind: str, organization_id: str = "") -> bool:
    """Send one KeyNotice's mail to the key's owner, and record it in the audit trail, if the
    account is active and the notice still holds: the key works and, for a staleness notice,
    still acts in the organization and is still stale there. Returns whether a mail went out.

    Like api_key_email, it names the key by its id and `start`, never by anything secret, and
    by its name (and the organization by its name) only when the owner's address is proven."""
    key = ApiKey.objects.select_related("user").filter(pk=key_id).first()
    now = timezone.now()
    if key is None or not key.user.is_active or key.status(now) != "active":
        return False
    verified = key.user.is_verified
    context: dict[str, Any] = {
        "email": key.user.email,
        "key_id": key.pk,
        "start": key.start,
        "name": " ".join(key.name.split()) if verified else "",
        "link": public_link(reverse("dashboard:api-key", args=[key.pk])),
    }
    if kind == KeyNotice.Kind.STALE:
        organization = Organization.objects.filter(pk=organization_id).first()
        days = _stale_days(key, organization, now)
        if organization is None or days is None:
            # No longer stale there (used since, revoked there, its owner gone): the notice is
            # withdrawn, so the key is noticed again should it go stale there later.
            _notice_withdraw(key_id, kind, organization_id)
            return False
        template = "emails/api_key_stale"
        context.update(
            organization=(
                f"“{' '.join(organization.name.split())}” ({organization.pk})"
                if verified
                else organization.pk
            ),
            days=days,
            pinned=key.organization_id is not None,
            used=key.last_used_at is not None,
            idle_since=_readable(key.last_used_at or key.created_at),
        )
    elif key.expires_at is not None:
        template = "emails/api_key_expiring"
        context.update(
            expires=_readable(key.expires_at),
            expires_day=key.expires_at.astimezone(UTC).strftime("%-d %B %Y"),
            last=kind == KeyNotice.Kind.EXPIRES_IN_1_DAY,
        )
    else:
        return False
    try:
        account_email_send(to=key.user.email, template=template, context=context)
    except Exception:
        # Not sent (the mail server refused it, say): withdrawn, so a later run sends it.
        _notice_withdraw(key_id, kind, organization_id)
        raise
    audit_record(
        action=Action.KEY_NOTICE_SENT,
        actor=key.user,
        organization_id=organization_id or key.organization_id,
        target=key,
        detail={"kind": kind},
    )
    return True


def _notice_withdraw(key_id: str, kind: str, organization_id: str) -> None:
    KeyNotice.objects.filter(key_id=key_id, kind=kind, organization_id=organization_id).delete()


def _stale_days(key: ApiKey, organization: Organization | None, now: datetime) -> int | None:
    """The organization's staleAfterDays, if the key acts in it and is stale there now."""
    days = (organization.key_policy or {}).get("staleAfterDays") if organization else None
    if not isinstance(days, int) or days <= 0:
        return None
    if (key.last_used_at or key.created_at) >= now - timedelta(days=days):
        return None  # used since the notice was recorded
    if key.organization_id not in (None, organization.pk) or organization.pk in key.revoked_in:
        return None
    member = Membership.objects.filter(user_id=key.user_id, organization=organization).exists()
    return days if member else None
