"""lib.cache.RedisCache: Django's RedisCache, sharing one client per connection pool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from lib.cache import RedisCache


def test_one_client_serves_every_call():
    cache = RedisCache("redis://127.0.0.1:1/0", {})  # no connection is opened here

    first = cache._cache.get_client("a")
    second = cache._cache.get_client("b", write=True)

    assert first is second
    assert first.connection_pool is cache._cache._get_connection_pool(write=False)


def test_djangos_backend_builds_a_client_per_call():
    # The reason for the subclass: if Django starts reusing clients, it can go.
    cache = DjangoRedisCache("redis://127.0.0.1:1/0", {})

    assert cache._cache.get_client("a") is not cache._cache.get_client("a")


def test_a_redis_cache_url_selects_it():

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; import django; django.setup(); "
            "print(settings.CACHES['default']['BACKEND'])",
        ],
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CACHE_URL": "redis://127.0.0.1:6379/9",
            "PATH": "/usr/bin:/bin",
        },
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.stdout.strip() == "lib.cache.RedisCache", result.stderr


def test_a_round_trip_survives_a_connection_the_server_closed():
    # A Redis restart, CLIENT KILL or an idle timeout leaves the thread's connection dead.
    import redis

    cache = RedisCache("redis://127.0.0.1:6379/13", {})
    assert cache.round_trip([("SET", "latchkey-test:x", 1, "EX", 10)]) == [b"OK"]
    server = redis.Redis(db=13)
    mine = [c for c in server.client_list() if c["cmd"] == "set"]
    assert mine
    for client in mine:
        server.client_kill_filter(_id=client["id"])

    assert cache.round_trip([("EXISTS", "latchkey-test:x")]) == [1]
    assert cache.round_trip([("DEL", "latchkey-test:x")], idempotent=True) == [1]
