"""ratelimits.counters: atomic multi-policy counters, on the configured cache (Redis in CI's
second run, the local-memory cache in the first)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from ratelimits import counters as ratelimit
from ratelimits.counters import Policy, Rate, check


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ratelimit, "timer", clock)
    return clock


@pytest.mark.parametrize(
    ("text", "limit", "window"),
    [
        ("100/min", 100, 60),
        ("5/5min", 5, 300),
        ("1000/hour", 1000, 3600),
        ("10/30s", 10, 30),
        ("2 / day", 2, 86400),
        ("7/second", 7, 1),
    ],
)
def test_rates_parse(text, limit, window):
    assert Rate.parse(text) == Rate(limit=limit, window=window)


@pytest.mark.parametrize("text", ["", "100", "x/min", "10/fortnight", "10/0min", "-1/min"])
def test_bad_rates_name_the_setting(text):
    with pytest.raises(ImproperlyConfigured, match="RATELIMIT_KEY"):
        Rate.parse(text, setting="RATELIMIT_KEY")


def test_counts_down_then_refuses_and_a_refusal_consumes_nothing(clock):
    policy = Policy("ip", "192.0.2.1", Rate(3, 60))

    outcomes = [check([policy]) for _ in range(5)]

    assert [o.allowed for o in outcomes] == [True, True, True, False, False]
    assert [o.remaining for o in outcomes] == [2, 1, 0, 0, 0]
    assert {o.reset for o in outcomes} == {1_800_000_000 // 60 * 60 + 60}
    assert all(o.reset > clock.now for o in outcomes)
    assert outcomes[3].retry_after >= 1


def test_a_new_window_starts_afresh(clock):
    policy = Policy("ip", "192.0.2.1", Rate(1, 60))
    assert check([policy]).allowed
    assert not check([policy]).allowed

    clock.now += 60

    assert check([policy]).allowed


def test_retry_after_counts_to_the_end_of_the_window(clock):
    clock.now = 1_800_000_030.0  # 30 s into a 60 s window
    policy = Policy("ip", "192.0.2.1", Rate(1, 60))
    check([policy])

    refused = check([policy])

    assert refused.retry_after == 30


def test_identities_are_counted_apart(clock):
    first = Policy("key", "ak_1", Rate(1, 60))
    second = Policy("key", "ak_2", Rate(1, 60))

    assert check([first]).allowed
    assert not check([first]).allowed
    assert check([second]).allowed


def test_one_exhausted_policy_refuses_and_the_others_are_not_charged(clock):
    key = Policy("key", "ak_1", Rate(1, 60))
    organization = Policy("org", "01HZ", Rate(10, 60))
    check([key, organization])

    refused = check([key, organization])
    other_key = check([Policy("key", "ak_2", Rate(1, 60)), organization])

    assert not refused.allowed
    assert refused.policy == key
    assert other_key.allowed
    assert other_key.policy == organization or other_key.remaining == 0
    assert check([organization], cost=0).remaining == 8


def test_the_outcome_describes_the_policy_closest_to_running_out(clock):
    roomy = Policy("user", "u1", Rate(100, 60))
    tight = Policy("key", "ak_1", Rate(5, 60))

    outcome = check([roomy, tight])

    assert outcome.policy == tight
    assert outcome.remaining == 4


def test_looking_costs_nothing(clock):
    policy = Policy("signin-account", "digest", Rate(2, 300))

    assert check([policy], cost=0).allowed
    assert check([policy], cost=0).remaining == 2
    check([policy])
    check([policy])

    assert not check([policy], cost=0).allowed


def test_no_policy_means_no_outcome():
    assert check([]) is None


def test_every_counter_has_a_ttl(clock):
    policy = Policy("ip", "192.0.2.9", Rate(5, 60))
    check([policy])
    key = cache.make_key(ratelimit._counter_name(policy, int(clock.now // 60) * 60))

    script_client = getattr(cache, "script_client", None)
    if script_client is not None:
        ttl = script_client().ttl(key)
        assert 0 < ttl <= 60 + ratelimit.TTL_MARGIN
    else:
        assert cache._expire_info[key] != float("inf")


def test_fifty_concurrent_requests_against_a_limit_of_ten_give_exactly_ten():
    policy = Policy("ip", "198.51.100.7", Rate(10, 3600))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: check([policy]), range(50)))

    assert sum(o.allowed for o in outcomes) == 10
    assert sum(not o.allowed for o in outcomes) == 40


def test_an_unreachable_cache_allows_and_warns_once_a_minute(settings, clock, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "lib.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    ratelimit._warn.last = float("-inf")
    policy = Policy("ip", "192.0.2.1", Rate(1, 60))

    with caplog.at_level(logging.WARNING, logger="ratelimits.counters"):
        outcomes = [check([policy]) for _ in range(3)]
        clock.now += 61
        outcomes.append(check([policy]))

    assert outcomes == [None, None, None, None]
    warnings = [r for r in caplog.records if "not enforced" in r.getMessage()]
    assert len(warnings) == 2


def test_a_release_gives_back_in_the_window_it_was_counted_in(clock):
    policy = Policy("signin-failures-ip", "192.0.2.9", Rate(2, 60))
    clock.now = 1_800_000_059.5  # half a second before the window ends
    counted_at = clock.now
    assert check([policy]).remaining == 1

    clock.now = 1_800_000_060.5  # a new window, with one real failure in it
    assert check([policy]).remaining == 1
    ratelimit.release([policy], at=counted_at)

    # The new window's failure stands; the old window's count was the one given back.
    assert check([policy], cost=0).remaining == 1
    clock.now = counted_at
    assert check([policy], cost=0).remaining == 2


@pytest.mark.parametrize("counted", [0, 1])
def test_a_release_never_goes_below_zero(clock, counted):
    policy = Policy("signin-failures-ip", "192.0.2.10", Rate(3, 60))
    for _ in range(counted):
        check([policy])

    ratelimit.release([policy], at=clock.now, cost=2)

    assert check([policy], cost=0).remaining == 3
