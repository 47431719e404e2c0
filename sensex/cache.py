"""TTL caches: in process memory by default, in Redis when SENSEX_REDIS_URL is set.

The seed's TTLs: 5 minutes for latest prices and the market overview, 1 hour for history.
Redis lets several API replicas (and the dashboard) share one cache and one set of hit/miss
counters; the monitoring page reads `stats()`.

Semantics shared by both backends:
- `get` returns None on a miss, so None itself is never cached (`cached` recomputes it).
- Values are stored by reference in memory and pickled in Redis: callers must not mutate a
  value they got from the cache. Redis values are unpickled, so the Redis server must be as
  trusted as the code (the default is a server on localhost).
- `clear()` removes cached values, not the hit/miss counters (they describe traffic).
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from sensex.settings import Settings, get_settings

log = logging.getLogger(__name__)

PRICE_TTL = 300.0  # latest prices, market overview
HISTORY_TTL = 3600.0  # daily history
DEFAULT_PREFIX = "sensex:"

T = TypeVar("T")


@runtime_checkable
class Cache(Protocol):
    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...

    def stats(self) -> dict:
        """{"backend", "hits", "misses", "hit_rate" (None before any lookup), "size", ...}"""
        ...


def _hit_rate(hits: int, misses: int) -> float | None:
    total = hits + misses
    return hits / total if total else None


class MemoryCache:
    """A thread-safe dict with per-entry expiry on `clock` (monotonic by default)."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._entries: dict[str, tuple[float, Any]] = {}  # key -> (expires at, value)
        self._lock = threading.Lock()
        self._clock = clock
        self._max_entries = max_entries
        self._hits = 0
        self._misses = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                if entry[0] > self._clock():
                    self._hits += 1
                    return entry[1]
                del self._entries[key]
            self._misses += 1
            return None

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            if ttl <= 0 or value is None:
                self._entries.pop(key, None)
                return
            self._entries.pop(key, None)  # re-insert at the end: dict order = age order
            self._entries[key] = (self._clock() + ttl, value)
            if len(self._entries) > self._max_entries:
                self._purge_expired()
                while len(self._entries) > self._max_entries:
                    del self._entries[next(iter(self._entries))]  # oldest write first

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self._hits = self._misses = 0

    def stats(self) -> dict:
        with self._lock:
            self._purge_expired()
            return {
                "backend": "memory",
                "hits": self._hits,
                "misses": self._misses,
                "hit_rate": _hit_rate(self._hits, self._misses),
                "size": len(self._entries),
                "errors": 0,
                "available": True,
            }

    def _purge_expired(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]


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


class RedisCache:
    """Pickled values under `{prefix}cache:{key}`; shared counters in the hash `{prefix}cache-stats`.

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
        self._clock = clock
        self._lock = threading.Lock()
        self._errors = 0
        self._down_until = 0.0
        self._warned = False

    def _key(self, key: str) -> str:
        return f"{self.prefix}cache:{key}"

    def get(self, key: str) -> Any | None:
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
        try:
            return pickle.loads(data)
        except Exception as error:  # noqa: BLE001 - an incompatible pickle raises anything
            log.warning("Dropping unreadable cache entry %r: %s", key, error)
            self.delete(key)
            return None

    def set(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0 or value is None:
            self.delete(key)
            return
        if self._skipping():
            return
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            log.warning("Value for cache key %r cannot be pickled; not cached: %s", key, error)
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
            "hit_rate": _hit_rate(hits, misses),
            "size": size,
            "errors": errors,
            "available": available,
            "url": _redact(self.url),
        }

    def _pattern(self) -> str:
        return _glob_escape(f"{self.prefix}cache:") + "*"

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
                _redact(self.url),
                operation,
                error,
            )

    def _recovered(self) -> None:
        if self._warned:
            with self._lock:
                was_warned, self._warned = self._warned, False
            if was_warned:
                log.info("Redis cache at %s is answering again.", _redact(self.url))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _redact(url: str) -> str:
    """The URL without its password, for logs and the monitoring page."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


_memory_cache: MemoryCache | None = None
_redis_caches: dict[str, RedisCache] = {}
_factory_lock = threading.Lock()


def get_cache(settings: Settings | None = None) -> Cache:
    """RedisCache when `settings.redis_url` is set, else the process-wide MemoryCache.

    One instance per process and URL, so counters and connection pools are shared.
    """
    global _memory_cache
    settings = settings or get_settings()
    with _factory_lock:
        if settings.redis_url:
            key = f"{settings.redis_url}|{settings.redis_prefix}"
            cache = _redis_caches.get(key)
            if cache is None:
                cache = _redis_caches[key] = RedisCache(settings.redis_url, prefix=settings.redis_prefix)
            return cache
        if _memory_cache is None:
            _memory_cache = MemoryCache()
        return _memory_cache


class _SingleFlight:
    """Per-key locks so concurrent misses on one key compute it once (in this process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[tuple[int, str], list] = {}  # key -> [lock, holders + waiters]

    @contextmanager
    def hold(self, key: tuple[int, str]) -> Iterator[bool]:
        """Yields True when another thread held the key first (it may have filled the cache)."""
        with self._lock:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        contended = not entry[0].acquire(blocking=False)
        if contended:
            entry[0].acquire()
        try:
            yield contended
        finally:
            entry[0].release()
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


_single_flight = _SingleFlight()


def cached(cache: Cache, key: str, ttl: float, compute: Callable[[], T]) -> T:
    """The cached value for `key`, or `compute()` stored for `ttl` seconds.

    Concurrent misses in one process compute once; an exception from `compute` propagates
    and nothing is stored.
    """
    value = cache.get(key)
    if value is not None:
        return value
    with _single_flight.hold((id(cache), key)) as waited:
        if waited:
            value = cache.get(key)
            if value is not None:
                return value
        value = compute()
        cache.set(key, value, ttl)
        return value
