"""Key usage: requests per day and the latest address, counted in memory on the request path,
passed on in batches (to Redis, or without it to the database) and folded into KeyUsageDay
and ApiKey.last_used_ip, each request once; and the key's dashboard page showing them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import redis
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apikeys import usage
from apikeys.models import ApiKey, KeyUsageDay

# The counts are written in transactions of their own, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

ME = "/api/user/me"
REDIS = "redis://127.0.0.1:6379/6"
INTERVAL = 5  # APIKEYS["USAGE_FLUSH_INTERVAL"]
CACHES = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {"BACKEND": "lib.cache.RedisCache", "LOCATION": REDIS},
}


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


class Clock:
    """The flush interval's clock (apikeys.usage.timer), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """No flush falls due unless a test moves the clock; each starts with no counts."""
    clock = Clock()
    monkeypatch.setattr(usage, "timer", clock)
    usage.clear_local()
    usage._buffer.flushed_at = clock.now
    usage._warn.last = float("-inf")
    yield clock
    usage.clear_local()


@pytest.fixture(params=list(CACHES))
def shared(request, settings) -> Iterator[str]:
    """Each test runs with the local-memory cache (counts go to the database) and with Redis
    (counts go to Redis, then a fold takes them)."""
    if request.param == "redis" and not redis_up():
        pytest.skip("no Redis server on 127.0.0.1:6379")
    settings.CACHES = {"default": CACHES[request.param]}
    cache.clear()
    yield request.param
    cache.clear()


@pytest.fixture
def key(api_key_factory) -> tuple[ApiKey, str]:
    # Used a moment ago: lastUsedAt does not move, so a request writes nothing at all.
    return api_key_factory(last_used_at=timezone.now())


def counts(key: ApiKey) -> dict[date, int]:
    return dict(KeyUsageDay.objects.filter(key=key).values_list("day", "requests"))


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def passed_on(shared: str, key: ApiKey) -> int:
    """The key's requests flushed so far: to Redis, or without it to the database."""
    if shared != "redis":
        return sum(counts(key).values())
    pending = cache.script_client().hgetall(cache.make_key(usage.REQUESTS))
    return sum(int(n) for field, n in pending.items() if field.decode().startswith(key.pk))


