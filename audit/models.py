"""The audit trail: an append-only record of who did what, never holding a secret."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone


class Action(models.TextChoices):
    SIGNED_UP = "user.signed_up", "Signed up"
    SIGNED_IN = "user.signed_in", "Signed in"
    SIGN_IN_FAILED = "user.sign_in_failed", "Sign-in failed"
    SIGNED_OUT = "user.signed_out", "Signed out"
    EMAIL_VERIFIED = "user.email_verified", "Email verified"
    ACCOUNT_SECURED = "user.account_secured", "Account secured by the address's owner"
    PASSWORD_RESET_REQUESTED = "user.password_reset_requested", "Password reset requested"
    PASSWORD_RESET = "user.password_reset", "Password reset"
    PASSWORD_CHANGED = "user.password_changed", "Password changed"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    USER_REACTIVATED = "user.reactivated", "User reactivated"
    ORGANIZATION_CREATED = "organization.created", "Organization created"
    ORGANIZATION_UPDATED = "organization.updated", "Organization updated"
    INVITATION_CREATED = "invitation.created", "Invitation sent"
    INVITATION_RESENT = "invitation.resent", "Invitation re-sent"
    INVITATION_WITHDRAWN = "invitation.withdrawn", "Invitation withdrawn"
    INVITATION_DECLINED = "invitation.declined", "Invitation declined"
    MEMBER_ADDED = "member.added", "Member added"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    MEMBER_LEFT = "member.left", "Member left"
    OWNERSHIP_TRANSFERRED = "organization.ownership_transferred", "Ownership transferred"
    ORGANIZATION_DELETED = "organization.deleted", "Organization deleted"
    KEY_POLICY_CHANGED = "organization.key_policy_changed", "Key policy changed"
    OAUTH_APPLICATION_REGISTERED = "oauth.application_registered", "OAuth application registered"
    OAUTH_APPLICATION_DELETED = "oauth.application_deleted", "OAuth application deleted"
    OAUTH_AUTHORIZED = "oauth.authorized", "Application authorized"
    OAUTH_REVOKED = "oauth.revoked", "Application's access revoked"
    OAUTH_REFRESH_REUSED = "oauth.refresh_reused", "Spent refresh token presented again"
    OAUTH_CODE_REUSED = "oauth.code_reused", "Spent authorization code presented again"
    KEY_CREATED = "api_key.created", "API key created"
    KEY_RENAMED = "api_key.renamed", "API key renamed"
    KEY_UPDATED = "api_key.updated", "API key edited"
    KEY_ROLLED = "api_key.rolled", "API key rolled"
    KEY_REVOKED = "api_key.revoked", "API key revoked"
    KEY_LEAK_REPORTED = "api_key.leak_reported", "Leaked API key reported"
    KEY_REFUSED = "api_key.refused", "Revoked or expired API key used"
    KEY_POLICY_REFUSED = "api_key.policy_refused", "API key refused by a key policy"
    KEY_NOTICE_SENT = "api_key.notice_sent", "API key expiry or staleness notice sent"
    SCOPE_DENIED = "access.scope_denied", "Scope denied"
    CROSS_ORIGIN_REFUSED = "access.cross_origin_refused", "Cross-origin request refused"
    RATE_LIMITED = "access.rate_limited", "Rate limit tripped"


class AppendOnly(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("Audit events cannot be changed.")

    def delete(self) -> NoReturn:
        raise AppendOnly("Audit events cannot be deleted.")

    def for_organization(self, organization_id: str) -> AuditEventQuerySet:
        return self.filter(organization_id=organization_id)


class AuditEvent(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    api_key = models.ForeignKey(
        "apikeys.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    organization = models.ForeignKey(
        "tenants.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["actor", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("Audit events cannot be deleted.")
