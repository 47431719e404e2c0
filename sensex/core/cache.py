"""TTL caches: in process memory by default, in Redis when SENSEX_REDIS_URL is set.

The TTLs: 5 minutes for latest prices and the market overview, 1 hour for history.
Redis lets several API replicas (and the dashboard) share one cache and one set of hit/miss
counters; the monitoring page reads `stats()`.

Semantics shared by both backends:
- Values are data, never code: both backends store the JSON encoding of a value (`encode`), and
  what is read back is only parsed (`decode`), so whoever can write to a shared Redis can spoil
  a cached value but cannot run anything. JSON types round-trip, plus pandas DataFrames with a
  default index and plain column types, pandas Timestamps and numpy scalars; tuples come back
  as lists. Numbers are finite: a frame's missing value is written as null, and any other
  NaN or infinity makes the value not cached. A value that cannot be encoded is not cached (a
  warning says so).
- What is read back is checked before anyone sees it: an entry that does not decode (not JSON,
  NaN or Infinity, a number that overflows, nesting deeper than MAX_DEPTH) or that is not of the
  shape its key family holds (`conforms`: a forecast under `forecast:`, a frame under
  `history:`, ...) is a miss, is deleted and is counted (`rejections()`, which `/health` reads):
  whoever can write to a shared Redis can make the next request compute again, never make it fail.
- Both backends are bounded. The memory cache holds at most `max_entries` entries
  (MEMORY_MAX_ENTRIES = 10,000) and `max_bytes` encoded bytes (MEMORY_MAX_BYTES = 64 MiB),
  evicting expired entries, then the oldest writes. Redis refuses values over
  `max_value_bytes` (REDIS_MAX_VALUE_BYTES = 8 MiB); the server's own `maxmemory` (with an
  eviction policy such as `allkeys-lru`) bounds the total, as every key has a TTL.
- `get` returns None on a miss, so None itself is never cached (`cached` recomputes it).
- `clear()` removes cached values, not the hit/miss counters (they describe traffic).
- Concurrent misses on one key in one process compute once (`cached`, `cached_or_computed`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from sensex.core.cache_values import (  # noqa: F401 - the encoding and the shapes, importable from here too
    MAX_DEPTH,
    REJECTED_RECENTLY,
    CacheEncodingError,
    Check,
    Rejections,
    conforms,
    decode,
    encode,
    hit_rate,
    unwanted,
)
from sensex.core.redis_cache import DEFAULT_PREFIX, REDIS_MAX_VALUE_BYTES, RedisCache  # noqa: F401
from sensex.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

PRICE_TTL = 300.0  # latest prices, market overview
HISTORY_TTL = 3600.0  # daily history
MEMORY_MAX_ENTRIES = 10_000
MEMORY_MAX_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


@runtime_checkable
class Cache(Protocol):
    def get(self, key: str, expect: Check | None = None) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...

    def stats(self) -> dict:
        """{"backend", "hits", "misses", "hit_rate" (None before any lookup), "size", ...}"""
        ...


class MemoryCache:
    """A thread-safe, bounded map of encoded values with per-entry expiry on `clock`.

    Bounded by entries and by encoded bytes; past either bound, expired entries go first, then
    the oldest writes. A value bigger than `max_bytes` alone is not cached.
    """

    def __init__(self, max_entries: int = MEMORY_MAX_ENTRIES, max_bytes: int = MEMORY_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic):
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # key -> (expires at, data); write order
        self._lock = threading.Lock()
        self._clock = clock
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._errors = 0
        self._rejections = Rejections(clock)

    def get(self, key: str, expect: Check | None = None) -> Any | None:
        """The value under `key`, or None: absent, expired, or not what the key holds (deleted)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= self._clock():
                self._drop(key)
                entry = None
            if entry is None:
                self._misses += 1
                return None
            data = entry[1]
        value, why = unwanted(key, data, expect)  # outside the lock: decoding a frame takes a while
        with self._lock:
            if why is None:
                self._hits += 1
                return value
            self._misses += 1
            self._rejections.add(key, why)
            if self._entries.get(key, (0, None))[1] is data:
                self._drop(key)
        log.warning("Dropping cache entry %r: %s.", key, why)
        return None

    def set(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0 or value is None:
            self.delete(key)
            return
        try:
            data = encode(value)
        except CacheEncodingError as error:
            log.warning("Value for cache key %r is not plain data; not cached: %s", key, error)
            with self._lock:
                self._errors += 1
            return
        with self._lock:
            self._drop(key)
            if len(data) > self._max_bytes:
                log.warning("Value for cache key %r is %d bytes, over the cache's %d: not cached.",
                            key, len(data), self._max_bytes)
                return
            self._entries[key] = (self._clock() + ttl, data)
            self._bytes += len(data)
            if len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                self._purge_expired()
                while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                    self._drop(next(iter(self._entries)))  # oldest write first

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def reset_stats(self) -> None:
        with self._lock:
            self._hits = self._misses = self._errors = 0
            self._rejections = Rejections(self._clock)

    def rejections(self) -> dict:
        """{"rejected", "last_rejected" ({"key", "reason", "seconds_ago"} or None), "rejected_recently"}:
        entries dropped as unreadable or of the wrong shape, in this process."""
        with self._lock:
            return self._rejections.stats()

    def stats(self) -> dict:
        with self._lock:
            self._purge_expired()
            return {
                "backend": "memory",
                "hits": self._hits,
                "misses": self._misses,
                "hit_rate": hit_rate(self._hits, self._misses),
                "size": len(self._entries),
                "bytes": self._bytes,
                "max_entries": self._max_entries,
                "max_bytes": self._max_bytes,
                "errors": self._errors,
                "available": True,
            }

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])

    def _purge_expired(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            self._drop(key)



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


class _Flight:
    """One key's computation: its lock, how many threads hold or wait for it, and its result."""

    __slots__ = ("lock", "users", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.value: Any | None = None


class _SingleFlight:
    """Per-key locks so concurrent misses on one key compute once (in this process).

    The first thread computes and leaves its result on the flight; the threads that waited take
    it from there, so they do not depend on the cache having kept it (Redis down, a value too
    big to cache). The flight, and the result with it, is dropped when its last user leaves:
    memory is held only while someone waits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[tuple[int, str], _Flight] = {}

    @contextmanager
    def hold(self, key: tuple[int, str]) -> Iterator[tuple[_Flight, bool]]:
        """Yields (flight, waited): waited is True when another thread held the key first."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight()
            flight.users += 1
        waited = not flight.lock.acquire(blocking=False)
        if waited:
            flight.lock.acquire()
        try:
            yield flight, waited
        finally:
            flight.lock.release()
            with self._lock:
                flight.users -= 1
                if flight.users == 0:
                    del self._flights[key]


_single_flight = _SingleFlight()


def _get(cache: Cache, key: str, expect: Check | None) -> Any | None:
    """`cache.get(key)` (the backends check the key family's shape), then `expect` when given."""
    value = cache.get(key)
    if value is None or expect is None or conforms(key, value, expect):
        return value
    log.warning("Dropping cache entry %r: not what the caller expects (a %s).", key, type(value).__name__)
    cache.delete(key)
    return None


def cached_or_computed(cache: Cache, key: str, ttl: float, compute: Callable[[], T],
                       expect: Check | None = None) -> tuple[T, bool]:
    """(value, computed): the cached value for `key`, or `compute()` stored for `ttl` seconds.
    A cached value that fails `expect` (or its key family's shape, `conforms`) is a miss.

    `computed` is True for exactly one caller per computation, so that caller alone may do
    what must happen once per value (a log line). Concurrent misses in one process wait for
    that one computation; an exception from `compute` propagates to its caller, nothing is
    stored, and a waiting caller then computes itself.
    """
    value = _get(cache, key, expect)
    if value is not None:
        return value, False
    with _single_flight.hold((id(cache), key)) as (flight, waited):
        if waited:
            if flight.value is not None:
                return flight.value, False
            value = _get(cache, key, expect)  # another process may have filled a shared cache
            if value is not None:
                return value, False
        value = compute()
        cache.set(key, value, ttl)
        flight.value = value
        return value, True


def cached(cache: Cache, key: str, ttl: float, compute: Callable[[], T], expect: Check | None = None) -> T:
    """The cached value for `key`, or `compute()` stored for `ttl` seconds (computed once
    for concurrent misses in one process; see `cached_or_computed`)."""
    return cached_or_computed(cache, key, ttl, compute, expect)[0]
