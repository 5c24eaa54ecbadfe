"""Rate-limit counters shared by every worker: several policies checked and counted together,
atomically, in one cache round trip.

Each policy is a fixed window: a counter per (policy, identity, window) that lives one window
plus a margin, so every counter key has a TTL from the moment it exists. Fixed windows were
chosen over GCRA or sliding windows because they give exact "N per window" answers that the
X-RateLimit-* and RateLimit headers can state plainly (limit, remaining, reset), and exact
counts under concurrency; the price, up to twice the limit across a window boundary, is
acceptable for abuse limits.

On Redis, one Lua script reads every counter of the request and, only if all of them have
room, increments them all: a refused request consumes nothing, no update is lost between
workers, and it is one round trip however many policies apply. Elsewhere (the local-memory
cache: one process), the same happens under a process-wide lock.

Every counter name carries its policy's hash tag (`rl:{tag}:…`), and one script call only
touches counters of one tag, so the scripts are valid on Redis Cluster. A request's policies
usually share one (a key request on a tenant route: the organization); policies of different
tags go to one script call each, sent together in the same round trip, and if one refuses
while another counted, what was counted is given back. The same round trip may carry probes
(does this key exist?), which the warm-key cache uses to confirm a key on every request.

If the cache fails, requests are allowed (fail open) and a warning is logged at most once a
minute: a limiter outage must not become an API outage. Callers that guard against guessing
(failed sign-ins) ask for `local_fallback`: their counters then live in this process until
the cache is back, so guessing stays bounded (by the limit times the number of processes).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import NoScriptError

logger = logging.getLogger(__name__)

timer: Callable[[], float] = time.time  # the clock, a seam for tests
TTL_MARGIN = 5  # seconds a counter outlives its window
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")

# KEYS: the counters. ARGV: cost, then limit and TTL of each counter in KEYS order.
# Returns {allowed (1/0), count of each counter after the call}.
_SCRIPT = """
local cost = tonumber(ARGV[1])
local counts = {}
local allowed = 1
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  local limit = tonumber(ARGV[2 * i])
  counts[i] = count
  if (cost == 0 and count >= limit) or (cost > 0 and count + cost > limit) then
    allowed = 0
  end
end
if allowed == 1 and cost > 0 then
  for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCRBY', key, cost)
    if redis.call('TTL', key) < 0 then
      redis.call('EXPIRE', key, tonumber(ARGV[2 * i + 1]))
    end
  end
end
table.insert(counts, 1, allowed)
return counts
"""

# KEYS: the counters. ARGV: how much to give back. Never below zero, never creating a key.
_RELEASE_SCRIPT = """
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count > 0 then
    redis.call('DECRBY', key, math.min(count, tonumber(ARGV[1])))
  end
