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

import json
import logging
import math
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from sensex.core.redaction import redact_url
from sensex.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

PRICE_TTL = 300.0  # latest prices, market overview
HISTORY_TTL = 3600.0  # daily history
DEFAULT_PREFIX = "sensex:"
MEMORY_MAX_ENTRIES = 10_000
MEMORY_MAX_BYTES = 64 * 1024 * 1024
REDIS_MAX_VALUE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64  # nesting of a cached value: ours go 4 deep; a crafted entry may not exhaust the stack
REJECTED_RECENTLY = 900.0  # seconds `stats()["rejected_recently"]` stays true after a rejected entry

T = TypeVar("T")


# -- the data-only encoding ------------------------------------------------------------------------
_TAG = "__sensex_type__"
# Column types a cached frame may have; anything else is refused at encode time, and a payload
# naming another type is refused at decode time, so a crafted entry cannot pick a constructor.
_FRAME_DTYPES = {"float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16",
                 "uint8", "bool", "object", "string", "category", "datetime64[ns]"}


class CacheEncodingError(TypeError):
    """A value that is not plain data (or a frame the encoding does not cover)."""


def _to_data(value: Any) -> Any:
    # Only a process that imported pandas can hold a frame: the API's forecast path never does.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex) or value.index.start != 0 or value.index.step != 1:
            raise CacheEncodingError("only frames with a default index are cached: reset_index() first")
        columns, dtypes, data = [], [], []
        for name in value.columns:
            column = value[name]
            dtype = str(column.dtype)
            if not isinstance(name, str) or dtype not in _FRAME_DTYPES:
                raise CacheEncodingError(f"column {name!r} of type {dtype} is not cached")
            if dtype == "datetime64[ns]":
                values = column.to_numpy().view("int64").tolist()  # NaT is int64's minimum
            elif dtype in ("float64", "float32"):
                values = [None if v != v else v for v in column.tolist()]  # NaN as null: JSON has no NaN
            else:
                values = column.astype(object).where(column.notna(), None).tolist() if dtype in ("object", "string", "category") else column.tolist()
            columns.append(name)
            dtypes.append(dtype)
            data.append(values)
        return {_TAG: "frame", "columns": columns, "dtypes": dtypes, "data": data}
    if pd is not None and isinstance(value, pd.Timestamp):
        return {_TAG: "timestamp", "value": value.isoformat()}
    if isinstance(value, np.generic):
        return value.item()
    raise CacheEncodingError(f"a {type(value).__name__} is not plain data")


def _from_data(obj: dict) -> Any:
    kind = obj.get(_TAG)
    if kind is None:
        return obj
    import pandas as pd

    if kind == "timestamp":
        return pd.Timestamp(str(obj["value"]))
    if kind == "frame":
        columns, dtypes, data = obj["columns"], obj["dtypes"], obj["data"]
        if not all(isinstance(part, list) for part in (columns, dtypes, data)) \
                or not (len(columns) == len(dtypes) == len(data)) \
                or any(not isinstance(d, str) or d not in _FRAME_DTYPES for d in dtypes) \
                or any(not isinstance(values, list) for values in data):
            raise ValueError("malformed frame entry")
        out = {}
        for name, dtype, values in zip(columns, dtypes, data, strict=True):
            if dtype == "datetime64[ns]":
                out[str(name)] = np.asarray(values, dtype="int64").view("datetime64[ns]")
            else:
                out[str(name)] = pd.Series(values, dtype=dtype if dtype != "category" else "object")
                if dtype == "category":
                    out[str(name)] = out[str(name)].astype("category")
        return pd.DataFrame(out, columns=[str(c) for c in columns])
    raise ValueError(f"unknown cached type {kind!r}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a float")
    return value


