"""The Redis backend of the TTL cache (`sensex.core.cache`): several API replicas and the
dashboard share one cache and one set of hit/miss counters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sensex.core.cache_values import CacheEncodingError, Check, Rejections, encode, hit_rate, unwanted
from sensex.core.redaction import redact_url

log = logging.getLogger("sensex.core.cache")  # one logger for the cache, whichever backend

DEFAULT_PREFIX = "sensex:"
REDIS_MAX_VALUE_BYTES = 8 * 1024 * 1024


# GET plus the hit or miss count in one round trip, atomically.
_GET_AND_COUNT = """
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('HINCRBY', KEYS[2], 'hits', 1)
else
  redis.call('HINCRBY', KEYS[2], 'misses', 1)
end
return value
"""
# DEL only when the key still holds the value read (a good value written meanwhile stays).
_DELETE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisCache:
    """Encoded values under `{prefix}cache:{key}`; shared counters in the hash `{prefix}cache-stats`.

    Redis being down never reaches the caller: `get` returns None, `set` does nothing, the
    error is counted (in this process: Redis cannot hold it) and a warning is logged once per
    outage. After a failure, Redis is not asked again for `retry_after` seconds, so an outage
    costs one connection timeout, not one per call.
    """

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = 2.0,
        connect_timeout: float = 0.5,
        retry_after: float = 5.0,
        client: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_value_bytes: int = REDIS_MAX_VALUE_BYTES,
    ):
        import redis  # optional backend: imported only when used

        # What a Redis outage looks like: connection refused/reset, timeouts, bad replies.
        self._outage = (redis.exceptions.RedisError, OSError)
        self.url = url
        self.prefix = prefix
        self._client = client or redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout
        )
        self._get_and_count = self._client.register_script(_GET_AND_COUNT)
        self._stats_key = f"{prefix}cache-stats"
        self._retry_after = retry_after
        self._max_value_bytes = max_value_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._errors = 0
        self._rejections = Rejections(clock)
        self._down_until = 0.0
        self._warned = False

    def _key(self, key: str) -> str:
        return f"{self.prefix}cache:{key}"

    def get(self, key: str, expect: Check | None = None) -> Any | None:
        """The value under `key`, or None: absent, Redis down, or not what the key holds. An entry
        written by something else (an old pickle, another program, an attacker) is never run:
        it is deleted, and counted as a miss."""
        if self._skipping():
            return None
        try:
            data = self._get_and_count(keys=[self._key(key), self._stats_key])
        except self._outage as error:
            self._failed("get", error)
            return None
        self._recovered()
        if data is None:
            return None
        value, why = unwanted(key, data, expect)
        if why is None:
            return value
        log.warning("Dropping cache entry %r: %s.", key, why)
        with self._lock:
            self._errors += 1
            self._rejections.add(key, why)
        try:  # only if it is still the entry read: a good value written meanwhile stays
            with self._client.pipeline(transaction=False) as pipe:
                pipe.hincrby(self._stats_key, "hits", -1)
                pipe.hincrby(self._stats_key, "misses", 1)
                pipe.execute()
            self._delete_if_same(key, data)
        except self._outage as error:
            self._failed("delete", error)
        return None

    def _delete_if_same(self, key: str, data: bytes) -> None:
        self._client.eval(_DELETE_IF_SAME, 1, self._key(key), data)

    def set(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0 or value is None:
            self.delete(key)
            return
        if self._skipping():
            return
        try:
            data = encode(value)
        except CacheEncodingError as error:
            log.warning("Value for cache key %r is not plain data; not cached: %s", key, error)
            return
        if len(data) > self._max_value_bytes:
            log.warning("Value for cache key %r is %d bytes, over the %d allowed in Redis: not cached.",
                        key, len(data), self._max_value_bytes)
            return
        try:
            self._client.set(self._key(key), data, px=max(1, int(ttl * 1000)))
        except self._outage as error:
            self._failed("set", error)
            return
        self._recovered()

    def delete(self, key: str) -> None:
        if self._skipping():
            return
        try:
            self._client.delete(self._key(key))
        except self._outage as error:
            self._failed("delete", error)
            return
        self._recovered()

    def clear(self) -> None:
        """Delete this prefix's cached values (SCAN, never KEYS), keeping the counters."""
        if self._skipping():
            return
        try:
            batch = []
            for name in self._client.scan_iter(match=self._pattern(), count=500):
                batch.append(name)
                if len(batch) >= 500:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)
        except self._outage as error:
            self._failed("clear", error)
            return
        self._recovered()

    def reset_stats(self) -> None:
        try:
            self._client.delete(self._stats_key)
        except self._outage as error:
            self._failed("reset_stats", error)
        with self._lock:
            self._errors = 0
            self._rejections = Rejections(self._clock)

    def rejections(self) -> dict:
        """As `MemoryCache.rejections`: counted in this process (Redis does not hold them)."""
        with self._lock:
            return self._rejections.stats()

    def stats(self) -> dict:
        hits = misses = 0
        size: int | None = None
        available = False
        if not self._skipping():
            try:
                counters = self._client.hgetall(self._stats_key)
                hits = int(counters.get(b"hits", 0))
                misses = int(counters.get(b"misses", 0))
                size = sum(1 for _ in self._client.scan_iter(match=self._pattern(), count=500))
                available = True
                self._recovered()
            except self._outage as error:
                self._failed("stats", error)
        with self._lock:
            errors = self._errors
        return {
            "backend": "redis",
            "hits": hits,
            "misses": misses,
            "hit_rate": hit_rate(hits, misses),
            "size": size,
            "errors": errors,
            "available": available,
            "max_value_bytes": self._max_value_bytes,
            "url": redact_url(self.url),
        }

    def _pattern(self) -> str:
        return glob_escape(f"{self.prefix}cache:") + "*"

    def _skipping(self) -> bool:
        with self._lock:
            if self._clock() < self._down_until:
                self._errors += 1
                return True
            return False

    def _failed(self, operation: str, error: Exception) -> None:
        with self._lock:
            self._errors += 1
            self._down_until = self._clock() + self._retry_after
            warn = not self._warned
            self._warned = True
        if warn:
            log.warning(
                "Redis cache at %s unavailable (%s: %s): caching is off until it answers again.",
                redact_url(self.url),
                operation,
                error,
            )

    def _recovered(self) -> None:
        if self._warned:
            with self._lock:
                was_warned, self._warned = self._warned, False
            if was_warned:
                log.info("Redis cache at %s is answering again.", redact_url(self.url))


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)

