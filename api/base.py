"""ApiView: the base of every view under /api/."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.credentials import challenge, unconfirmed
from access.gate import pinned_organization_plan
from access.permissions import required_scope
from access.principal import Principal
from api.errors import InsufficientRole, InsufficientScope, SessionRequired
from apikeys.authentication import key_use_record
from ratelimits.policies import enforce, request_policies

KEY_EXPIRES_HEADER = "Latchkey-Key-Expires"


def key_expires(request: Request) -> str | None:
    """The `Latchkey-Key-Expires` value of a request an API key authenticated: when the key
    presented stops working, RFC 3339 in UTC to the second (cut, never rounded up). None for
    a key that never expires, any other credential, and a request not authenticated.

    Read from the principal authentication stored, never through `request.auth`, which would
    authenticate a request that failed before authentication ran; so it costs no query."""
    principal = request.__dict__.get("principal")
    if not isinstance(principal, Principal) or principal.expires_at is None:
        return None
    return principal.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiView(APIView):
    """DRF's APIView, with rate limits counted right after authentication and before any
    permission check, so refused and failing requests count too (DRF checks its throttles
    last, after permissions). A request whose credential fails counts as anonymous, by IP.

    The limits hook into DRF's own steps (perform_authentication, check_permissions), in the
    order DRF's initial() runs them. `rate_limits` adds the view's own tighter policies, as
    data: [("SIGNUP", "ip")].
    """

    rate_limits: Sequence[tuple[str, str]] = ()

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        key_use_record(request, response.status_code)
        expires = key_expires(request)
        if expires is not None:
            response[KEY_EXPIRES_HEADER] = expires
        return response

    def perform_authentication(self, request: Request) -> None:
        # A key may be authenticated from the warm-key cache: check_permissions confirms it
        # (unless this is the second reading, after the cache could not).
        request.__dict__.setdefault("confirms_credentials", True)
        try:
            super().perform_authentication(request)
        except AuthenticationFailed:
            enforce(request, request_policies(request))
            raise

    def check_permissions(self, request: Request) -> None:
        """Rate limits, then DRF's permissions. A credential still unconfirmed (see
        access.credentials.Unconfirmed) is confirmed in the limits' round trip; if it cannot
        be, nothing it decided stands: the request is authenticated again and starts over."""
        pending = unconfirmed(request)
        expect = pending.expect if pending is not None else ()
        try:
            organization = self.charged_organization(request)
        except APIException:
            if not enforce(request, request_policies(request, self.rate_limits), expect=expect):
                return self._authenticate_again(request)
            raise
        policies = request_policies(request, self.rate_limits, organization)
        if not enforce(request, policies, expect=expect):
            return self._authenticate_again(request)
        super().check_permissions(request)

    def _authenticate_again(self, request: Request) -> None:
        pending = unconfirmed(request)
        assert pending is not None  # noqa: S101 - only called for an unconfirmed credential
        pending.discard()
        request.unconfirmed_credential = None
        request.confirms_credentials = False  # from the database this time
        for name in ("_user", "_auth", "principal"):
            request.__dict__.pop(name, None)
        self.forget_access()
        self.perform_authentication(request)
        self.check_permissions(request)

    def forget_access(self) -> None:
        """Drop what the view remembers of the caller's access (a gate's membership), when the
        request is authenticated again."""

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> None:
        """A permission's refusal in the envelope: its code, and for a missing scope the
        `required_scopes` field; DRF's own answer otherwise (401 without a credential)."""
        if code == InsufficientScope.code:
            scope = required_scope(self, request)
            via = Principal.of(request).via
            refusal = InsufficientScope(scope, via=via)
            if via == "oauth":
                # RFC 6750: an OAuth client learns from the challenge what to ask for.
                refusal.auth_header = challenge(error="insufficient_scope", scope=scope or "")
            raise refusal
        if code == InsufficientRole.code:
            raise InsufficientRole()
        if code == SessionRequired.code:
            raise SessionRequired()
        super().permission_denied(request, message=message, code=code)

    def charged_organization(self, request: Request) -> tuple[str, str] | None:
        """(id, plan) of the organization whose plan budgets a key request spends, or None.

        Only the tenancy gate names it, so no one spends the budget of an organization they
        do not belong to: on a tenant route, the URL's organization once the gate admits the
        caller (a refusal propagates, and the request counts against its key alone); on any
        other route, a pinned key's organization while its owner is still a member there. A
        session spends its user's budget, whatever the route."""
        if request.auth is None:
            return None
        if getattr(self, "tenant_scoped", False):
            return self.organization_plan()
        return pinned_organization_plan(request)
