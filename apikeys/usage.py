"""How much each key is used: its requests per day (UTC) and the address of its latest use,
counted in memory on the request path and written to the database in batches, never once per
request.

Each process counts the requests its keys authenticate in a buffer of its own (`note_use`: a
dictionary update) and passes the buffer on at most every USAGE_FLUSH_INTERVAL seconds, or
sooner once it holds MAX_BUFFERED counters (`flush`):

- with Redis (CACHE_URL=redis://…), in one round trip that adds the counts to a hash every
  process shares (HINCRBY: atomic, so no process overwrites another's counts) and sets each
  key's latest address in another. `fold`, run by the periodic key_maintenance task, takes
  both hashes whole, reading and deleting them in one MULTI/EXEC, so two folds never take
  the same counts, and adds them to the database;
- with any other cache (the local-memory default, which no other process can read), straight
  to the database, the same way `fold` writes: one transaction per flush. Never inside a
  transaction the request has open, whose rollback would take the counts with it, or which a
  failed write would break: the buffer then waits for the next request.

A count is written at most once: a fold that has taken counts and fails to write them loses
them, and so does a process that stops with counts in its buffer (a few seconds' worth). Usage
is bookkeeping: a cache or database failure drops what it was passing on and logs a warning
(at most once a minute), and a request never fails for it.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.db import connection, models, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from apikeys import conf
from apikeys.models import ApiKey, KeyUsageDay

logger = logging.getLogger(__name__)

timer: Callable[[], float] = time.monotonic  # the clock of the flush interval, a seam for tests
MAX_BUFFERED = 1_000  # (key, day) counters a process holds before it flushes, whatever the time
WRITE_BATCH = 500  # keys per database transaction
# Both hashes share a hash tag, so that one MULTI/EXEC may take them on Redis Cluster.
REQUESTS = "apikey-usage:{usage}:requests"  # "<key id> <day>" -> requests
ADDRESSES = "apikey-usage:{usage}:addresses"  # key id -> address of the latest use
# The hashes expire if nothing folds them for this long (no scheduler running).
PENDING_TTL = 7 * 24 * 60 * 60
SHOWN_DAYS = 30  # days of counts on the key's dashboard page

Counts = dict[tuple[str, date], int]


class _Buffer:
    """This process's counts since its last flush."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counts = {}
        self.addresses: dict[str, str] = {}
        self.flushed_at = timer()

    def take(self) -> tuple[Counts, dict[str, str]]:
        with self.lock:
            taken = self.requests, self.addresses
            self.requests, self.addresses = {}, {}
            self.flushed_at = timer()
        return taken


class _Warner:
    """Log a failure at most once a minute, not once per flush."""

    def __init__(self) -> None:
        self.last = -math.inf

    def __call__(self, message: str, *args: Any) -> None:
        now = timer()
        if now - self.last >= 60:
            self.last = now
            logger.warning(message, *args, exc_info=True)


_buffer = _Buffer()
_warn = _Warner()


def note_use(key_id: str, address: str, now: datetime) -> None:
    """Count one request the key authenticated at `now`, from `address` (lib.clientip's
    client_ip: "unknown" is not kept). Costs a dictionary update; at most once per
    USAGE_FLUSH_INTERVAL seconds, a flush. Never raises."""
    try:
        counter = (key_id, now.astimezone(UTC).date())
        with _buffer.lock:
            _buffer.requests[counter] = _buffer.requests.get(counter, 0) + 1
            if address != "unknown":
                _buffer.addresses[key_id] = address
            full = len(_buffer.requests) >= MAX_BUFFERED
            due = full or timer() - _buffer.flushed_at >= conf.setting("USAGE_FLUSH_INTERVAL")
        if not due:
            return
        if _shared() is None and transaction.get_connection().in_atomic_block:
            if full:  # it cannot wait longer: what it holds is dropped, not the request
                dropped = sum(_buffer.take()[0].values())
                _warn("%d key uses dropped: the usage buffer filled inside a transaction", dropped)
            return
        flush()
    except Exception:
        _warn("Key usage not counted")


def flush() -> int:
    """Pass this process's counts on: to Redis, or with any other cache to the database.
    Returns how many requests were passed on; on failure they are dropped and logged."""
    requests, addresses = _buffer.take()
    if not requests and not addresses:
        return 0
    total = sum(requests.values())
    try:
        redis = _shared()
        if redis is None:
            record(requests, addresses)
        else:
            _push(redis, requests, addresses)
    except Exception:
        _warn("%d key uses dropped: the usage counts could not be stored", total)
        return 0
    return total


def fold() -> int:
    """Move the counts gathered so far into the database: each request into its key's
    KeyUsageDay, each latest address into ApiKey.last_used_ip. Safe to run in several
    workers at once: each count is taken by one of them. Returns the requests folded in."""
    folded = flush()  # this process's own, first
    redis = _shared()
    if redis is None:
        return folded  # the other processes write their own
    try:
        requests, addresses = _take(redis)
    except Exception:
        _warn("Key usage not folded: the cache is unavailable")
        return folded
    try:
        return folded + record(requests, addresses)
    except Exception:
        # Taken from Redis already: put back, they could be counted twice; so they are lost.
        logger.exception("Up to %d key uses lost: not written", sum(requests.values()))
        return folded