def _too_deep(data: bytes | str, limit: int) -> bool:
    """Whether JSON text nests deeper than `limit` (brackets inside strings count too: that can
    only overestimate, and a real entry is far below the limit)."""
    text = data.encode() if isinstance(data, str) else data
    if text.count(b"[") + text.count(b"{") <= limit:  # a frame, a forecast: cannot be deeper
        return False
    depth = 0
    for match in re.finditer(rb"[\[\]{}]", text):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


def encode(value: Any) -> bytes:
    """The JSON bytes of `value`; raises CacheEncodingError for anything that is not data (NaN
    and infinity included, outside a frame's missing values)."""
    try:
        return json.dumps(value, default=_to_data, separators=(",", ":"), allow_nan=False).encode()
    except CacheEncodingError:
        raise
    except (TypeError, ValueError) as error:  # e.g. non-string dict keys, circular references
        raise CacheEncodingError(str(error)) from error


def decode(data: bytes | str) -> Any:
    """The value of `encode`'s bytes; raises ValueError for anything else (NaN, Infinity, a number
    that overflows, nesting deeper than MAX_DEPTH, a malformed frame). Only parses."""
    if _too_deep(data, MAX_DEPTH):
        raise ValueError(f"not a cache entry: nested deeper than {MAX_DEPTH}")
    try:
        return json.loads(data, object_hook=_from_data, parse_constant=_no_constant, parse_float=_finite_float)
    except Exception as error:  # noqa: BLE001 - whatever a crafted entry makes a parser raise, it is not ours
        raise ValueError(f"not a cache entry: {type(error).__name__}: {str(error)[:200]}") from error


# -- what each key family holds -----------------------------------------------------------------------
# A cached value is checked against the shape of its key family before it is returned: JSON that
# decodes but is not what the family holds ("hello", [1, 2, 3], {"a": 1} under a forecast key) is a
# miss. The families are the project's callers' (ModelServer, RealtimeDataFetcher, market_status);
# `expect(prefix, check)` adds a check (the API adds the full Forecast model), and `cached(...,
# expect=check)` applies one to a single call. Checks see decoded values only: finite numbers,
# bounded depth.
Check = Callable[[Any], bool]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _probability(value: Any) -> bool:
    return _number(value) and 0.0 <= value <= 1.0


def _iso_date(value: Any) -> bool:
    return isinstance(value, str) and _ISO_DATE.fullmatch(value) is not None


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _fields(value: Any, checks: dict[str, Check]) -> bool:
    return isinstance(value, dict) and all(check(value.get(name)) for name, check in checks.items())


def _list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


_FORECAST = {"direction": lambda v: v in ("UP", "DOWN"), "probability": _probability,
             "interval": lambda v: isinstance(v, list) and len(v) == 2 and all(_probability(p) for p in v),
             "as_of": _iso_date, "target_date": _iso_date, "model_version": _str, "confidence": _str, "risk": _str,
             "data_source": _str, "note": _str, "skill": _str, "universe": _str, "mode": _str,
             "synthetic": _bool, "stale": _bool, "no_call": _bool,
             "last_bse_session": _optional(_iso_date), "last_sp500_session": _optional(_iso_date),
             "members": _optional(_list_of_dicts), "sectors": _optional(_list_of_dicts)}
_HISTORY_COLUMNS = ("date", "symbol", "open", "high", "low", "close", "adj_close", "volume")


def _is_forecast(value: Any) -> bool:
    return _fields(value, _FORECAST)


