"""The error catalogue, the domain exceptions, and the one handler that renders every error."""

from __future__ import annotations

import logging
from itertools import islice
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from access.credentials import challenge
from api.envelope import error_body

logger = logging.getLogger(__name__)

# Every machine code the API answers with, and its human message.
MESSAGES: dict[str, Any] = {
    "BAD_REQUEST": _("The request could not be understood."),
    "VALIDATION_ERROR": _("The request has invalid fields."),
    "MALFORMED_JSON": _("The request body is not valid JSON."),
    "PAYLOAD_TOO_LARGE": _("The request body is too large."),
    "UNAUTHORIZED": _("Unauthorized"),
    "INVALID_CREDENTIALS": _("Invalid email or password."),
    "INVALID_PASSWORD": _("The current password is incorrect."),
    "SESSION_REQUIRED": _("This action needs a signed-in browser session."),
    "KEY_INVALID": _("The API key is malformed, unknown, or its owner is deactivated."),
    "KEY_EXPIRED": _("The API key has expired."),
    "KEY_REVOKED": _("The API key has been revoked."),
    "TOKEN_INVALID": _(
        "The access token is unknown, expired or revoked, or its owner is deactivated."
    ),
    "INSUFFICIENT_SCOPE": _("Insufficient API key scopes. Missing: {scopes}"),
    "ORGANIZATION_MISMATCH": _("This API key is pinned to another organization."),
    "KEY_BROADER_THAN_CREATOR": _("A key cannot give a key more access than it has."),
    "KEY_OUTRANKS_CALLER": _("An API key can only manage keys with no more access than its own."),
    "KEY_NOT_ACTIVE": _(
        "This API key is revoked or expired: it can no longer be rolled or edited."
    ),
    "KEY_POLICY_VIOLATION": _("The organization's key policy refuses this API key: {rule}."),
    "KEY_REVOKED_IN_ORGANIZATION": _(
        "An owner or admin of this organization has revoked this API key here."
    ),
    "FORBIDDEN": _("You do not have permission to perform this action."),
    "EMAIL_NOT_VERIFIED": _("Verify your email address before signing in."),
    "NOT_ORGANIZATION_MEMBER": _("This credential does not belong to the requested organization."),
    "INSUFFICIENT_ROLE": _("Your role in this organization does not allow this action."),
    "CROSS_ORIGIN_REQUEST": _("Cross-origin request refused."),
    "HTTPS_REQUIRED": _(
        "This API accepts HTTPS only. A credential sent over plain HTTP may have been seen on "
        "the way: revoke it."
    ),
    "NOT_FOUND": _("Not found."),
    "METHOD_NOT_ALLOWED": _("Method not allowed."),
    "NOT_ACCEPTABLE": _("The requested response format is not available; ask for JSON."),
    "UNSUPPORTED_MEDIA_TYPE": _("Send the body as JSON with Content-Type: application/json."),
    "EMAIL_TAKEN": _("An account with this email already exists."),
    "LAST_OWNER": _("An organization needs at least one owner: make someone else an owner first."),
    "INVALID_TOKEN": _("This link is invalid, has expired, or has already been used."),
    "ALREADY_MEMBER": _("This person is already a member of the organization."),
    "INVITATION_EMAIL_MISMATCH": _(
        "This invitation was sent to another email address: sign in with that address to "
        "accept it."
    ),
    "RATE_LIMITED": _("Too many requests."),
    "SERVICE_UNAVAILABLE": _("A backing service is unavailable."),
    "INTERNAL_ERROR": _("Something went wrong on our end."),
}

# The HTTP status each code is answered with.
STATUSES: dict[str, int] = {
    "BAD_REQUEST": 400,
    "VALIDATION_ERROR": 400,
    "MALFORMED_JSON": 400,
    "INVALID_PASSWORD": 400,
    "INVALID_TOKEN": 400,
    "UNAUTHORIZED": 401,
    "INVALID_CREDENTIALS": 401,
    "KEY_INVALID": 401,
    "KEY_EXPIRED": 401,
    "KEY_REVOKED": 401,
    "TOKEN_INVALID": 401,
    "SESSION_REQUIRED": 403,
    "INSUFFICIENT_SCOPE": 403,
    "ORGANIZATION_MISMATCH": 403,
    "KEY_BROADER_THAN_CREATOR": 403,
    "KEY_OUTRANKS_CALLER": 403,
    "KEY_POLICY_VIOLATION": 403,
    "KEY_REVOKED_IN_ORGANIZATION": 403,
    "FORBIDDEN": 403,
    "EMAIL_NOT_VERIFIED": 403,
    "NOT_ORGANIZATION_MEMBER": 403,
    "INSUFFICIENT_ROLE": 403,
    "CROSS_ORIGIN_REQUEST": 403,
    "HTTPS_REQUIRED": 403,
    "INVITATION_EMAIL_MISMATCH": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "EMAIL_TAKEN": 409,
    "LAST_OWNER": 409,
    "ALREADY_MEMBER": 409,
    "KEY_NOT_ACTIVE": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}