def record(requests: Counts, addresses: dict[str, str]) -> int:
    """Add `requests` to the keys' KeyUsageDay rows and set their last_used_ip, for the keys
    that still exist. Returns the requests added."""
    by_key: dict[str, list[tuple[date, int]]] = {}
    for (key_id, day), count in requests.items():
        if count > 0:
            by_key.setdefault(key_id, []).append((day, count))
    key_ids = sorted(set(by_key) | set(addresses))
    added = 0
    for start in range(0, len(key_ids), WRITE_BATCH):
        batch = key_ids[start : start + WRITE_BATCH]
        with transaction.atomic():
            # The rows are locked in one order, so that concurrent writers cannot deadlock,
            # and no key is deleted while its counts go in: one deleted since is skipped.
            present = set(
                ApiKey.objects.select_for_update(no_key=True)
                .filter(pk__in=batch)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            rows = [
                (key_id, day, count)
                for key_id in batch
                if key_id in present
                for day, count in by_key.get(key_id, ())
            ]
            _add_requests(rows)
            _set_addresses({k: addresses[k] for k in batch if k in present and k in addresses})
        added += sum(count for _key_id, _day, count in rows)
    return added


def recent_days(key: ApiKey, *, days: int = SHOWN_DAYS) -> list[KeyUsageDay]:
    """The key's days with requests among the last `days` (today, UTC, included), newest
    first, as folded in so far."""
    since = timezone.now().astimezone(UTC).date() - timedelta(days=days - 1)
    return list(KeyUsageDay.objects.filter(key=key, day__gte=since).order_by("-day"))


def clear_local() -> None:
    """Forget this process's counts, unsent."""
    _buffer.take()


def _shared() -> Any | None:
    """The cache, when it is Redis (lib.cache.RedisCache, which sends raw commands); None for
    any other."""
    store = caches[DEFAULT_CACHE_ALIAS]
    return store if hasattr(store, "round_trip") else None


def _push(redis: Any, requests: Counts, addresses: dict[str, str]) -> None:
    requests_key, addresses_key = redis.make_key(REQUESTS), redis.make_key(ADDRESSES)
    commands: list[tuple[Any, ...]] = [
        ("HINCRBY", requests_key, f"{key_id} {day.isoformat()}", count)
        for (key_id, day), count in requests.items()
    ]
    if addresses:
        commands.append(("HSET", addresses_key, *itertools.chain(*addresses.items())))
    commands += [("EXPIRE", requests_key, PENDING_TTL), ("EXPIRE", addresses_key, PENDING_TTL)]
    for reply in redis.round_trip(commands):
        if isinstance(reply, Exception):
            raise reply


def _take(redis: Any) -> tuple[Counts, dict[str, str]]:
    """Read and delete both hashes in one transaction: what one fold takes, no other sees."""
    requests_key, addresses_key = redis.make_key(REQUESTS), redis.make_key(ADDRESSES)
    pipe = redis.script_client().pipeline(transaction=True)
    pipe.hgetall(requests_key)
    pipe.hgetall(addresses_key)
    pipe.delete(requests_key, addresses_key)
    raw_requests, raw_addresses, _deleted = pipe.execute()
    requests: Counts = {}
    for field, value in _decoded(raw_requests.items()):
        key_id, _, day = field.partition(" ")
        try:
            requests[(key_id, date.fromisoformat(day))] = int(value)
        except ValueError:
            continue
    return requests, dict(_decoded(raw_addresses.items()))


def _decoded(pairs: Iterable[tuple[bytes, bytes]]) -> Iterable[tuple[str, str]]:
    return ((field.decode(), value.decode()) for field, value in pairs)


def _add_requests(rows: list[tuple[str, date, int]]) -> None:
    """Add each count to its (key, day) row, creating it if need be, in one statement: an
    INSERT … ON CONFLICT DO UPDATE adds atomically, whoever else adds at the same time."""
    if not rows:
        return
    quote = connection.ops.quote_name
    meta = KeyUsageDay._meta
    table = quote(meta.db_table)
    key, day, requests = (quote(meta.get_field(f).column) for f in ("key", "day", "requests"))
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    params = [
        value
        for key_id, used_on, count in rows
        for value in (key_id, connection.ops.adapt_datefield_value(used_on), count)
    ]
    # Only names from the model's own metadata are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({key}, {day}, {requests}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({key}, {day}) DO UPDATE SET {requests} = {table}.{requests} + "
        f"EXCLUDED.{requests}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _set_addresses(addresses: dict[str, str]) -> None:
    if not addresses:
        return
    ApiKey.objects.filter(pk__in=list(addresses)).update(
        last_used_ip=Case(
            *(When(pk=key_id, then=Value(address)) for key_id, address in addresses.items()),
            output_field=models.GenericIPAddressField(),
        )
    )