def writes(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_requests_are_counted_with_the_latest_address(shared, key, key_client):
    key, raw = key
    client = key_client(raw)
    for address in ["192.0.2.10", "192.0.2.10", "2001:db8::7"]:
        assert client.get(ME, REMOTE_ADDR=address).status_code == 200
    assert counts(key) == {}  # nothing written yet

    usage.flush()
    usage.fold()

    key.refresh_from_db()
    assert counts(key) == {today(): 3}
    assert key.last_used_ip == "2001:db8::7"


def test_a_request_writes_nothing_for_usage(shared, key, key_client, django_assert_num_queries):
    _key, raw = key
    client = key_client(raw)

    for _ in range(3):
        # 1. SELECT the key JOIN its user; 2. COUNT the user's memberships. No write.
        with django_assert_num_queries(2) as captured:
            assert client.get(ME).status_code == 200
        assert writes(captured) == []


def test_folding_twice_adds_each_request_once(shared, key, key_client):
    key, raw = key
    client = key_client(raw)
    for _ in range(4):
        client.get(ME)
    usage.flush()

    assert usage.fold() == (4 if shared == "redis" else 0)
    assert usage.fold() == 0
    for _ in range(2):
        client.get(ME)
    usage.flush()
    usage.fold()
    usage.fold()

    assert counts(key) == {today(): 6}


def test_the_counts_of_several_processes_add_up(shared, key, api_key_factory):
    # One process's buffer, flushed, then another's: as two workers each flushing theirs.
    key, _raw = key
    other, _ = api_key_factory()
    now = timezone.now()
    for uses in ([key, key, other], [key, other, other, other]):
        for used in uses:
            usage.note_use(used.pk, "192.0.2.1", now)
        usage.flush()

    usage.fold()

    assert counts(key) == {today(): 3}
    assert counts(other) == {today(): 4}


def test_days_are_counted_apart_in_utc(shared, key):
    key, _raw = key
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    for moment in (midnight - timedelta(seconds=1), midnight, midnight + timedelta(hours=23)):
        usage.note_use(key.pk, "192.0.2.1", moment)

    usage.flush()
    usage.fold()

    assert counts(key) == {date(2026, 2, 28): 1, date(2026, 3, 1): 2}


def test_a_flush_falls_due_after_the_interval_and_writes_once(shared, key, key_client, clock):
    key, raw = key
    client = key_client(raw)
    for _ in range(3):
        client.get(ME)
    clock.now += INTERVAL - 0.1
    client.get(ME)
    assert passed_on(shared, key) == 0  # not yet

    clock.now += 0.1
    with CaptureQueriesContext(connection) as due:
        client.get(ME, REMOTE_ADDR="192.0.2.99")  # this one flushes the five
    with CaptureQueriesContext(connection) as after:
        client.get(ME, REMOTE_ADDR="192.0.2.100")  # this one waits for the next interval
    assert passed_on(shared, key) == 5
    usage.fold()

    key.refresh_from_db()
    assert counts(key) == {today(): 6}  # the last one flushed by the fold
    assert key.last_used_ip == "192.0.2.100"
    assert writes(after) == []
    # Without Redis, the flush is the database write: one INSERT and one UPDATE, whatever
    # the number of requests; with Redis, the request writes nothing to the database.
    assert len(writes(due)) == (0 if shared == "redis" else 2)


def test_a_full_buffer_flushes_before_its_time(shared, key, api_key_factory, monkeypatch):
    monkeypatch.setattr(usage, "MAX_BUFFERED", 3)
    keys = [key[0], *(api_key_factory()[0] for _ in range(2))]
    now = timezone.now()

    for used in keys:
        usage.note_use(used.pk, "192.0.2.1", now)
    usage.fold()

    assert [counts(used) for used in keys] == [{today(): 1}] * 3


def test_without_redis_no_flush_is_written_inside_an_open_transaction(settings, key, clock):
    settings.CACHES = {"default": CACHES["locmem"]}
    key, _raw = key
    clock.now += INTERVAL
    with transaction.atomic():
        usage.note_use(key.pk, "192.0.2.1", timezone.now())
        assert counts(key) == {}  # it would share the fate of a transaction not its own

    usage.note_use(key.pk, "192.0.2.1", timezone.now())

    assert counts(key) == {today(): 2}


def test_a_key_deleted_before_the_fold_is_skipped(shared, key, api_key_factory):
    key, _raw = key
    gone, _ = api_key_factory()
    now = timezone.now()
    for used in (key, gone):
        usage.note_use(used.pk, "192.0.2.1", now)
    usage.flush()
    gone.delete()

    usage.fold()

    assert counts(key) == {today(): 1}
    assert not KeyUsageDay.objects.filter(key_id=gone.pk).exists()


def test_an_unreachable_cache_fails_no_request(settings, key, key_client, clock, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "lib.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    key, raw = key
    clock.now += INTERVAL

    with caplog.at_level(logging.WARNING, logger="apikeys.usage"):
        response = key_client(raw).get(ME)

    assert response.status_code == 200
    assert "key uses dropped" in caplog.text
    assert counts(key) == {}


def test_the_key_page_shows_the_address_and_the_daily_counts(shared, key, key_client):
    key, raw = key
    client = key_client(raw)
    for _ in range(3):
        client.get(ME, REMOTE_ADDR="203.0.113.42")
    yesterday = today() - timedelta(days=1)
    KeyUsageDay.objects.create(key=key, day=yesterday, requests=1234)
    KeyUsageDay.objects.create(key=key, day=today() - timedelta(days=30), requests=77)
    usage.flush()
    usage.fold()
    browser = Client()
    browser.force_login(key.user)

    page = browser.get(reverse("dashboard:api-key", args=[key.pk])).content.decode()

    assert '<dd id="last-used-ip"><span class="mono">203.0.113.42</span></dd>' in page
    start = page.index('id="usage"')
    usage_card = page[start : page.index("</table>", start)]
    assert f'<time datetime="{today():%Y-%m-%d}">' in usage_card
    assert "<td>3</td>" in usage_card
    assert f'<time datetime="{yesterday:%Y-%m-%d}">' in usage_card
    assert "<td>1,234</td>" in usage_card
    assert "<td>77</td>" not in usage_card  # 31 days ago: outside the page's 30 days
    assert usage_card.count("<tr>") == 3  # the heading and two days


def test_a_key_never_used_says_so_on_its_page(api_key_factory):
    key, _raw = api_key_factory()
    browser = Client()
    browser.force_login(key.user)

    page = browser.get(reverse("dashboard:api-key", args=[key.pk])).content.decode()

    assert '<dd id="last-used-ip">Not yet recorded</dd>' in page
    assert "No requests in the last 30 days." in page
