"""Personal access tokens. Only a keyed digest of each key is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from ulid import ULID

ID_PREFIX = "ak_"


def new_key_id() -> str:
    return f"{ID_PREFIX}{ULID()}"


class ApiKeyQuerySet(models.QuerySet):
    def active(self, now: datetime | None = None) -> ApiKeyQuerySet:
        """Keys that authenticate: not revoked, not expired."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )

    def owned_by(self, user: settings.AUTH_USER_MODEL) -> ApiKeyQuerySet:
        return self.filter(user=user)

    def visible_to(self, principal: Any) -> ApiKeyQuerySet:
        """The keys a caller (an access.principal.Principal) may see and manage: its user's,
        and for a pinned key only those pinned to the same organization."""
        return principal.within_reach(self.filter(user_id=principal.user.pk))


class ApiKey(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_key_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    organization = models.ForeignKey(
        "tenants.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="The organization the key is pinned to, if any.",
    )
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=80, editable=False)
    start = models.CharField(max_length=24, editable=False)
    # A rolled key's previous secret, which keeps working until previous_expires_at: its
    # lookup id (unique, like `lookup`, so authentication finds a key by either in one
    # indexed query) and its digest. Replaced by the next roll. NULL, not "", for a key never
    # rolled: unique, and many keys have none.
    previous_lookup = models.CharField(  # noqa: DJ001
        max_length=16, unique=True, null=True, editable=False
    )
    previous_digest = models.CharField(max_length=80, blank=True, editable=False)
    previous_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = models.JSONField(default=list)
    # Networks (CIDR strings) the key may be used from; empty: anywhere. Set at creation.
    allowed_cidrs = models.JSONField(default=list, blank=True, editable=False)
    # Organizations whose owners or admins revoked this (unpinned) key there: it keeps working
    # elsewhere. A pinned key revoked by its organization is revoked outright.
    revoked_in = models.JSONField(default=list, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The address of the latest use, folded in from the usage counters (apikeys.usage).
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by_key = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_keys",
        help_text="The key that created this one through the API, if any.",
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.start}…)"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def digest_for(self, lookup: str) -> str | None:
        """The stored digest of the key's secret with this lookup id: its current secret's, or
        a rolled key's previous one's while the row holds it; None for any other lookup id."""
        if lookup == self.lookup:
            return self.digest
        if self.previous_lookup is not None and lookup == self.previous_lookup:
            return self.previous_digest
        return None

    def previous_secret_ends_at(self, now: datetime | None = None) -> datetime | None:
        """When the previous secret of a rolled key stops working, while it still works (its
        overlap, or the key's own expiry if sooner); None when there is none working now."""
        if self.previous_expires_at is None or self.previous_expires_at <= (now or timezone.now()):
            return None
        if self.expires_at is not None:
            return min(self.expires_at, self.previous_expires_at)
        return self.previous_expires_at

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def status(self, now: datetime | None = None) -> str:
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired(now) else "active"


class KeyUsageDay(models.Model):
    """How many requests a key made on one day (UTC), folded in from the usage counters."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["key", "day"], name="apikeys_usage_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} {self.day}: {self.requests}"


class KeyNotice(models.Model):
    """A notice sent to a key's owner. Its row is written, under its unique constraint, before
    the email is queued, so each notice is sent once however many workers look for it."""

    class Kind(models.TextChoices):
        EXPIRES_IN_7_DAYS = "expires_7d", "Expires in 7 days"
        EXPIRES_IN_1_DAY = "expires_1d", "Expires in 1 day"
        STALE = "stale", "Stopped for staleness"

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The organization a staleness notice is about; "" for an expiry notice. Not NULL: a
    # unique constraint treats NULLs as distinct.
    organization_id = models.CharField(max_length=32, blank=True, default="")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "kind", "organization_id"], name="apikeys_notice_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} {self.kind} {self.organization_id}".strip()
