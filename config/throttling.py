"""Which rate-limit policies a request counts against: decided here, and only here."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from audit.models import Action
from audit.services import audit_record_once
from config import ratelimit
from config.clientip import client_ip, ip_identity
from config.errors import RateLimited
from config.ratelimit import Outcome, Policy, Rate, check

if TYPE_CHECKING:
    from rest_framework.request import Request


def plan_budgets(plan: str) -> dict[str, Rate]:
    """The key and organization budgets of a plan (an unknown plan gets the free one's)."""
    plans = settings.RATELIMITS["PLANS"]
    return plans.get(plan) or plans["free"]


def request_policies(
    request: Request,
    extra: Sequence[tuple[str, str]] = (),
    organization: tuple[str, str] | None = None,
) -> list[Policy]:
    """Every /api/ request: per key when a key authenticated it, per user for a session, per
    client IP when anonymous; then the view's own tighter policies, e.g. ("SIGNUP", "ip").

    A key that acts for an organization (the one it is pinned to, or the URL's, given as
    `organization` = (id, plan) once the tenancy gate admitted it) counts against its plan:
    the plan's per-key budget, and the plan's budget for the organization's keys together.
    """
    limits = settings.RATELIMITS
    key, user = request.auth, request.user
    ip = ip_identity(client_ip(request._request))
    if key is not None and organization is None and key.organization_id:
        organization = (key.organization_id, key.organization.plan)
    if key is not None and organization is not None:
        budgets = plan_budgets(organization[1])
        policies = [
            Policy("key", key.pk, budgets["key"]),
            Policy("organization", organization[0], budgets["organization"]),
        ]
    elif key is not None:
        policies = [Policy("key", key.pk, limits["KEY"])]
    elif user is not None and user.is_authenticated:
        policies = [Policy("user", user.pk, limits["USER"])]
    else:
        policies = [Policy("ip", ip, limits["ANON"])]
    policies.extend(named_policy(request, name, per) for name, per in extra)
    return policies


def named_policy(request: Request | Any, name: str, per: str) -> Policy:
    """One of the tighter policies in RATELIMITS (e.g. "SIGNUP"), counted per "ip" or per
    "user". The API and the dashboard's forms share it: both spend the same budget."""
    user = getattr(request, "user", None)
    if per == "user" and user is not None and user.is_authenticated:
        identity = user.pk
    else:
        identity = ip_identity(client_ip(getattr(request, "_request", request)))
    return Policy(name.lower(), f"{per}:{identity}", settings.RATELIMITS[name])


def signin_failure_policies(request: Request | Any, email: str) -> list[Policy]:
    """Failed sign-ins, per account (the normalised email, digested: no address in a cache
    key) and per client IP."""
    limits = settings.RATELIMITS
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    ip = ip_identity(client_ip(getattr(request, "_request", request)))
    return [
        Policy("signin-failures-account", account, limits["SIGNIN_FAILURES_ACCOUNT"]),
        Policy("signin-failures-ip", ip, limits["SIGNIN_FAILURES_IP"]),
    ]


def enforce(request: Request | Any, policies: Sequence[Policy], *, cost: int = 1) -> None:
    """Count the request (or, with cost 0, only look); refuse it with 429 if any policy is
    exhausted. The outcome is kept on the request for the X-RateLimit-* headers."""
    if not settings.RATELIMITS["ENABLED"]:
        return
    outcome = check(policies, cost=cost)
    if outcome is None:
        return
    http_request = getattr(request, "_request", request)
    if cost or not outcome.allowed:
        http_request.ratelimit = outcome
    if not outcome.allowed:
        policy = outcome.policy
        user = getattr(request, "user", None)
        audit_record_once(
            once_key=f"rate:{policy.name}:{policy.identity}:{outcome.reset}",
            within=policy.rate.window,
            action=Action.RATE_LIMITED,
            request=http_request,
            actor=user if user is not None and user.is_authenticated else None,
            api_key=getattr(request, "auth", None),
            detail={
                "policy": policy.name,
                "limit": policy.rate.limit,
                "window": policy.rate.window,
            },
        )
        raise RateLimited(outcome)


def record(policies: Sequence[Policy]) -> None:
    """Count an event (a failed sign-in) without refusing the request that caused it."""
    if settings.RATELIMITS["ENABLED"]:
        check(policies)


def rate_limit_headers(outcome: Outcome) -> dict[str, str]:
    """Seed 004's X-RateLimit-* headers and the IETF RateLimit-Policy and RateLimit fields
    (draft-ietf-httpapi-ratelimit-headers), for the policy closest to running out."""
    policy = outcome.policy
    seconds = (
        outcome.retry_after
        if not outcome.allowed
        else max(0, outcome.reset - int(ratelimit.timer()))
    )
    headers = {
        "X-RateLimit-Limit": str(policy.rate.limit),
        "X-RateLimit-Remaining": str(outcome.remaining),
        "X-RateLimit-Reset": str(outcome.reset),
        "RateLimit-Policy": f'"{policy.name}";q={policy.rate.limit};w={policy.rate.window}',
        "RateLimit": f'"{policy.name}";r={outcome.remaining};t={seconds}',
    }
    if not outcome.allowed:
        headers["Retry-After"] = str(outcome.retry_after)
    return headers
