"""ScopePermission: the one DRF permission class that enforces what each view declares.

A view declares the scope each method needs, as data:

    required_scopes = {"GET": "projects:read", "POST": "projects:write"}

An empty string means "any authenticated caller". A view whose scope depends on the request
overrides `get_required_scope(request)`. A tenant view with `open_to_every_role = True` needs
the scope of a key but no particular role (leaving an organization: anyone may).

A session is governed by the member's role; an API key by its scopes *and* its owner's
current role, so a key never does more than its owner can do now. On tenant routes (views
with `tenant_scoped = True`) the checks run in this order: the key's organization pin and the
caller's membership (the tenancy gate), the key's scopes, then the role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from access.principal import Principal
from access.roles import role_allows
from access.scopes import scope_grants
from api.errors import MESSAGES, InsufficientRole, InsufficientScope, SessionRequired
from audit.models import Action
from audit.services import audit_record_once

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


def required_scope(view: APIView, request: Request) -> str | None:
    """The scope the view needs for this request, or None when the method has no handler."""
    custom = getattr(view, "get_required_scope", None)
    if custom is not None:
        return custom(request)
    method = "GET" if request.method == "HEAD" else request.method
    if method == "OPTIONS":
        return None  # no metadata is served: DRF answers 405
    scopes = getattr(view, "required_scopes", None)
    if scopes is not None and method in scopes:
        return scopes[method]
    if not hasattr(view, method.lower()):
        return None  # DRF answers 405 next
    raise ImproperlyConfigured(
        f"{type(view).__name__} handles {method} but declares no scope for it in required_scopes."
    )


class SessionOnly(BasePermission):
    """For what only a browser session may do (sign out, change the password): an API key is
    refused with SESSION_REQUIRED, whatever its scopes."""

    code = SessionRequired.code
    message = MESSAGES[SessionRequired.code]

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.auth is None


class NotOAuth(BasePermission):
    """For managing API keys: a session or a key may, an OAuth access token may not (an
    application a person authorized does not mint credentials of its own)."""

    code = "FORBIDDEN"
    message = "API keys are issued, renamed and revoked with a session or an API key."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return getattr(request.auth, "credential_kind", "api_key") != "oauth"


class ScopePermission(BasePermission):
    """Returns whether the caller may, as DRF's contract says; a refusal carries its `code`
    (INSUFFICIENT_SCOPE or INSUFFICIENT_ROLE) and `message`, which ApiView.permission_denied
    turns into the error envelope. No credential at all is DRF's 401."""

    message = MESSAGES["FORBIDDEN"]
    code = "FORBIDDEN"

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        membership = view.get_membership() if getattr(view, "tenant_scoped", False) else None
        scope = required_scope(view, request)
        if not scope:
            return True
        key = request.auth
        principal = Principal.of(request)
        if key is not None and not scope_grants(principal.scopes, scope):
            audit_record_once(
                once_key=f"scope:{principal.via}:{key.pk}:{scope}",
                within=60,
                action=Action.SCOPE_DENIED,
                actor=request.user,
                api_key=key,
                organization_id=membership.organization_id if membership else None,
                detail={"required": scope, "path": request.path[:200]},
            )
            self.code = InsufficientScope.code
            self.message = str(MESSAGES[self.code]).format(scopes=scope)
            return False
        if (
            membership is not None
            and not getattr(view, "open_to_every_role", False)
            and not role_allows(membership.role, scope)
        ):
            self.code = InsufficientRole.code
            self.message = MESSAGES[self.code]
            return False
        return True
