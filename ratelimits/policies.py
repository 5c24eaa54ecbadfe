"""Which rate-limit policies a request counts against: decided here, and only here."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from accounts.identity import canonical_email
from api.errors import RateLimited
from audit.models import Action
from audit.services import audit_record_once
from lib.clientip import client_ip, ip_identity
from ratelimits import counters
from ratelimits.counters import Outcome, Policy, Rate, check, check_and_probe, release

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

    A key request counts against an organization's plan (the plan's per-key budget, and its
    budget for the organization's keys together) only when given that `organization` =
    (id, plan), which only the tenancy gate names, once it has admitted the caller
    (ApiView.charged_organization). Nothing the key carries is enough: its pin says where it
    may act, not that its owner still belongs there.
    """
    limits = settings.RATELIMITS
    key, user = request.auth, request.user
    # An OAuth access token is counted as a key is, under a name of its own.
    kind = "key" if key is None else getattr(key, "credential_kind", "key")
    if key is not None and organization is not None:
        budgets = plan_budgets(organization[1])
        # One hash tag, the organization's: both counters in one atomic script call.
        policies = [
            Policy(kind, key.pk, budgets["key"], tag=organization[0]),
            Policy("organization", organization[0], budgets["organization"]),
        ]
    elif key is not None:
        policies = [Policy(kind, key.pk, limits["KEY"])]
    elif user is not None and user.is_authenticated:
        policies = [Policy("user", user.pk, limits["USER"])]
    else:
        policies = [Policy("ip", ip_identity(client_ip(request._request)), limits["ANON"])]
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
    # Tagged like the request's own policy for the same ip or user, so both count together.
    return Policy(name.lower(), f"{per}:{identity}", settings.RATELIMITS[name], tag=identity)


def consume(request: Request | Any, action: str, *, per: str = "ip") -> None:
    """Spend one of a named action's budget (RATELIMITS[action], e.g. "SIGNUP"), counted per
    "ip" or per "user"; RateLimited once it is spent. The entry point for pages and forms;
    API views declare the same as data (`rate_limits = [("SIGNUP", "ip")]`), and both spend
    one budget."""
    enforce(request, [named_policy(request, action, per)])


def consume_for_organization(request: Request | Any, action: str, organization_id: str) -> None:
    """Spend one of a named action's budget counted per organization, whoever in it spends it
    (e.g. "INVITATIONS_ORGANIZATION"); RateLimited once it is spent. Called only once the
    caller was admitted to the organization: an outsider cannot spend a tenant's budget."""
    policy = Policy(
        action.lower(),
        f"organization:{organization_id}",
        settings.RATELIMITS[action],
        tag=organization_id,
    )
    enforce(request, [policy], headers=False)


def account_identity(email: str) -> str:
    """The key that counts for an address in limits and locks: a digest of its canonical form
    (so no look-alike spelling gets a budget of its own, and no address sits in a cache key)."""
    return hashlib.sha256(canonical_email(email).encode()).hexdigest()[:32]


def signin_failure_policies(
    request: Request | Any, email: str, *, known_device: bool = False
) -> list[Policy]:
    """Failed sign-ins: per (account, client network), per client network, and per account
    across every network, a much higher ceiling. A browser that has signed in to the account
    before (a known device) is exempt from that ceiling, so guessing from elsewhere cannot
    lock the owner out of their own browser."""
    limits = settings.RATELIMITS
    account = account_identity(email)
    ip = ip_identity(client_ip(getattr(request, "_request", request)))
    policies = [
        Policy(
            "signin-failures-account-ip",
            f"{account}:{ip}",
            limits["SIGNIN_FAILURES_ACCOUNT_IP"],
            tag=account,
        ),
        Policy("signin-failures-ip", ip, limits["SIGNIN_FAILURES_IP"]),
    ]
    if not known_device:
        policies.append(
            Policy("signin-failures-account", account, limits["SIGNIN_FAILURES_ACCOUNT"])
        )
    return policies


def enforce(
    request: Request | Any,
    policies: Sequence[Policy],
    *,
    cost: int = 1,
    local_fallback: bool = False,
    headers: bool = True,
    now: float | None = None,
    expect: Sequence[tuple[str, bool]] = (),
) -> bool:
    """Count the request (or, with cost 0, only look); refuse it with 429 if any policy is
    exhausted. The outcome is kept on the request for the X-RateLimit-* headers (unless
    `headers` is off: a sign-in failure budget is not the request's own budget).
    `local_fallback` keeps counting in this process while the cache is down.

    `expect` lists cache keys with whether each must exist; they are asked in the same round
    trip. Returns False when one is not as expected (or the cache could not say): then
    nothing is counted or refused, and the caller learnt that its credential must be read
    again; it will come back with the policies that credential really spends."""
    enabled = settings.RATELIMITS["ENABLED"]
    if not enabled and not expect:
        return True
    at = counters.timer() if now is None else now
    outcome, found = check_and_probe(
        policies if enabled else (),
        probes=[key for key, _exists in expect],
        cost=cost,
        local_fallback=local_fallback,
        now=at,
    )
    if expect and found != [exists for _key, exists in expect]:
        if outcome is not None and outcome.allowed and cost:
            release(policies, at=at, cost=cost)
        return False
    if outcome is None:
        return True
    http_request = getattr(request, "_request", request)
    if (cost and headers) or not outcome.allowed:
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
    return True


def failure_spend(request: Request | Any, policies: Sequence[Policy]) -> float:
    """Count an attempt as a failure before the password is checked: atomically, so that N
    concurrent guesses against a budget of 5 check at most 5 passwords, and still bounded by
    this process's own counters while the cache is down. RateLimited once spent. Returns
    the time it was counted at, for failure_refund."""
    at = counters.timer()
    enforce(request, policies, local_fallback=True, headers=False, now=at)
    return at


def failure_refund(policies: Sequence[Policy], at: float) -> None:
    """The attempt failure_spend counted at `at` succeeded: it was no failure. It is given
    back in the windows it was counted in."""
    if settings.RATELIMITS["ENABLED"]:
        release(policies, at=at)


def email_recipient_allowed(email: str, *, budget: str = "EMAIL_RECIPIENT") -> bool:
    """Count one verification or reset mail (or, with budget="INVITATION_RECIPIENT", one
    invitation) to this address, by its canonical form, whoever asks and from however many
    networks; False once the address's budget is spent."""
    if not settings.RATELIMITS["ENABLED"]:
        return True
    policy = Policy(
        budget.lower().replace("_", "-"), account_identity(email), settings.RATELIMITS[budget]
    )
    # Counted in this process while the cache is down: an outage must not open a mail flood.
    outcome = check([policy], local_fallback=True)
    return outcome is None or outcome.allowed


def rate_limit_headers(outcome: Outcome) -> dict[str, str]:
    """The X-RateLimit-* headers and the IETF RateLimit-Policy and RateLimit fields
    (draft-ietf-httpapi-ratelimit-headers), for the policy closest to running out."""
    policy = outcome.policy
    seconds = (
        outcome.retry_after
        if not outcome.allowed
        else max(0, outcome.reset - int(counters.timer()))
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