end
return 1
"""


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, text: str, *, setting: str = "rate") -> Rate:
        """`"100/min"`, `"5/5min"`, `"1000/hour"`, `"10/30s"`."""
        match = _RATE.match(text.lower())
        if not match or match.group(3) not in _UNITS:
            raise ImproperlyConfigured(
                f"{setting} must look like 100/min, 5/5min or 1000/hour, not {text!r}."
            )
        window = int(match.group(2) or 1) * _UNITS[match.group(3)]
        if window <= 0:
            raise ImproperlyConfigured(f"{setting} needs a window of at least a second.")
        return cls(limit=int(match.group(1)), window=window)

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}s"


@dataclass(frozen=True)
class Policy:
    """One limit on one identity: `name` says what is limited ("ip", "key", "signin-account"),
    `identity` who (an IP, a key id, a digest of an email)."""

    name: str
    identity: str
    rate: Rate
    # The Redis Cluster hash tag of its counters (the identity, unless given): policies that
    # share one are counted by one atomic script call.
    tag: str = field(default="", compare=False)

    @property
    def slot_tag(self) -> str:
        return str(self.tag or self.identity)


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    policy: Policy  # the policy closest to running out (the one that refused, if refused)
    remaining: int
    reset: int  # Unix time at which that policy's window ends

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - timer()))


class _Warner:
    """Log a cache outage at most once a minute, not once per request."""

    def __init__(self) -> None:
        self.last = -math.inf

    def __call__(self) -> None:
        now = timer()
        if now - self.last >= 60:
            self.last = now
            logger.warning("Rate limits are not enforced: the cache is unavailable", exc_info=True)


_warn = _Warner()
_lock = threading.Lock()
# This process's own counters, for policies that must stay bounded while the cache is down.
_local = LocMemCache("latchkey-ratelimit-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})


def _counter_name(policy: Policy, window_start: int) -> str:
    return (
        f"rl:{{{policy.slot_tag}}}:{policy.name}:{policy.identity}:"
        f"{policy.rate.window}:{window_start}"
    )


@dataclass(frozen=True)
class _Script:
    source: str
    sha: str = ""

    def __post_init__(self) -> None:
        # Redis names a script by the SHA-1 of its source.
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324


_COUNT = _Script(_SCRIPT)
_RELEASE = _Script(_RELEASE_SCRIPT)


def _redis(store: object) -> object | None:
    """The cache, when it runs scripts (lib.cache.RedisCache); None for a local cache."""
    return store if hasattr(store, "round_trip") else None


def _run(
    redis: object, calls: list[tuple[_Script, list[str], list[int]]], probes: Sequence[str]
) -> tuple[list[Any], list[bool]]:
    """Each script call, then `EXISTS` of each probe, in one round trip. Returns the script
    replies and whether each probe exists. A script the server does not know yet (NOSCRIPT:
    restarted, or first use) is loaded and only the calls it refused are sent again."""
    commands: list[tuple] = [
        ("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls
    ]
    commands += [("EXISTS", probe) for probe in probes]
    replies = redis.round_trip(commands)  # type: ignore[attr-defined]
    unknown = [i for i, r in enumerate(replies[: len(calls)]) if _is_noscript(r)]
    if unknown:
        loads = {calls[i][0].source for i in unknown}
        redis.round_trip([("SCRIPT", "LOAD", source) for source in loads])  # type: ignore[attr-defined]
        again = redis.round_trip([commands[i] for i in unknown])  # type: ignore[attr-defined]
        for i, reply in zip(unknown, again, strict=True):
            replies[i] = reply
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies[: len(calls)], [bool(reply) for reply in replies[len(calls) :]]


def _is_noscript(reply: object) -> bool:
    return isinstance(reply, NoScriptError)


def _groups(policies: Sequence[Policy]) -> list[list[int]]:
    """The policies' indexes, grouped by hash tag (in first-seen order)."""
    groups: dict[str, list[int]] = {}
    for i, policy in enumerate(policies):
        groups.setdefault(policy.slot_tag, []).append(i)
    return list(groups.values())


def _count(
    keys: list[str], policies: Sequence[Policy], cost: int, probes: Sequence[str] = ()
) -> tuple[bool, list[int], list[bool]]:
    store = caches[DEFAULT_CACHE_ALIAS]
    redis = _redis(store)
    if redis is None:
        allowed, counts = _count_in(store, keys, policies, cost)
        return allowed, counts, [store.has_key(probe) for probe in probes]
    # The names are ours, short and printable: no need for the memcached-minded validation.
    full = [store.make_key(key) for key in keys]
    calls = []
    groups = _groups(policies)
    for group in groups:
        args = [cost]
        for i in group:
            args += [policies[i].rate.limit, policies[i].rate.window + TTL_MARGIN]
        calls.append((_COUNT, [full[i] for i in group], args))
    replies, exists = _run(redis, calls, [store.make_key(probe) for probe in probes])
    counts = [0] * len(policies)
    verdicts = []
    for group, (allowed, *group_counts) in zip(groups, replies, strict=True):
        verdicts.append(bool(allowed))
        for i, count in zip(group, group_counts, strict=True):
            counts[i] = int(count)
    if cost > 0 and not all(verdicts):
        # All or nothing across tags too: give back what the groups with room counted.
        counted = [i for group, ok in zip(groups, verdicts, strict=True) if ok for i in group]
        if counted:
            _release_keys(redis, [full[i] for i in counted], cost)
            for i in counted:
                counts[i] -= cost
    return all(verdicts), counts, exists


def _release_keys(redis: object, full_keys: list[str], cost: int) -> None:
    by_tag: dict[str, list[str]] = {}
    for key in full_keys:
        by_tag.setdefault(key[key.index("{") : key.index("}") + 1], []).append(key)
    _run(redis, [(_RELEASE, group, [cost]) for group in by_tag.values()], ())


