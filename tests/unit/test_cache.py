"""The in-memory TTL cache, the `cached` helper, the backend choice, and Redis being down.

The Redis backend against a real server is in tests/integration/test_redis_cache.py; here an
unreachable Redis (a closed local port) shows that failures never reach the caller.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest

from sensex.core import cache as cache_module
from sensex.core.cache import (
    HISTORY_TTL,
    PRICE_TTL,
    Cache,
    MemoryCache,
    RedisCache,
    cached,
    get_cache,
)
from sensex.core.settings import load_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def memory(clock):
    return MemoryCache(clock=clock)


def test_seed_ttls():
    assert PRICE_TTL == 300 and HISTORY_TTL == 3600


def test_round_trip_and_protocol(memory):
    assert isinstance(memory, Cache)
    frame = pd.DataFrame({"close": [1.0, 2.0]})
    memory.set("history", frame, HISTORY_TTL)
    back = memory.get("history")
    pd.testing.assert_frame_equal(back, frame)
    back.loc[0, "close"] = -1.0  # a copy: what a caller does to it never reaches the cache
    assert memory.get("history").loc[0, "close"] == 1.0
    assert memory.get("absent") is None


def test_encoding_round_trips_the_values_we_cache():
    market = pd.DataFrame({
        "date": pd.to_datetime(["2024-01-02", "2024-01-03", None]),
        "symbol": ["SENSEX", None, "TCS"],
        "close": [71_000.5, float("nan"), 3_500.0],
        "volume": [10, 20, 30],
        "flag": [True, False, True],
        "sector": pd.Categorical(["IT", "IT", "Energy"]),
    })
    value = {"frame": market, "when": pd.Timestamp("2024-01-03"), "n": np.int64(3), "p": np.float32(0.5),
             "nested": [{"a": 1.25}, None, "text"]}
    back = cache_module.decode(cache_module.encode(value))
    pd.testing.assert_frame_equal(back["frame"], market)
    assert back["when"] == pd.Timestamp("2024-01-03") and back["n"] == 3 and back["p"] == 0.5
    assert back["nested"] == [{"a": 1.25}, None, "text"]


@pytest.mark.parametrize("value", [
    object(),
    {1, 2},
    pd.DataFrame({"x": [1]}, index=[5]),
    pd.DataFrame({"x": [1 + 2j]}),
    lambda: None,
])
def test_values_that_are_not_data_are_refused_and_not_cached(memory, value, caplog):
    with pytest.raises(cache_module.CacheEncodingError):
        cache_module.encode(value)
    with caplog.at_level(logging.WARNING, logger="sensex.core.cache"):
        memory.set("k", value, 60)
    assert memory.get("k") is None and "not cached" in caplog.text


@pytest.mark.parametrize("payload", [
    b"\x80\x04\x95\x00",  # a pickle's header
    b"{not json",
    b'{"__sensex_type__": "frame", "columns": ["x"], "dtypes": ["complex128"], "data": [[1]]}',
    b'{"__sensex_type__": "module", "name": "os"}',
])
def test_decoding_refuses_anything_but_our_data(payload):
    with pytest.raises(ValueError):
        cache_module.decode(payload)


def test_expiry_follows_the_clock(memory, clock):
    memory.set("price", 101.5, PRICE_TTL)
    clock.advance(PRICE_TTL - 0.001)
    assert memory.get("price") == 101.5
    clock.advance(0.002)
    assert memory.get("price") is None
    assert memory.stats()["size"] == 0


def test_expiry_with_the_real_clock():
    memory = MemoryCache()
    memory.set("k", "v", 0.05)
    assert memory.get("k") == "v"
    time.sleep(0.08)
    assert memory.get("k") is None


def test_overwrite_resets_ttl(memory, clock):
    memory.set("k", 1, 10)
    clock.advance(8)
    memory.set("k", 2, 10)
    clock.advance(8)
    assert memory.get("k") == 2


@pytest.mark.parametrize("ttl", [0, -1])
def test_non_positive_ttl_stores_nothing(memory, ttl):
    memory.set("k", 1, 10)
    memory.set("k", 2, ttl)
    assert memory.get("k") is None


def test_delete_and_clear(memory):
    for key in "abc":
        memory.set(key, key, 60)
    memory.delete("a")
    memory.delete("never-there")
    assert memory.get("a") is None and memory.get("b") == "b"
    memory.clear()
    assert memory.get("b") is None and memory.stats()["size"] == 0


def test_stats_count_hits_and_misses(memory, clock):
    assert memory.stats() == {
        "backend": "memory",
        "hits": 0,
        "misses": 0,
        "hit_rate": None,
        "size": 0,
        "bytes": 0,
        "max_entries": cache_module.MEMORY_MAX_ENTRIES,
        "max_bytes": cache_module.MEMORY_MAX_BYTES,
        "errors": 0,
        "available": True,
    }
    memory.set("a", 1, 60)
    memory.set("b", 2, 1)
    for _ in range(9):
        memory.get("a")
    memory.get("zzz")
    stats = memory.stats()
    assert (stats["hits"], stats["misses"], stats["size"]) == (9, 1, 2)
    assert stats["hit_rate"] == pytest.approx(0.9)
    clock.advance(2)
    assert memory.get("b") is None  # an expired entry is a miss
    assert memory.stats()["misses"] == 2 and memory.stats()["size"] == 1
    memory.clear()
    assert memory.stats()["hits"] == 9  # clear drops values, not traffic counters
    memory.reset_stats()
    assert memory.stats()["hits"] == 0 and memory.stats()["hit_rate"] is None


def test_max_entries_evicts_the_oldest_write(clock):
    memory = MemoryCache(max_entries=3, clock=clock)
    for key in "abcd":
        memory.set(key, key, 60)
    assert memory.get("a") is None
    assert [memory.get(k) for k in "bcd"] == ["b", "c", "d"]
    assert memory.stats()["size"] == 3


def test_max_bytes_evicts_the_oldest_writes_and_counts_exactly(clock):
    memory = MemoryCache(max_bytes=1000, clock=clock)
    for i in range(20):
        memory.set(f"k{i}", "x" * 100, 60)  # 102 encoded bytes each
    stats = memory.stats()
    assert stats["bytes"] <= 1000 and stats["size"] == 9
    assert memory.get("k19") == "x" * 100 and memory.get("k10") is None
    memory.set("k19", "y", 60)  # overwrite: the old bytes are released
    assert memory.stats()["bytes"] == 8 * 102 + 3
    memory.set("huge", "z" * 5000, 60)  # bigger than the whole cache: refused, nothing evicted
    assert memory.get("huge") is None and memory.stats()["size"] == 9
    memory.delete("k19")
    memory.clear()
    assert memory.stats()["bytes"] == 0


def test_max_entries_drops_expired_entries_first(clock):
    memory = MemoryCache(max_entries=2, clock=clock)
    memory.set("old-but-long", 1, 600)
    memory.set("short", 2, 1)
    clock.advance(5)
    memory.set("new", 3, 60)
    assert memory.get("old-but-long") == 1 and memory.get("new") == 3


def test_thread_safety_and_exact_counters():
    memory = MemoryCache()
    threads, rounds = 8, 2000
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            barrier.wait()
            for i in range(rounds):
                key = f"k{i % 50}"
                if i % 3 == 0:
                    memory.set(key, (number, i), 60)
                elif i % 17 == 0:
                    memory.delete(key)
                else:
                    value = memory.get(key)
                    assert value is None or isinstance(value, list)  # JSON: tuples come back as lists
                if i % 500 == 0:
                    memory.stats()
        except BaseException as error:  # noqa: BLE001 - surfaced by the assert below
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    gets_per_thread = sum(1 for i in range(rounds) if i % 3 != 0 and i % 17 != 0)
    stats = memory.stats()
    assert stats["hits"] + stats["misses"] == threads * gets_per_thread
    assert stats["size"] <= 50


class TestCached:
    def test_computes_once_then_hits(self, memory, clock):
        calls = []

        def compute():
            calls.append(1)
            return {"level": 80_000.0}

        assert cached(memory, "overview", PRICE_TTL, compute) == {"level": 80_000.0}
        assert cached(memory, "overview", PRICE_TTL, compute) == {"level": 80_000.0}
        assert len(calls) == 1
        clock.advance(PRICE_TTL + 1)
        cached(memory, "overview", PRICE_TTL, compute)
        assert len(calls) == 2
        assert memory.stats()["hits"] == 1 and memory.stats()["misses"] == 2

    def test_none_is_not_cached(self, memory):
        calls = []

        def compute():
            calls.append(1)

        assert cached(memory, "k", 60, compute) is None
        assert cached(memory, "k", 60, compute) is None
        assert len(calls) == 2

    def test_exceptions_propagate_and_store_nothing(self, memory):
        def broken():
            raise RuntimeError("Yahoo is down")

        with pytest.raises(RuntimeError):
            cached(memory, "k", 60, broken)
        assert memory.get("k") is None
        assert cached(memory, "k", 60, lambda: 5) == 5
        assert cache_module._single_flight._flights == {}  # no lock left behind

    def test_concurrent_misses_compute_once(self):
        memory = MemoryCache()
        calls = []
        started = threading.Event()

        def slow():
            calls.append(1)
            started.set()
            time.sleep(0.1)
            return "value"

        results = []

        def worker():
            results.append(cached(memory, "history", HISTORY_TTL, slow))

        first = threading.Thread(target=worker)
        first.start()
        started.wait(2)
        others = [threading.Thread(target=worker) for _ in range(7)]
        for thread in others:
            thread.start()
        for thread in [first, *others]:
            thread.join()
        assert results == ["value"] * 8
        assert len(calls) == 1
        assert cache_module._single_flight._flights == {}

    def test_one_caller_per_computation_is_told_it_computed(self):
        # A cache that keeps nothing (every value is over its byte bound): the waiting threads
        # must still get the one computation's result, from the flight, not compute again.
        keeps_nothing = MemoryCache(max_bytes=1)
        calls, outcomes = [], []
        barrier = threading.Barrier(16)

        def slow():
            calls.append(1)
            time.sleep(0.2)
            return {"probability": 0.61}

        def worker():
            barrier.wait()
            outcomes.append(cache_module.cached_or_computed(keeps_nothing, "forecast", 60, slow))

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(calls) == 1
        assert sorted(computed for _, computed in outcomes) == [False] * 15 + [True]
        assert all(value == {"probability": 0.61} for value, _ in outcomes)
        assert cache_module._single_flight._flights == {}

    def test_waiters_compute_themselves_when_the_first_computation_fails(self):
        memory = MemoryCache()
        started, release = threading.Event(), threading.Event()
        attempts = []

        def flaky():
            attempts.append(1)
            if len(attempts) == 1:
                started.set()
                release.wait(2)
                raise RuntimeError("store is being replaced")
            return "second try"

        errors, results = [], []

        def first():
            try:
                cached(memory, "k", 60, flaky)
            except RuntimeError as error:
                errors.append(error)

        leader = threading.Thread(target=first)
        leader.start()
        started.wait(2)
        follower = threading.Thread(target=lambda: results.append(cached(memory, "k", 60, flaky)))
        follower.start()
        time.sleep(0.05)
        release.set()
        leader.join()
        follower.join()
        assert len(errors) == 1 and results == ["second try"] and len(attempts) == 2

    def test_different_keys_do_not_wait_for_each_other(self):
        memory = MemoryCache()
        release = threading.Event()

        def blocked():
            release.wait(2)
            return "slow"

        thread = threading.Thread(target=cached, args=(memory, "slow", 60, blocked))
        thread.start()
        try:
            assert cached(memory, "fast", 60, lambda: "fast") == "fast"
            assert thread.is_alive()  # the other key's compute is still blocked
        finally:
            release.set()
            thread.join()


class TestGetCache:
    def test_memory_by_default_and_process_wide(self, monkeypatch):
        monkeypatch.setattr(cache_module, "_memory_cache", None)
        settings = load_settings({"SENSEX_HOME": "/tmp/sensex-test-home"})
        first = get_cache(settings)
        assert isinstance(first, MemoryCache)
        assert get_cache(settings) is first

    def test_redis_when_url_is_set(self, monkeypatch):
        monkeypatch.setattr(cache_module, "_redis_caches", {})
        settings = load_settings(
            {"SENSEX_HOME": "/tmp/sensex-test-home", "SENSEX_REDIS_URL": _closed_redis_url()}
        )
        backend = get_cache(settings)
        assert isinstance(backend, RedisCache)
        assert get_cache(settings) is backend  # one client (and pool) per URL

    def test_uses_environment_settings_when_none_given(self, monkeypatch):
        from sensex.core.settings import get_settings

        monkeypatch.setattr(cache_module, "_memory_cache", None)
        monkeypatch.delenv("SENSEX_REDIS_URL", raising=False)
        get_settings.cache_clear()
        try:
            assert isinstance(get_cache(), MemoryCache)
        finally:
            get_settings.cache_clear()


def _closed_redis_url() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"redis://127.0.0.1:{port}/0"


class TestRedisDown:
    """A Redis that does not answer: None from get, no-op set, counted, warned once."""

    def test_failures_never_reach_the_caller(self, caplog):
        clock = FakeClock()
        backend = RedisCache(
            _closed_redis_url(), prefix="sensex-test-down:", clock=clock, retry_after=5.0
        )
        with caplog.at_level(logging.WARNING, logger="sensex.core.cache"):
            assert backend.get("k") is None
            backend.set("k", 1, 60)
            backend.delete("k")
            backend.clear()
            assert cached(backend, "k", 60, lambda: "computed") == "computed"
            clock.advance(10)  # past retry_after: it tries Redis again, fails again
            assert backend.get("k") is None
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "unavailable" in warnings[0].getMessage()
        stats = backend.stats()
        assert stats["backend"] == "redis" and stats["available"] is False
        assert stats["errors"] >= 6
        assert stats["hit_rate"] is None

    def test_an_outage_costs_one_connection_attempt(self):
        clock = FakeClock()
        backend = RedisCache(_closed_redis_url(), prefix="sensex-test-down:", clock=clock)
        attempts = []
        real = backend._get_and_count

        def counting(*args, **kwargs):
            attempts.append(1)
            return real(*args, **kwargs)

        backend._get_and_count = counting
        for _ in range(50):
            assert backend.get("k") is None
        assert len(attempts) == 1

    def test_password_is_not_shown(self):
        backend = RedisCache("redis://user:secret@127.0.0.1:1/0", prefix="x:")
        assert "secret" not in backend.stats()["url"]
