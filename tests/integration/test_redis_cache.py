"""The Redis cache backend against the real Redis on 127.0.0.1:6379 (skipped when absent).

Each test uses its own key prefix and deletes everything under it afterwards, so the tests
never touch other data in the server and can run while the API uses the same Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pandas as pd
import pytest

from sensex.core.cache import PRICE_TTL, RedisCache, cached, get_cache
from sensex.core.settings import load_settings

REDIS_URL = os.environ.get("SENSEX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = [pytest.mark.integration, pytest.mark.services]


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as error:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({error}): start redis-server to run")
    return client


@pytest.fixture
def client():
    return _redis_or_skip()


@pytest.fixture
def prefix(client):
    prefix = f"sensex-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    names = list(client.scan_iter(match=f"{prefix}*", count=500))
    if names:
        client.delete(*names)


@pytest.fixture
def backend(prefix):
    return RedisCache(REDIS_URL, prefix=prefix)


def test_round_trip_of_python_and_pandas_values(backend):
    frame = pd.DataFrame(
        {"date": pd.to_datetime(["2024-01-02", "2024-01-03"]), "close": [71_000.5, 71_350.25]}
    )
    backend.set("history", frame, 60)
    backend.set("overview", {"level": 71_350.25, "advancing": 18, "declining": 12}, 60)
    pd.testing.assert_frame_equal(backend.get("history"), frame)
    assert backend.get("overview") == {"level": 71_350.25, "advancing": 18, "declining": 12}
    assert backend.get("absent") is None
    backend.delete("overview")
    assert backend.get("overview") is None


def test_keys_live_under_the_prefix_with_a_ttl(backend, client, prefix):
    backend.set("price", 1.0, PRICE_TTL)
    assert client.exists(f"{prefix}cache:price")
    assert 0 < client.pttl(f"{prefix}cache:price") <= PRICE_TTL * 1000


def test_ttl_expiry(backend):
    backend.set("short", "value", 0.2)
    assert backend.get("short") == "value"
    time.sleep(0.35)
    assert backend.get("short") is None


def test_stats_are_counted_in_redis(backend, client, prefix):
    assert backend.stats()["hit_rate"] is None
    backend.set("a", 1, 60)
    backend.set("b", 2, 60)
    for _ in range(3):
        backend.get("a")
    backend.get("nope")
    stats = backend.stats()
    assert stats["backend"] == "redis" and stats["available"] is True
    assert (stats["hits"], stats["misses"], stats["size"]) == (3, 1, 2)
    assert stats["hit_rate"] == pytest.approx(0.75)
    assert stats["errors"] == 0
    # A second client on the same prefix sees the same counters: they live in Redis.
    assert RedisCache(REDIS_URL, prefix=prefix).stats()["hits"] == 3
    assert client.hget(f"{prefix}cache-stats", "hits") == b"3"


def test_clear_deletes_only_its_own_prefix(backend, client, prefix):
    other = f"{prefix}other-app:"  # shares the prefix's start but is not a cache value
    client.set(other, "keep", ex=60)
    neighbour = RedisCache(REDIS_URL, prefix=f"{prefix}neighbour-")
    neighbour.set("x", "keep", 60)
    for i in range(1200):  # more than one SCAN/UNLINK batch
        backend.set(f"k{i}", i, 60)
    backend.get("k1")
    backend.clear()
    assert backend.get("k1") is None and backend.stats()["size"] == 0
    assert backend.stats()["hits"] == 1  # counters survive clear()
    assert client.get(other) == b"keep"
    assert neighbour.get("x") == "keep"


def test_prefix_with_glob_characters_is_matched_literally(client, prefix):
    star = RedisCache(REDIS_URL, prefix=f"{prefix}*")
    plain = RedisCache(REDIS_URL, prefix=f"{prefix}x")
    star.set("k", 1, 60)
    plain.set("k", 2, 60)
    star.clear()
    assert star.get("k") is None and plain.get("k") == 2


def test_cached_helper_uses_redis(backend):
    calls = []

    def compute():
        calls.append(1)
        return [1, 2, 3]

    assert cached(backend, "series", 60, compute) == [1, 2, 3]
    assert cached(backend, "series", 60, compute) == [1, 2, 3]
    assert len(calls) == 1


def test_get_cache_picks_redis_from_settings(prefix):
    settings = load_settings(
        {"SENSEX_HOME": "/tmp/sensex-test-home", "SENSEX_REDIS_URL": REDIS_URL}
    )
    backend = get_cache(settings)
    assert isinstance(backend, RedisCache) and backend.stats()["available"] is True


def test_unreadable_entry_is_a_miss(backend, client, prefix):
    client.set(f"{prefix}cache:broken", b"not json", ex=60)
    assert backend.get("broken") is None
    assert not client.exists(f"{prefix}cache:broken")


class _WritesAFile:
    """A pickle whose loading creates a file: what an attacker with write access to Redis sends."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_in_redis_is_never_loaded(backend, client, prefix, tmp_path):
    import pickle

    witness = tmp_path / "pwned"
    client.set(f"{prefix}cache:overview", pickle.dumps(_WritesAFile(str(witness))), ex=60)
    assert backend.get("overview") is None
    assert not witness.exists()
    assert not client.exists(f"{prefix}cache:overview")  # dropped, so the next set replaces it
    assert backend.stats()["errors"] == 1


