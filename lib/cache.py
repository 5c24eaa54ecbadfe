"""Django's RedisCache, with one redis client per connection pool instead of one per call, and
a lean round trip of several commands for the request path."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import redis as redis_py
from django.core.cache.backends import redis

try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py packs without it
    pack_command = None


class RedisCacheClient(redis.RedisCacheClient):
    """Django builds a new `redis.Redis` around the pool on every cache call, which costs about
    0.2 ms here: more than the round trip itself, on every request that reads a warm key. A
    `redis.Redis` only borrows connections from its pool and is safe to share between threads,
    so one per pool serves every call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = self._clients[index] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._own = threading.local()

    def script_client(self) -> Any:
        """The redis client, for the atomic scripts Django's cache API has no call for (the
        rate limiter's counters). Keys must come from `make_and_validate_key`."""
        return self._cache.get_client(write=True)

    def round_trip(
        self, commands: Sequence[Sequence[Any]], *, idempotent: bool = False
    ) -> list[Any]:
        """Send `commands` (raw, e.g. ("EVALSHA", sha, 1, key)) together and read every reply:
        one round trip. A command's error (redis.ResponseError, NOSCRIPT included) is its reply;
        a connection failure raises.

        The commands go over this thread's own connection to the primary, not through the
        pool: borrowing from redis-py's pool and giving back costs more than the round trip
        itself, and the request path makes one per request. Like the pool, it first drops a
        connection the server has closed (a restart, CLIENT KILL, an idle timeout) and opens
        another; and when the failure comes later, `idempotent` commands (SET, EXISTS) are
        sent once more on a new connection, while a script that may have run is never run
        twice."""
        for attempt in (1, 2):
            connection = self._connection()
            try:
                if connection.can_read():  # a closed connection reads as EOF: not ours to use
                    raise redis_py.ConnectionError("stale connection")
            except (redis_py.ConnectionError, redis_py.TimeoutError, OSError):
                connection.disconnect()
            try:
                connection.send_packed_command(_packed(connection, commands))
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(connection.read_response())
                    except redis_py.ResponseError as error:
                        replies.append(error)
                return replies
            except (redis_py.ConnectionError, redis_py.TimeoutError):
                connection.disconnect()  # half-read replies must never reach the next call
                if attempt == 2 or not idempotent:
                    raise
            except BaseException:
                connection.disconnect()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> Any:
        own = self._own
        if getattr(own, "pid", None) != os.getpid():  # none yet, or inherited across a fork
            pool = self._cache._get_connection_pool(write=True)
            own.connection = pool.connection_class(**pool.connection_kwargs)
            own.pid = os.getpid()
        return own.connection


def _packed(connection: Any, commands: Sequence[Sequence[Any]]) -> list[bytes]:
    """The commands in the Redis protocol, in one buffer: packed by hiredis, a quarter of what
    redis-py's chunking packer costs for a request's few short commands (whose arguments are
    all str, bytes or int), or by redis-py without it."""
    if pack_command is None:
        return connection.pack_commands(commands)
    return [b"".join([pack_command(tuple(command)) for command in commands])]
