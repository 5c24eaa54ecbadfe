"""An organization's rules for the keys acting in it, and a key's own network list.

A policy is stored on the organization's row in its API form (camelCase, absent fields off):

- `requireExpiry`: keys must expire;
- `maxLifetimeDays`: keys must expire within this many days of their creation;
- `allowedScopes`: keys may carry only scopes these cover;
- `maxKeysPerMember`: a member may hold this many active keys that act in the organization
  (pinned to it, or unpinned), checked when one is created pinned to it;
- `allowedCidrs`: keys acting in the organization are refused from any other address;
- `staleAfterDays`: keys unused this long stop working in the organization.

The rules are checked when a key is created pinned to the organization (`check_creation`) and
on every request a key makes to it (`check_use`, from the tenancy gate, with the policy the
gate already read: no query of its own). A rule that refuses raises KeyPolicyViolation naming
it, so a policy applies to keys that existed before it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from access.scopes import scope_covers
from api.errors import KeyPolicyViolation

RULES = (
    "requireExpiry",
    "maxLifetimeDays",
    "allowedScopes",
    "maxKeysPerMember",
    "allowedCidrs",
    "staleAfterDays",
)
MAX_CIDRS = 50
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def empty() -> dict[str, Any]:
    """A policy with every rule off, in its API form."""
    return {
        "requireExpiry": False,
        "maxLifetimeDays": None,
        "allowedScopes": None,
        "maxKeysPerMember": None,
        "allowedCidrs": None,
        "staleAfterDays": None,
    }


def shown(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every rule of a stored policy, off ones included, as the API shows it."""
    return {**empty(), **{rule: value for rule, value in (stored or {}).items() if rule in RULES}}


def stored(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The rules that are on, as the organization's row keeps them (an empty dict: none)."""
    return {rule: value for rule, value in policy.items() if rule in RULES and value}


@lru_cache(maxsize=256)
def networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The parsed networks of a (validated) CIDR list, parsed once per worker."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def normalized_cidrs(values: Iterable[str]) -> list[str]:
    """Each CIDR (or bare address) in canonical form, duplicates dropped; ValueError names the
    first that is not one."""
    result: list[str] = []
    for value in values:
        try:
            network = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP network such as 203.0.113.0/24.") from None
        if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(IPV4_MAPPED):
            # Written as IPv4-mapped IPv6: client addresses are compared in their IPv4 form.
            network = ipaddress.ip_network(
                (network.network_address.ipv4_mapped, network.prefixlen - 96)
            )
        if str(network) not in result:
            result.append(str(network))
    return result


def address_allowed(address: str, cidrs: Sequence[str]) -> bool:
    """Whether the client address lies in one of the networks; an unknown address never does."""
    parsed = _parsed(address)
    return parsed is not None and any(parsed in network for network in networks(tuple(cidrs)))


@lru_cache(maxsize=4096)
def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client address, an IPv4-mapped one in its IPv4 form; None if it is not one."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _lifetime_violation(
    policy: Mapping[str, Any], created_at: datetime, expires_at: datetime | None
) -> str | None:
    if policy.get("requireExpiry") and expires_at is None:
        return "requireExpiry"
    days = policy.get("maxLifetimeDays")
    if days and (expires_at is None or expires_at - created_at > timedelta(days=days)):
        return "maxLifetimeDays"
    return None


def _scope_violation(policy: Mapping[str, Any], scopes: Iterable[str]) -> str | None:
    allowed = policy.get("allowedScopes")
    if allowed and not all(scope_covers(allowed, scope) for scope in scopes):
        return "allowedScopes"
    return None


def check_creation(
    policy: Mapping[str, Any] | None,
    *,
    created_at: datetime,
    expires_at: datetime | None,
    scopes: Iterable[str],
    keys_held: Callable[[], int],
) -> None:
    """Refuse a key about to be created pinned to the organization that the policy would
    refuse: its lifetime, its scopes, or one key too many for its owner (`keys_held` counts
    the owner's active keys acting in the organization, asked only when the policy caps it)."""
    if not policy:
        return
    rule = _lifetime_violation(policy, created_at, expires_at) or _scope_violation(policy, scopes)
    limit = policy.get("maxKeysPerMember")
    if rule is None and limit and keys_held() >= limit:
        rule = "maxKeysPerMember"
    if rule is not None:
        raise KeyPolicyViolation(rule)


def check_scopes(policy: Mapping[str, Any] | None, scopes: Iterable[str]) -> None:
    """Refuse scopes given to a key acting in the organization (by an edit) that the policy
    does not allow."""
    if policy and _scope_violation(policy, scopes):
        raise KeyPolicyViolation("allowedScopes")


def check_use(
    policy: Mapping[str, Any] | None,
    *,
    key: Any,
    address: str,
    idle_since: datetime,
    now: datetime,
) -> None:
    """Refuse a request a key makes to the organization that its policy forbids. `idle_since`
    is when the key was last used before this request (or created, if never)."""
    if not policy:
        return
    cidrs = policy.get("allowedCidrs")
    if cidrs and not address_allowed(address, cidrs):
        raise KeyPolicyViolation("allowedCidrs")
    rule = _lifetime_violation(policy, key.created_at, key.expires_at) or _scope_violation(
        policy, key.scopes
    )
    if rule is not None:
        raise KeyPolicyViolation(rule)
    stale = policy.get("staleAfterDays")
    if stale and now - idle_since > timedelta(days=stale):
        raise KeyPolicyViolation("staleAfterDays")


def check_key_networks(key: Any, address: str) -> None:
    """Refuse a key used from outside its own allowedCidrs, wherever it acts."""
    if key.allowed_cidrs and not address_allowed(address, key.allowed_cidrs):
        raise KeyPolicyViolation("allowedCidrs", source="key")


def networks_within(inner: Sequence[str], outer: Sequence[str]) -> bool:
    """Whether every network of `inner` lies inside one of `outer`'s (an empty `outer`: any
    address, which contains everything; an empty `inner`: any address, contained only by an
    empty `outer`)."""
    if not outer:
        return True
    if not inner:
        return False
    wide = networks(tuple(outer))
    return all(
        any(
            network.version == other.version and network.subnet_of(other)  # type: ignore[arg-type]
            for other in wide
        )
        for network in networks(tuple(inner))
    )
