"""Organizations (tenants), their memberships, and projects: the tenant-scoped resource."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from lib.ids import ULID_LENGTH, new_ulid

SLUG_MAX_LENGTH = 50


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


# Who outranks whom: a member may manage, and give, roles up to their own rank only.
ROLE_RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


class Organization(models.Model):
    id = models.CharField(
        primary_key=True, max_length=ULID_LENGTH, default=new_ulid, editable=False
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=SLUG_MAX_LENGTH, unique=True)
    plan = models.CharField(
        max_length=32,
        default="free",
        help_text="A plan named in RATELIMITS['PLANS']: it sets the rate limits of the "
        "organization and of its keys.",
    )
    # The organization's rules for keys acting in it (apikeys.policy.KeyPolicy, stored in
    # its API form); empty: no rules. On the organization's row, so the query that reads a
    # key's memberships and plans reads them too.
    key_policy = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet):
    def for_user(self, user_id: Any) -> MembershipQuerySet:
        """The user's memberships, with their organizations."""
        return self.filter(user_id=user_id).select_related("organization")


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="tenants_membership_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Project(models.Model):
    id = models.CharField(
        primary_key=True, max_length=ULID_LENGTH, default=new_ulid, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=2000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    """A pending invitation to join an organization, for one address. It ends when it is
    accepted, declined or withdrawn (the row is deleted) or when `expires_at` passes.

    No secret is stored: the emailed link carries a token that signs this row's id, address
    and `sent_at` (tenants/tokens.py), so sending it again (a new `sent_at`) spends the old
    link, and so does anything that ends the row."""

    id = models.CharField(
        primary_key=True, max_length=ULID_LENGTH, default=new_ulid, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    # The address's canonical key (accounts/identity.py): one invitation per person, and the
    # key an account must have to accept it.
    email_key = models.TextField(editable=False)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email_key"], name="tenants_invitation_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.role})"