# DRF's default codes, mapped onto ours.
_DRF_CODES = {
    "parse_error": "MALFORMED_JSON",
    "not_authenticated": "UNAUTHORIZED",
    "authentication_failed": "UNAUTHORIZED",
    "permission_denied": "FORBIDDEN",
    "not_found": "NOT_FOUND",
    "method_not_allowed": "METHOD_NOT_ALLOWED",
    "not_acceptable": "NOT_ACCEPTABLE",
    "unsupported_media_type": "UNSUPPORTED_MEDIA_TYPE",
    "throttled": "RATE_LIMITED",
    "invalid": "VALIDATION_ERROR",
    "error": "INTERNAL_ERROR",
}


class ApiError(exceptions.APIException):
    """A domain error: a status, a stable machine code and a message from the catalogue.

    Services raise these; the exception handler renders them. `extra` adds fields to the
    error body (for example `required_scopes`).
    """

    status_code = status.HTTP_400_BAD_REQUEST
    code = "BAD_REQUEST"

    def __init__(self, message: Any = None, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message or MESSAGES[self.code], code=self.code)
        self.extra = extra or {}


class InvalidCredentials(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "INVALID_CREDENTIALS"


class CredentialChanged(ApiError):
    """The session or key a request came with stopped working while the request ran (the
    account was secured, reset or deactivated, or the key revoked): nothing was done."""

    status_code = status.HTTP_401_UNAUTHORIZED
    code = "UNAUTHORIZED"


class InvalidPassword(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "INVALID_PASSWORD"


class SessionRequired(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "SESSION_REQUIRED"


class KeyRejected(ApiError, exceptions.AuthenticationFailed):
    """A presented API key that does not authenticate: 401, `error` "Unauthorized" (as the
    product documents show), the machine code and a `reason` saying why."""

    status_code = status.HTTP_401_UNAUTHORIZED

    def __init__(self) -> None:
        super().__init__(MESSAGES["UNAUTHORIZED"], extra={"reason": str(MESSAGES[self.code])})


class KeyInvalid(KeyRejected):
    code = "KEY_INVALID"


class TokenInvalid(KeyRejected):
    """An OAuth access token that does not authenticate."""

    code = "TOKEN_INVALID"


class KeyExpired(KeyRejected):
    code = "KEY_EXPIRED"


class KeyRevoked(KeyRejected):
    code = "KEY_REVOKED"


# The same refusals, worded for an OAuth access token (the code stays the same).
TOKEN_MESSAGES = {
    "INSUFFICIENT_SCOPE": _("Insufficient access token scopes. Missing: {scopes}"),
    "ORGANIZATION_MISMATCH": _("This access token is pinned to another organization."),
}


def _worded(code: str, via: str) -> Any:
    return TOKEN_MESSAGES[code] if via == "oauth" else MESSAGES[code]


class InsufficientScope(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "INSUFFICIENT_SCOPE"

    def __init__(self, scope: str, *, via: str = "api_key") -> None:
        super().__init__(
            str(_worded(self.code, via)).format(scopes=scope), extra={"required_scopes": [scope]}
        )


class OrganizationMismatch(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "ORGANIZATION_MISMATCH"

    def __init__(self, *, via: str = "api_key") -> None:
        super().__init__(_worded(self.code, via))


class KeyBroaderThanCreator(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "KEY_BROADER_THAN_CREATOR"


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "PAYLOAD_TOO_LARGE"


class HttpsRequired(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "HTTPS_REQUIRED"


class RateLimited(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "RATE_LIMITED"

    def __init__(self, outcome: Any) -> None:
        super().__init__(
            f"Too many requests: try again in {outcome.retry_after} seconds.",
            extra={"retryAfter": outcome.retry_after},
        )
        self.wait = outcome.retry_after
        self.outcome = outcome


class KeyOutranksCaller(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "KEY_OUTRANKS_CALLER"


# What each key policy rule refuses, as KEY_POLICY_VIOLATION's message names it.
POLICY_RULES: dict[str, Any] = {
    "requireExpiry": _("requireExpiry (keys must have an expiry)"),
    "maxLifetimeDays": _("maxLifetimeDays (the key lives longer than the policy allows)"),
    "allowedScopes": _("allowedScopes (the key has a scope the policy does not allow)"),
    "maxKeysPerMember": _("maxKeysPerMember (you hold as many keys as the policy allows)"),
    "allowedCidrs": _("allowedCidrs (requests from this address are not allowed)"),
    "staleAfterDays": _("staleAfterDays (the key has been unused too long)"),
}


class KeyPolicyViolation(ApiError):
    """A key refused by its organization's key policy, or by its own allowedCidrs (`source`
    "key"): `rule` names the rule."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "KEY_POLICY_VIOLATION"

    def __init__(self, rule: str, *, source: str = "organization") -> None:
        if source == "key":
            message = _("This API key may not be used from this address (its allowedCidrs).")
        else:
            message = str(MESSAGES[self.code]).format(rule=POLICY_RULES[rule])
        super().__init__(message, extra={"rule": rule, "source": source})
        self.rule = rule
        self.source = source


class KeyRevokedInOrganization(ApiError):
    """An unpinned key an organization's owner or admin revoked there: it still works
    elsewhere."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "KEY_REVOKED_IN_ORGANIZATION"


class KeyNotActive(ApiError):
    """Rolling or editing a key that is revoked or expired: nothing it could do would change."""

    status_code = status.HTTP_409_CONFLICT
    code = "KEY_NOT_ACTIVE"


class EmailNotVerified(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "EMAIL_NOT_VERIFIED"


class NotOrganizationMember(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "NOT_ORGANIZATION_MEMBER"


class InsufficientRole(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "INSUFFICIENT_ROLE"


class CrossOriginRequest(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "CROSS_ORIGIN_REQUEST"


class EmailTaken(ApiError):
    status_code = status.HTTP_409_CONFLICT
    code = "EMAIL_TAKEN"


class LastOwner(ApiError):
    status_code = status.HTTP_409_CONFLICT
    code = "LAST_OWNER"


class AlreadyMember(ApiError):
    status_code = status.HTTP_409_CONFLICT
    code = "ALREADY_MEMBER"


class InvitationEmailMismatch(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "INVITATION_EMAIL_MISMATCH"


class InvalidToken(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "INVALID_TOKEN"


NON_FIELD = "non_field_errors"


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["message", ...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            # Errors about a nested object itself belong to the object's own field.
            path = f"{prefix}.{key}" if prefix and key != NON_FIELD else prefix or str(key)
            out.update(_flatten(value, path))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or NON_FIELD: [str(item) for item in detail]} if detail else {}
        out = {}
        for index, item in enumerate(detail):
            out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or NON_FIELD: [str(detail)]}


MAX_DETAILS = 20  # fields listed in one error body: enough to fix a form, not to amplify junk


def _validation_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    details = dict(islice(_flatten(exc.detail).items(), MAX_DETAILS))
    field, messages = next(iter(details.items()), (NON_FIELD, [str(MESSAGES["VALIDATION_ERROR"])]))
    message = messages[0] if field == NON_FIELD else f"{field}: {messages[0]}"
    return error_body(400, "VALIDATION_ERROR", message, details=details)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error raised in an API view becomes the error envelope."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(MESSAGES["NOT_FOUND"])
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(MESSAGES["FORBIDDEN"])

    if not isinstance(exc, exceptions.APIException):
        # Unexpected: log it with its traceback and answer in the envelope, never with HTML.
        logger.exception("Unhandled error in %s", type(context.get("view")).__name__)
        return Response(error_body(500, "INTERNAL_ERROR", MESSAGES["INTERNAL_ERROR"]), status=500)

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, TokenInvalid):
        headers["WWW-Authenticate"] = challenge(error="invalid_token")
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))

    if isinstance(exc, exceptions.ValidationError):
        body = _validation_body(exc)
    else:
        if isinstance(exc, ApiError):
            code = exc.code
        else:
            raw = exc.get_codes() if isinstance(exc.detail, str) else None
            code = _DRF_CODES.get(raw) or (raw if raw and raw.isupper() else "BAD_REQUEST")
        message = exc.detail
        if code in {"UNAUTHORIZED", "UNSUPPORTED_MEDIA_TYPE"}:
            message = MESSAGES[code]
        body = error_body(exc.status_code, code, message, **getattr(exc, "extra", {}))
    return Response(body, status=exc.status_code, headers=headers)
