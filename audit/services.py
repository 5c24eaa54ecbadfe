"""Record audit events. Call inside the transaction of the change an event describes, so a
rolled-back change leaves no event.

Never pass a secret: not a password, session id, key, key digest or token. `detail` is for
small, non-secret facts (scopes, a pin, an expiry, a role, a reason code).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db.models import Model
from django.http import HttpRequest

from audit.models import AuditEvent
from lib.clientip import client_ip
from lib.requestid import current_request, current_request_id

logger = logging.getLogger(__name__)


def audit_record(
    *,
    action: str,
    request: HttpRequest | Any | None = None,
    actor: Any = None,
    api_key: Any = None,
    organization: Any = None,
    organization_id: str | None = None,
    target: Model | None = None,
    detail: dict[str, Any] | None = None,
    origin: Mapping[str, str] | None = None,
) -> AuditEvent:
    """Write one event. The client IP, user agent and request id come from `request` (a
    Django or DRF request) or else the request being served; with an explicit `request`, the
    actor and key default to the request's own. A background task passes the `origin` of the
    request that enqueued it instead (request_origin)."""
    http = getattr(request, "_request", request) or current_request()
    ip = user_agent = ""
    request_id = current_request_id()
    if origin is not None:
        ip, user_agent = origin.get("ip", ""), origin.get("user_agent", "")
        request_id = origin.get("request_id", "") or request_id
    elif http is not None:
        ip = client_ip(http)
        user_agent = http.META.get("HTTP_USER_AGENT", "")[:300]
        if actor is None and request is not None:
            user = getattr(request, "user", None)
            actor = user if user is not None and user.is_authenticated else None
        if api_key is None and request is not None:
            api_key = getattr(request, "auth", None)
    if api_key is not None and getattr(api_key, "credential_kind", "api_key") == "oauth":
        # An OAuth access token stands where a key does: named in the detail, never a key.
        detail = {
            **(detail or {}),
            "oauthTokenId": api_key.pk,
            "oauthClientId": getattr(api_key.application, "client_id", None),
        }
        api_key = None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        api_key=api_key,
        organization_id=organization_id or getattr(organization, "pk", None),
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        ip=ip if ip and ip != "unknown" else None,
        user_agent=user_agent,
        request_id=request_id,
        detail=detail or {},
    )


def request_origin(request: HttpRequest | Any) -> dict[str, str]:
    """Where a request came from (client IP, user agent, request id), for a task it enqueues."""
    http = getattr(request, "_request", request)
    return {
        "ip": client_ip(http),
        "user_agent": http.META.get("HTTP_USER_AGENT", "")[:300],
        "request_id": current_request_id(),
    }


def audit_record_once(*, once_key: str, within: int, **event: Any) -> None:
    """Record an event of a kind that attackers can trigger at will (refusals, rate-limit
    trips) at most once per `once_key` per `within` seconds, so they cannot flood the trail.
    Outside a transaction, and never failing the request: the refusal stands either way."""
    try:
        if not cache.add(f"audit:once:{once_key}", 1, timeout=within):
            return
        audit_record(**event)
    except Exception:
        logger.warning("Audit event %r not recorded", event.get("action"), exc_info=True)
