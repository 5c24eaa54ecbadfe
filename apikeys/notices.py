"""Notices to a key's owner: its expiry coming, 7 days and then 1 day before it, and its stop
for staleness in an organization whose key policy sets `staleAfterDays`.

Each notice is sent once. `send_due_notices` finds the ones due, and for each writes its
KeyNotice row, under the row's unique constraint, in the transaction that queues its mail:
when several workers look at once, one writes the row and queues the mail, and the others
find the row there and skip it. With the database task backend the mail's task is queued in
that very transaction, so a notice is recorded if and only if its mail is queued.

An expiry notice is due from that long before the expiry, for a key that existed then (one
made to live 3 days gets the 1-day notice only), and never for a revoked or expired key. One
whose time has passed unsent gives way to the next: a key within a day of its expiry that
never got the 7-day notice gets the 1-day one alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Coalesce

from apikeys.models import ApiKey, KeyNotice
from tenants.models import Organization

# Each expiry notice and how long before the expiry it is due, nearest first.
EXPIRY_NOTICES = (
    (KeyNotice.Kind.EXPIRES_IN_1_DAY, timedelta(days=1)),
    (KeyNotice.Kind.EXPIRES_IN_7_DAYS, timedelta(days=7)),
)
# Notices of one kind found per run at most; any more are found by the next run.
PER_RUN = 1_000


@dataclass(frozen=True)
class Notice:
    key_id: str
    kind: str
    organization_id: str = ""  # the organization a staleness notice is about


def send_due_notices(now: datetime) -> int:
    """Record and queue every notice due at `now`. Returns how many this run queued: one that
    another worker recorded first is neither counted nor sent again."""
    return notices_send(due_notices(now))


def due_notices(now: datetime) -> list[Notice]:
    """The notices due at `now` and not yet recorded, in a few queries however many keys."""
    return [*_expiry_due(now), *_stale_due(now)]


def notices_send(notices: Iterable[Notice]) -> int:
    """Record each notice and queue its mail, skipping those already recorded. Returns how
    many were recorded here."""
    from apikeys.tasks import api_key_notice_email  # tasks.py runs this module's work

    queued = 0
    for notice in notices:
        try:
            with transaction.atomic():
                KeyNotice.objects.create(
                    key_id=notice.key_id,
                    kind=notice.kind,
                    organization_id=notice.organization_id,
                )
                api_key_notice_email.enqueue(
                    key_id=notice.key_id,
                    kind=notice.kind,
                    organization_id=notice.organization_id,
                )
        except IntegrityError:
            continue  # recorded by another worker, which queued the mail; or the key is gone
        queued += 1
    return queued


def _expiry_due(now: datetime) -> list[Notice]:
    due: list[Notice] = []
    nearer = timedelta(0)
    for kind, before in EXPIRY_NOTICES:
        keys = (
            ApiKey.objects.active(now)
            .filter(expires_at__gt=now + nearer, expires_at__lte=now + before)
            .filter(created_at__lt=F("expires_at") - before)  # it existed `before` the expiry
            .exclude(_noticed(kind, ""))
            .order_by("expires_at")
            .values_list("pk", flat=True)[:PER_RUN]
        )
        due += [Notice(key_id=key_id, kind=kind) for key_id in keys]
        nearer = before
    return due


def _stale_due(now: datetime) -> list[Notice]:
    """Keys stale in an organization that has a staleAfterDays rule: pinned to it, or unpinned
    and their owner a member, and unused (or, if never used, created) longer ago than that."""
    by_days: dict[int, list[str]] = {}
    policies = Organization.objects.filter(key_policy__has_key="staleAfterDays").values_list(
        "pk", "key_policy"
    )
    for organization_id, policy in policies:
        days = policy.get("staleAfterDays")
        if isinstance(days, int) and not isinstance(days, bool) and days > 0:
            by_days.setdefault(days, []).append(organization_id)
    due: list[Notice] = []
    for days, organization_ids in sorted(by_days.items()):
        idle = (
            ApiKey.objects.active(now)
            .alias(idle_since=Coalesce("last_used_at", "created_at"))
            .filter(idle_since__lt=now - timedelta(days=days))
        )
        pinned = (
            idle.filter(organization_id__in=organization_ids)
            # Its owner still a member: a former member's key is no longer the organization's.
            .filter(user__memberships__organization_id=F("organization_id"))
            .annotate(acting_in=F("organization_id"))
            .exclude(_noticed(KeyNotice.Kind.STALE, OuterRef("acting_in")))
        )
        # One row per (key, membership in one of these organizations).
        unpinned = (
            idle.filter(organization__isnull=True)
            .filter(user__memberships__organization_id__in=organization_ids)
            .annotate(acting_in=F("user__memberships__organization_id"))
            .exclude(_noticed(KeyNotice.Kind.STALE, OuterRef("acting_in")))
        )
        for keys in (pinned, unpinned):
            # A key revoked in an organization does not act there: the few keys revoked in
            # some organization are read apart and judged here (the JSON list cannot be
            # searched in SQL on every database), so they never crowd out the others.
            pairs = _pairs(keys.filter(revoked_in=[]))
            pairs += [
                (key_id, organization_id)
                for key_id, organization_id, revoked_in in _pairs(
                    keys.exclude(revoked_in=[]), "revoked_in"
                )
                if organization_id not in revoked_in
            ]
            due += [
                Notice(key_id=key_id, kind=KeyNotice.Kind.STALE, organization_id=organization_id)
                for key_id, organization_id, *_rest in pairs
            ]
    return due


def _pairs(keys: QuerySet[ApiKey], *more: str) -> list[tuple[Any, ...]]:
    return list(keys.order_by("pk").values_list("pk", "acting_in", *more)[:PER_RUN])


def _noticed(kind: str, organization_id: str | OuterRef) -> Exists:
    return Exists(
        KeyNotice.objects.filter(key=OuterRef("pk"), kind=kind, organization_id=organization_id)
    )