def _keys(policies: Sequence[Policy], now: float) -> tuple[list[int], list[str]]:
    starts = [int(now // p.rate.window) * p.rate.window for p in policies]
    return starts, [_counter_name(p, start) for p, start in zip(policies, starts, strict=True)]


def check(
    policies: Sequence[Policy],
    *,
    cost: int = 1,
    local_fallback: bool = False,
    now: float | None = None,
) -> Outcome | None:
    """Count one request (`cost` 1) against every policy, or only look (`cost` 0: refused if
    any policy is already exhausted), in the windows of `now` (the current time by default).
    Returns None if there is no policy, or if the cache failed and `local_fallback` is off;
    with it on, this process's own counters decide."""
    return check_and_probe(policies, cost=cost, local_fallback=local_fallback, now=now)[0]


def check_and_probe(
    policies: Sequence[Policy],
    *,
    probes: Sequence[str] = (),
    cost: int = 1,
    local_fallback: bool = False,
    now: float | None = None,
) -> tuple[Outcome | None, list[bool] | None]:
    """check(), and in the same round trip whether the cache holds each of `probes` (keys of
    Django's cache API). The answers are None when the cache failed."""
    if not policies:
        try:
            return None, [caches[DEFAULT_CACHE_ALIAS].has_key(probe) for probe in probes]
        except Exception:
            _warn()
            return None, None
    now = timer() if now is None else now
    starts, keys = _keys(policies, now)
    exists: list[bool] | None = None
    try:
        allowed, counts, exists = _count(keys, policies, cost, probes)
    except Exception:
        _warn()
        if not local_fallback:
            return None, None
        allowed, counts = _count_in(_local, keys, policies, cost)
        exists = None
    outcomes = [
        Outcome(
            allowed=allowed or count + max(cost, 1) <= p.rate.limit,
            policy=p,
            remaining=max(0, p.rate.limit - count),
            reset=start + p.rate.window,
        )
        for p, count, start in zip(policies, counts, starts, strict=True)
    ]
    if not allowed:
        # Refused: the policy that refuses longest says when to retry.
        refused = [o for o in outcomes if not o.allowed]
        return max(refused, key=lambda o: o.reset), exists
    return min(outcomes, key=lambda o: (o.remaining, o.reset)), exists


def release(policies: Sequence[Policy], *, at: float, cost: int = 1) -> None:
    """Give back what check(now=at) counted (a sign-in attempt counted as a failure up front
    turned out to succeed), in the windows it was counted in, even if a window has ended
    since. Never below zero."""
    if not policies:
        return
    _starts, keys = _keys(policies, at)
    try:
        redis = _redis(caches[DEFAULT_CACHE_ALIAS])
        if redis is not None:
            full_keys = [cache.make_key(key) for key in keys]
            _release_keys(redis, full_keys, cost)
            return
        _release_in(cache, keys, policies, cost)
    except Exception:
        _warn()
        _release_in(_local, keys, policies, cost)


def _count_in(
    store: object, keys: list[str], policies: Sequence[Policy], cost: int
) -> tuple[bool, list[int]]:
    """The same check in a cache local to this process (the local-memory cache, or the
    fallback counters), under a process-wide lock."""
    with _lock:
        found = store.get_many(keys)  # type: ignore[attr-defined]
        counts = [int(found.get(key, 0)) for key in keys]
        allowed = all(
            (count < p.rate.limit) if cost == 0 else (count + cost <= p.rate.limit)
            for count, p in zip(counts, policies, strict=True)
        )
        if allowed and cost > 0:
            counts = [count + cost for count in counts]
            for key, count, policy in zip(keys, counts, policies, strict=True):
                store.set(key, count, timeout=policy.rate.window + TTL_MARGIN)  # type: ignore[attr-defined]
        return allowed, counts


def _release_in(store: object, keys: list[str], policies: Sequence[Policy], cost: int) -> None:
    with _lock:
        found = store.get_many(keys)  # type: ignore[attr-defined]
        for key, policy in zip(keys, policies, strict=True):
            count = int(found.get(key, 0))
            if count > 0:
                store.set(key, max(0, count - cost), timeout=policy.rate.window + TTL_MARGIN)  # type: ignore[attr-defined]