def _is_history_frame(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(value, pd.DataFrame) or not set(_HISTORY_COLUMNS) <= set(value.columns):
        return False
    numeric = all(pd.api.types.is_numeric_dtype(value[c]) and not pd.api.types.is_bool_dtype(value[c])
                  for c in _HISTORY_COLUMNS[2:])
    return numeric and pd.api.types.is_datetime64_any_dtype(value["date"])


def _is_bar(value: Any) -> bool:
    return isinstance(value, dict) and _iso_date(value.get("date")) and all(
        value[name] is None or _number(value[name]) for name in value if name != "date")


def _is_index_history(value: Any) -> bool:
    return isinstance(value, list) and all(_is_bar(bar) for bar in value)


def _is_overview(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("available"), bool):
        return False
    if not value["available"]:
        return True
    index = value.get("index")
    return (_iso_date(value.get("as_of")) and isinstance(index, dict)
            and all(_number(index.get(k)) for k in ("level", "change", "change_pct"))
            and isinstance(value.get("breadth"), dict)
            and all(_list_of_dicts(value.get(k)) for k in ("top_gainers", "top_losers", "members", "sectors")))


def _is_live(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"live", "reason"}
            and (value["live"] is None or isinstance(value["live"], dict)) and _optional(_str)(value["reason"]))


def _is_drift_history(value: Any) -> bool:
    return isinstance(value, dict) and _list_of_dicts(value.get("points")) and isinstance(value.get("families"), list)


_SHAPES: dict[str, list[Check]] = {
    "forecast:": [_is_forecast],
    "drift-history:": [_is_drift_history],
    "history:": [_is_history_frame],
    "index_history:": [_is_index_history],
    "overview:": [_is_overview],
    "live:": [_is_live],
    "health:": [lambda v: _number(v)],
}
_shapes_lock = threading.Lock()


def expect(prefix: str, check: Check) -> None:
    """Add `check` to what entries under keys starting with `prefix` must pass (idempotent)."""
    with _shapes_lock:
        checks = _SHAPES.setdefault(prefix, [])
        if check not in checks:
            checks.append(check)


def conforms(key: str, value: Any, expected: Check | None = None) -> bool:
    """Whether `value` is of the shape `key`'s family holds (and passes `expected`, when given).
    A check that raises counts as a refusal."""
    with _shapes_lock:
        checks = [check for prefix, found in _SHAPES.items() if key.startswith(prefix) for check in found]
    if expected is not None:
        checks.append(expected)
    try:
        return all(check(value) for check in checks)
    except Exception:  # noqa: BLE001 - a check that cannot even look at the value refuses it
        return False


class _Rejections:
    """Entries rejected as unreadable or of the wrong shape: a count and the last one."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self.count = 0
        self.last: tuple[str, str, float] | None = None  # (key, why, when)

    def add(self, key: str, why: str) -> None:
        self.count += 1
        self.last = (key, why, self._clock())

    def stats(self) -> dict:
        last = None
        recently = False
        if self.last is not None:
            key, why, when = self.last
            ago = max(0.0, self._clock() - when)
            last = {"key": key, "reason": why, "seconds_ago": round(ago, 1)}
            recently = ago < REJECTED_RECENTLY
        return {"rejected": self.count, "last_rejected": last, "rejected_recently": recently}


def _unwanted(key: str, data: bytes, expected: Check | None) -> tuple[Any, str | None]:
    """(value, None) for a readable entry of the right shape; (None, why) otherwise."""
    try:
        value = decode(data)
    except ValueError as error:
        return None, str(error)
    if not conforms(key, value, expected):
        return None, f"not of the shape its key holds (a {type(value).__name__})"
    return value, None


@runtime_checkable
class Cache(Protocol):
    def get(self, key: str, expect: Check | None = None) -> Any | None: ...

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
        self._rejections = _Rejections(clock)

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
        value, why = _unwanted(key, data, expect)  # outside the lock: decoding a frame takes a while
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
            self._rejections = _Rejections(self._clock)

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
                "hit_rate": _hit_rate(self._hits, self._misses),
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
        self._rejections = _Rejections(clock)
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
        value, why = _unwanted(key, data, expect)
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
            self._rejections = _Rejections(self._clock)

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
            "hit_rate": _hit_rate(hits, misses),
            "size": size,
            "errors": errors,
            "available": available,
            "max_value_bytes": self._max_value_bytes,
            "url": redact_url(self.url),
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


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


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