def test_what_redis_holds_is_json(backend, client, prefix):
    frame = pd.DataFrame({"date": pd.to_datetime(["2024-01-02"]), "close": [71_000.5]})
    backend.set("history", frame, 60)
    backend.set("forecast", {"direction": "UP", "probability": 0.61}, 60)
    assert json.loads(client.get(f"{prefix}cache:forecast")) == {"direction": "UP", "probability": 0.61}
    assert json.loads(client.get(f"{prefix}cache:history"))["__sensex_type__"] == "frame"


def test_values_over_the_size_bound_are_not_stored(client, prefix, caplog):
    small = RedisCache(REDIS_URL, prefix=prefix, max_value_bytes=100)
    with caplog.at_level("WARNING", logger="sensex.core.cache"):
        small.set("big", "x" * 500, 60)
    assert not client.exists(f"{prefix}cache:big") and "not cached" in caplog.text
    small.set("small", "x", 60)
    assert small.get("small") == "x"


_CHILD = textwrap.dedent(
    """
    import json, sys
    from sensex.core.cache import RedisCache
    url, prefix, role = sys.argv[1:4]
    cache = RedisCache(url, prefix=prefix)
    if role == "hammer":
        cache.set("hot", "x", 60)
        for i in range(200):
            cache.get("hot")
            cache.get(f"cold-{i}")
        print(json.dumps({"seen": None, "stats": cache.stats()}))
        sys.exit(0)
    if role == "writer":
        cache.set("shared", {"written_by": "writer", "pid": __import__("os").getpid()}, 60)
        seen = cache.get("shared")          # hit
        cache.get("absent-in-writer")       # miss
    else:
        seen = cache.get("shared")          # hit: written by the other process
        cache.get("absent-in-reader")       # miss
        cache.set("reply", "from reader", 60)
    print(json.dumps({"seen": seen, "stats": cache.stats()}))
    """
)


def _run_child(prefix: str, role: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, REDIS_URL, prefix, role],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_share_values_and_stats(prefix):
    writer = _run_child(prefix, "writer")
    reader = _run_child(prefix, "reader")

    assert writer["seen"]["written_by"] == "writer"
    assert reader["seen"] == writer["seen"]  # the reader got the writer's value
    assert reader["seen"]["pid"] != os.getpid()
    # Counters accumulate across processes: the reader's stats include the writer's traffic.
    assert (writer["stats"]["hits"], writer["stats"]["misses"]) == (1, 1)
    assert (reader["stats"]["hits"], reader["stats"]["misses"]) == (2, 2)
    # And this (third) process sees both, plus the value the reader left.
    here = RedisCache(REDIS_URL, prefix=prefix)
    assert here.get("reply") == "from reader"
    stats = here.stats()
    assert (stats["hits"], stats["misses"], stats["size"]) == (3, 2, 2)


def test_concurrent_processes_count_exactly(prefix):
    """Two processes hammering one Redis at the same time: no lost increments."""
    command = [sys.executable, "-c", _CHILD, REDIS_URL, prefix, "hammer"]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for child in children:
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr
    stats = RedisCache(REDIS_URL, prefix=prefix).stats()
    assert (stats["hits"], stats["misses"]) == (400, 400)
