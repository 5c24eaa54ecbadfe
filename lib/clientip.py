"""The client's IP address, trusting X-Forwarded-For only from configured proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or with TRUSTED_PROXY_COUNT = N > 0, the address the outermost of our N
    proxies saw: the N-th entry from the right of X-Forwarded-For. Entries further left are
    whatever the client chose to send, so a spoofed header cannot change the answer."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            remote = forwarded[-hops]
    return canonical(remote)


@lru_cache(maxsize=4096)
def canonical(address: str) -> str:
    """The address in its canonical form, or "unknown" for anything else. Parsed once per
    worker for each address seen recently: a request asks for it several times (its rate
    limits, its key's networks and its organization's, its usage)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.scope_id:
        # A link-local address's zone ("%eth0") names an interface of ours, not the client.
        parsed = ipaddress.IPv6Address(address.split("%", 1)[0])
    return str(parsed)


@lru_cache(maxsize=4096)
def ip_identity(address: str) -> str:
    """What a per-IP limit counts: the address, or for IPv6 its /64, which one subscriber
    usually holds whole."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
