"""Hostile and damaged input, module by module: what another party wrote (a cache entry, a log
line, a universe or alerts file, a CSV import) and what a crash or a disk left under SENSEX_HOME
(meta.json, the data file, the window and calendar caches). Each is repaired (derived files) or
refused with one sentence; none raises anything but the project's own errors.

The API-level counterparts (statuses, /health) are in tests/integration/test_damaged_home.py,
tests/integration/test_hostile_redis.py and tests/integration/test_api_hostile.py.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket

import numpy as np
import pandas as pd
import pytest

from sensex.core import cache as cache_module
from sensex.core import jsonlog
from sensex.core.errors import AlertDeliveryError, ConfigError, NoStoreError
from sensex.core.redaction import redact_text, redact_url, url_secrets
from sensex.data import store
from sensex.data.sources import csvfiles
from sensex.data.sources.csvfiles import layout as csv_layout
from sensex.market import calendar
from sensex.market.universe import load_universe
from sensex.monitoring import alerts
from sensex.serving import window_cache

SECRET = "s3cr3tT0ken"
DEEP = b"[" * 100_000 + b"]" * 100_000


# -- the cache: data only, finite, of the shape its key family holds ---------------------------------
@pytest.mark.parametrize("payload", [
    b"NaN", b"Infinity", b"-Infinity", b'{"a": NaN}', b"[1, Infinity]", b"1e400", b'{"p": -1e999}',
    DEEP,
    b'{"__sensex_type__": "frame", "columns": ["close"], "dtypes": ["float64"], "data": [[1e400]]}',
    b'{"__sensex_type__": "frame", "columns": ["n"], "dtypes": ["int64"], "data": [[1e30]]}',
    b'{"__sensex_type__": "frame", "columns": ["d"], "dtypes": ["datetime64[ns]"], "data": [[99999999999999999999999]]}',
    b'{"__sensex_type__": "frame", "columns": "ab", "dtypes": "cd", "data": "ef"}',
    b'{"__sensex_type__": "frame"}',
    b'{"__sensex_type__": "timestamp", "value": "not a time"}',
    b'{"__sensex_type__": "timestamp"}',
])
def test_decoding_refuses_non_finite_deep_and_malformed_payloads(payload):
    with pytest.raises(ValueError):
        cache_module.decode(payload)


def test_frames_with_missing_values_are_encoded_without_nan_literals():
    frame = pd.DataFrame({"close": [1.5, float("nan")], "symbol": ["A", None]})
    data = cache_module.encode(frame)
    assert b"NaN" not in data
    pd.testing.assert_frame_equal(cache_module.decode(data), frame)
    for value in ({"p": float("nan")}, [float("inf")], pd.DataFrame({"x": [float("inf")]})):
        with pytest.raises(cache_module.CacheEncodingError):
            cache_module.encode(value)


FORECAST = {"direction": "UP", "probability": 0.53, "confidence": "no skill shown", "risk": "Low",
            "model_version": "1", "as_of": "2021-12-30", "target_date": "2021-12-31", "data_source": "synthetic",
            "synthetic": True, "stale": True, "note": "A note.", "interval": [0.4, 0.6], "no_call": True,
            "skill": "none", "universe": "sensex", "mode": "close"}
HISTORY = pd.DataFrame({"date": pd.to_datetime(["2021-12-30"]), "symbol": ["SENSEX"], "open": [1.0], "high": [1.0],
                        "low": [1.0], "close": [1.0], "adj_close": [1.0], "volume": [1.0]})
OVERVIEW = {"available": True, "as_of": "2021-12-30", "previous_session": "2021-12-29", "source": "synthetic",
            "synthetic": True, "index": {"symbol": "SENSEX", "level": 1.0, "change": 0.0, "change_pct": 0.0},
            "breadth": {"advancing": 1, "declining": 0, "unchanged": 0}, "top_gainers": [], "top_losers": [],
            "members": [], "sectors": []}
HOSTILE = ["hello", [1, 2, 3], {"a": 1}, 1, None, True, {"direction": "SIDEWAYS"}]


@pytest.mark.parametrize(("key", "good"), [
    ("forecast:sensex:close:1:abc:hash:latest", FORECAST),
    ("history:7:hash", HISTORY),
    ("index_history:250:50,200:hash", [{"date": "2021-12-30", "open": 1.0, "close": 2.0, "sma_50": None}]),
    ("overview:5:hash", OVERVIEW),
    ("overview:5:other", {"available": False}),
    ("live:SENSEX:^BSESN", {"live": None, "reason": "offline"}),
    ("drift-history:sensex:close:1:abc:hash:5:60", {"points": [], "families": [], "reason": "none yet"}),
])
def test_every_key_family_accepts_its_shape_and_nothing_else(key, good):
    assert cache_module.conforms(key, good)
    for bad in HOSTILE:
        assert not cache_module.conforms(key, bad), (key, bad)


def test_a_forecast_missing_a_field_or_out_of_range_does_not_conform():
    key = "forecast:sensex:close:1:abc:hash:latest"
    assert not cache_module.conforms(key, {k: v for k, v in FORECAST.items() if k != "target_date"})
    assert not cache_module.conforms(key, {**FORECAST, "probability": 7})
    assert not cache_module.conforms(key, {**FORECAST, "target_date": "tomorrow"})
    assert not cache_module.conforms(key, {**FORECAST, "interval": "wide"})


def test_an_entry_of_the_wrong_shape_is_a_miss_deleted_and_counted(caplog):
    memory = cache_module.MemoryCache()
    key = "forecast:sensex:close:1:abc:hash:latest"
    memory.set(key, "hello", 60)
    with caplog.at_level(logging.WARNING, logger="sensex.core.cache"):
        assert memory.get(key) is None
    rejections = memory.rejections()
    assert memory.stats()["size"] == 0 and memory.stats()["misses"] == 1
    assert rejections["rejected"] == 1 and rejections["last_rejected"]["key"] == key and rejections["rejected_recently"]
    assert "not a forecast" in caplog.text or "shape" in caplog.text
    # `cached` then computes, stores the right value and serves it from then on.
    memory.set(key, [1, 2, 3], 60)
    assert cache_module.cached(memory, key, 60, lambda: FORECAST) == FORECAST
    assert memory.get(key) == FORECAST


def test_a_rejection_stops_counting_as_recent_after_a_while():
    now = [0.0]
    memory = cache_module.MemoryCache(clock=lambda: now[0])
    memory.set("forecast:k", [1, 2, 3], 10_000)
    assert memory.get("forecast:k") is None and memory.rejections()["rejected_recently"]
    now[0] = cache_module.REJECTED_RECENTLY + 1
    assert memory.rejections() == {"rejected": 1, "rejected_recently": False,
                                   "last_rejected": {"key": "forecast:k", "reason": memory.rejections()["last_rejected"]["reason"],
                                                     "seconds_ago": cache_module.REJECTED_RECENTLY + 1}}


def test_an_explicit_expectation_is_applied_by_cached():
    memory = cache_module.MemoryCache()
    memory.set("mine", "hello", 60)
    assert cache_module.cached(memory, "mine", 60, lambda: 5, expect=lambda v: isinstance(v, int)) == 5
    assert memory.get("mine") == 5


# -- JSON Lines logs: a foreign line is skipped like a torn one -----------------------------------
GOOD_PREDICTION = {"timestamp": "2021-12-31T10:00:00+00:00", "prediction": {"direction": "UP", "probability": 0.6},
                   "model_version": "1", "mode": "close", "as_of": "2021-12-30", "target_date": "2021-12-31",
                   "data_source": "synthetic", "back_dated": False, "universe": "sensex"}
FOREIGN_LINES = [b"[1,2,3]", b'"text"', b"NaN", b"42", b"null", b'{"as_of": NaN}', b'{"prediction": "UP"}',
                 b'{"as_of": 5}', b'{"as_of": "yesterday"}', b'{"as_of": ["2021-12-30"]}',
                 b'{"prediction": {"probability": "high"}}', b'{"prediction": {"direction": 1}}',
                 b'{"universe": ["sensex"]}', b'{"done": "retrain"}', b'{"back_dated": "no"}', b"1e400",
                 b'{"prediction": {"probability": Infinity}}', DEEP]


def test_log_lines_that_are_not_our_records_are_skipped(tmp_path):
    path = tmp_path / jsonlog.PREDICTION_LOG
    jsonlog.append(path, GOOD_PREDICTION)
    with open(path, "ab") as handle:
        handle.write(b"\n".join(FOREIGN_LINES) + b"\n")
    jsonlog.append(path, {**GOOD_PREDICTION, "as_of": "2021-12-31", "target_date": "2022-01-03"})
    records = jsonlog.read(path)
    assert [r["as_of"] for r in records] == ["2021-12-30", "2021-12-31"]
    assert [r["as_of"] for r in jsonlog.read(path, limit=5)] == ["2021-12-30", "2021-12-31"]
    assert len(jsonlog.read_universe(path, "sensex", limit=1)) == 1


# -- alerts: webhook URLs validated fully; no secret in the file, none shown anywhere -------------
def _config_error(url: str) -> str:
    with pytest.raises(ConfigError) as error:
        alerts.parse_alerts({"webhook": {"url": url}}, "alerts.yaml", env={})
    return str(error.value)


@pytest.mark.parametrize(("url", "says"), [
    ("http://127.0.0.1:99999/hook", "port"),
    ("http://127.0.0.1:0/hook", "port"),
    ("http://127.0.0.1:http/hook", "port"),
    ("http://[::1/hook", "webhook.url"),
    ("ftp://127.0.0.1/hook", "http"),
    ("http:///hook", "host"),
    ("http://exa mple.com/hook", "webhook.url"),
    ("http://127.0.0.1/ho\nok", "webhook.url"),
])
def test_malformed_webhook_urls_are_refused(url, says):
    message = _config_error(url)
    assert "webhook.url" in message and says in message


@pytest.mark.parametrize("url", [
    f"http://user:{SECRET}@127.0.0.1/hook",
    f"http://{SECRET}@127.0.0.1/hook",
    f"https://hooks.slack.com/services/T000/B000/{SECRET}",
    f"https://discord.com/api/webhooks/123456/{SECRET}",
    f"https://discordapp.com/api/webhooks/123456/{SECRET}",
    f"https://api.telegram.org/bot123:{SECRET}/sendMessage?chat_id=1",
    f"https://example.webhook.office.com/webhookb2/{SECRET}",
    f"https://chat.example.com/hooks/{SECRET}",
    f"https://h.example/x?api_key={SECRET}",
    f"https://h.example/x?token={SECRET}",
    f"https://h.example/x?key={SECRET}",
    f"https://h.example/x?sig={SECRET}",
    f"https://h.example/x?signature={SECRET}",
])
def test_webhook_urls_carrying_a_secret_are_refused_without_echoing_it(url):
    message = _config_error(url)
    assert SECRET not in message and "SENSEX_WEBHOOK_URL" in message


@pytest.mark.parametrize("url", [
    f"https://hooks.slack.com/services/T000/B000/{SECRET}",
    f"https://hooks.slack.com/workflows/T000/A000/1/{SECRET}",
    f"https://discord.com/api/webhooks/123456/{SECRET}",
    f"https://canary.discord.com/api/v10/webhooks/123456/{SECRET}",
    f"https://api.telegram.org/bot123:{SECRET}/sendMessage",
    f"https://outlook.office.com/webhook/{SECRET}",
    f"https://example.webhook.office.com/webhookb2/{SECRET}",
    f"https://chat.example.com/hooks/{SECRET}",
    f"https://maker.ifttt.com/trigger/ev/with/key/{SECRET}",
    f"https://chat.googleapis.com/v1/spaces/AAA/messages?key={SECRET}&token={SECRET}",
])
def test_service_tokens_in_url_paths_are_redacted(url):
    assert SECRET not in redact_url(url) and url_secrets(url)
    text = f"POST to {url} failed; also {url.split('://', 1)[1]} without a scheme"
    assert SECRET not in redact_text(text)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "https://h.example/api/alerts?channel=ops",
                                 "http://localhost:5000/mlflow-artifacts:/0/4f1a2b3c4d5e6f708192a3b4c5d6e7f8/model"])
def test_urls_without_secrets_are_left_as_they_are(url):
    assert redact_url(url) == url and url_secrets(url) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_secret_url_from_the_environment_is_used_and_never_shown(caplog):
    url = f"http://127.0.0.1:{_closed_port()}/hooks/{SECRET}"
    env = {alerts.WEBHOOK_URL_ENV: url}
    config = alerts.parse_alerts({"webhook": {"backoff_s": 0, "retries": 0}, "rules": [{"when": "daily_failed"}]},
                                 "alerts.yaml", env=env)
    with caplog.at_level(logging.WARNING):
        delivery = alerts.dispatch(config, [alerts.Event("daily_failed", "x", "2021-12-31")], env=env)
    assert delivery.sent == 0 and len(delivery.errors) == 1
    assert "/hooks/***" in delivery.errors[0] and SECRET not in delivery.errors[0]
    assert SECRET not in caplog.text and SECRET not in repr(config) and SECRET not in json.dumps(config.model_dump())


def test_a_webhook_section_without_any_url_is_refused():
    with pytest.raises(ConfigError, match="SENSEX_WEBHOOK_URL"):
        alerts.parse_alerts({"webhook": {"retries": 0}}, "alerts.yaml", env={})
    with pytest.raises(ConfigError, match="SENSEX_WEBHOOK_URL") as error:
        alerts.parse_alerts({"webhook": {"retries": 0}}, "alerts.yaml",
                            env={alerts.WEBHOOK_URL_ENV: f"http://u:{SECRET}@127.0.0.1:99999/x"})
    assert SECRET not in str(error.value)


def test_an_unusable_url_never_escapes_dispatch():
    config = alerts.AlertsConfig.model_construct(
        webhook=alerts.WebhookConfig.model_construct(url="http://127.0.0.1:99999/hook", timeout_s=1, retries=0,
                                                     backoff_s=0), email=None, rules=[])
    delivery = alerts.dispatch(config, [alerts.Event("test", "x")], env={}, force=True)
    assert delivery.sent == 0 and "webhook" in delivery.errors[0].lower()
    with pytest.raises(AlertDeliveryError):
        alerts.post_webhook(config.webhook, {"event": "test"})


@pytest.mark.parametrize("content", ["webhook: " + "[" * 100_000 + "]" * 100_000, "# " + "x" * (2 << 20)])
def test_an_alerts_file_too_deep_or_too_large_is_one_sentence(tmp_path, content):
    path = tmp_path / "alerts.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        alerts.load_alerts(tmp_path, path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


# -- CSV imports: per-file caps and field limit, never stopping the good files --------------------
GOOD_CSV = ("Date,Open,High,Low,Close,Adj Close,Volume\n2024-06-24,100,110,95,105,104,1000\n"
            "2024-06-25,105,112,101,110,109,1200\n2024-06-26,110,115,108,112,111,900\n")
TODAY = pd.Timestamp("2024-07-01")


def _import(directory):
    return csvfiles.load_directory(directory, load_universe(), today=TODAY, context_series=())


def _rejection(result, name: str) -> str:
    assert name in result.files_rejected, result.problems
    return [p for p in result.problems if p["file"] == name][-1]["problem"]


@pytest.mark.parametrize("where", ["header", "row"])
def test_a_field_over_the_limit_rejects_only_its_file(tmp_path, where):
    (tmp_path / "TCS.csv").write_text(GOOD_CSV)
    big = "x" * 140_000
    text = (f"Date,Open,High,Low,Close,Adj Close,Volume,{big}\n2024-06-24,1,1,1,1,1,1,\n" if where == "header"
            else GOOD_CSV + f"2024-06-27,1,1,1,1,1,1{big}\n")
    (tmp_path / "INFY.csv").write_text(text)
    result = _import(tmp_path)
    assert result.files_read == ["TCS.csv"] and "characters" in _rejection(result, "INFY.csv")
    assert set(result.frame["symbol"]) == {"TCS"}


def test_a_gzip_bomb_is_refused_at_the_expanded_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_layout, "MAX_EXPANDED_BYTES", 1 << 20)
    (tmp_path / "TCS.csv").write_text(GOOD_CSV)
    line = b"2024-06-24,100,110,95,105,104,1000\n"
    (tmp_path / "INFY.csv.gz").write_bytes(gzip.compress(GOOD_CSV.encode() + line * 200_000, compresslevel=9))
    result = _import(tmp_path)
    assert result.files_read == ["TCS.csv"]
    assert "expands to more than" in _rejection(result, "INFY.csv.gz")


def test_a_file_over_the_byte_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_layout, "MAX_FILE_BYTES", 4096)
    (tmp_path / "TCS.csv").write_text(GOOD_CSV)
    (tmp_path / "INFY.csv").write_text(GOOD_CSV + "2024-06-27,1,1,1,1,1,1\n" * 500)
    result = _import(tmp_path)
    assert result.files_read == ["TCS.csv"] and "bytes" in _rejection(result, "INFY.csv")


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty", "nul"])
def test_damaged_compressed_files_are_refused_by_name(tmp_path, damage):
    (tmp_path / "TCS.csv").write_text(GOOD_CSV)
    packed = gzip.compress((GOOD_CSV * 50).encode())
    data = {"truncated": packed[: len(packed) // 2], "garbled": packed[:10] + os.urandom(len(packed) - 10),
            "empty": b"", "nul": b"\x1f\x8b" + b"\x00" * 100}[damage]
    (tmp_path / "INFY.csv.gz").write_bytes(data)
    result = _import(tmp_path)
    assert result.files_read == ["TCS.csv"] and _rejection(result, "INFY.csv.gz").startswith("INFY.csv.gz")


def test_a_surprise_in_one_file_rejects_only_that_file(tmp_path, monkeypatch):
    from sensex.data.sources.csvfiles import directory

    (tmp_path / "TCS.csv").write_text(GOOD_CSV)
    (tmp_path / "INFY.csv").write_text(GOOD_CSV)
    real = directory.load_file

    def load_file(path, *args):
        if path.name == "INFY.csv":
            raise RuntimeError("something no one foresaw")
        return real(path, *args)

    monkeypatch.setattr(directory, "load_file", load_file)
    result = _import(tmp_path)
    assert result.files_read == ["TCS.csv"] and "RuntimeError" in _rejection(result, "INFY.csv")


# -- universe keys: from a validated name, never another universe's --------------------------------
UNIVERSE_ROWS = "symbol,yahoo_bo,yahoo_ns,name,sector,weight\nAAA,AAA.BO,AAA.NS,A Co,Energy,2\n"


@pytest.mark.parametrize("name", ["\u2603", "名前", "a/b", "../x", "semi;colon", "dot.name", "-", "x" * 65])
def test_a_universe_name_that_is_not_ascii_letters_digits_dash_underscore_is_refused(tmp_path, name):
    path = tmp_path / "mine.csv"
    path.write_text(f"# name: {name}\n" + UNIVERSE_ROWS, encoding="utf-8")
    with pytest.raises(ConfigError, match="# name:") as error:
        load_universe(str(path))
    assert "\n" not in str(error.value)


def test_a_file_name_that_cannot_be_a_key_needs_a_name_line(tmp_path):
    path = tmp_path / "\u2603.csv"
    path.write_text(UNIVERSE_ROWS, encoding="utf-8")
    with pytest.raises(ConfigError, match="# name:"):
        load_universe(str(path))
    path.write_text("# name: snow_man\n" + UNIVERSE_ROWS, encoding="utf-8")
    assert load_universe(str(path)).key == "snow-man"


# -- the calendar cache: validated, rebuilt from exchange_calendars when wrong ----------------------
WEEKDAYS = np.arange(np.datetime64("1997-01-01"), np.datetime64("2026-12-31"))
WEEKDAYS = WEEKDAYS[np.is_busday(WEEKDAYS)].astype(np.int64)


@pytest.mark.parametrize("content", [
    b"[]", b"{}", b'{"days": 5}', b'{"days": ["a", "b"]}', b'{"days": [1e30, 2e30]}', b'{"days": [3, 2, 1]}',
    b'{"days": [true, false]}', b'{"days": [0, 1]}', b'{"days": [NaN]}', DEEP, b"", b"\x00\xff",
])
def test_a_damaged_calendar_cache_is_rebuilt(home, monkeypatch, content):
    monkeypatch.setattr(calendar, "_xbom_days", lambda: WEEKDAYS.copy())
    calendar._recorded_sessions.cache_clear()
    try:
        path = calendar._session_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        days = calendar._recorded_sessions()
        assert np.array_equal(days.astype(np.int64), WEEKDAYS)
        assert json.loads(path.read_text())["days"] == WEEKDAYS.tolist()
    finally:
        calendar._recorded_sessions.cache_clear()


def test_the_doctor_can_rebuild_a_damaged_calendar_cache(home, monkeypatch):
    monkeypatch.setattr(calendar, "_xbom_days", lambda: WEEKDAYS.copy())
    calendar._recorded_sessions.cache_clear()
    try:
        path = calendar._session_file()
        assert calendar.repair_cache() is None  # nothing there: nothing to repair
        calendar._recorded_sessions()
        assert calendar.repair_cache() is None  # sound: left alone
        path.write_bytes(b"[]")
        assert calendar.repair_cache() == path and json.loads(path.read_text())["days"] == WEEKDAYS.tolist()
    finally:
        calendar._recorded_sessions.cache_clear()


@pytest.mark.parametrize("content", [b"date\n" + b"x" * 200_000 + b"\n", b"\x00\x01\x02date\n\x00", b"\xff\xfe\x00"])
def test_a_damaged_holiday_file_is_ignored_with_a_warning(home, content, caplog):
    home.holidays_dir.mkdir(parents=True, exist_ok=True)
    (home.holidays_dir / "bad.csv").write_bytes(content)
    (home.holidays_dir / "good.csv").write_text("date\n2027-03-22\n")
    with caplog.at_level(logging.WARNING, logger="sensex.market.calendar"):
        days = calendar.extra_holiday_days()
    assert list(days) == [np.datetime64("2027-03-22")] and "bad.csv" in caplog.text


# -- the window cache: validated, a damaged file deleted and computed again -------------------------
def _inputs() -> window_cache.LatestInputs:
    return window_cache.LatestInputs(np.zeros((1, 4, 3, 2), np.float32),
                                     {"index": np.zeros((1, 13)), "latest": np.zeros((1, 5))}, "2021-12-30", 0.15)


def _saved(tmp_path) -> tuple:
    args = (tmp_path / "windows", "close", "a" * 64, "b" * 16)
    window_cache.save(*args, _inputs())
    (path,) = args[0].glob("*.npz")
    return args, path


def test_the_doctor_can_remove_damaged_window_files(tmp_path):
    args, path = _saved(tmp_path)
    assert window_cache.remove_damaged(args[0]) == []
    path.write_bytes(path.read_bytes()[:100])
    assert window_cache.remove_damaged(args[0]) == [path] and not path.exists()


def test_the_window_cache_round_trips(tmp_path):
    args, _ = _saved(tmp_path)
    back = window_cache.load(*args)
    assert back is not None and back.window.shape == (1, 4, 3, 2) and back.last_session == "2021-12-30"


def _rewrite(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty", "missing array", "wrong shape", "text date",
                                    "not finite", "object array"])
def test_a_damaged_window_cache_file_is_a_miss_and_deleted(tmp_path, damage, caplog):
    args, path = _saved(tmp_path)
    good = dict(window=np.zeros((1, 4, 3, 2), np.float32), index=np.zeros((1, 13)), latest=np.zeros((1, 5)),
                last_session=np.str_("2021-12-30"), volatility=np.float64(0.1), last_sp500=np.str_(""))
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbled":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "missing array":
        _rewrite(path, **{k: v for k, v in good.items() if k != "latest"})
    elif damage == "wrong shape":
        _rewrite(path, **{**good, "window": np.zeros((4, 3), np.float32)})
    elif damage == "text date":
        _rewrite(path, **{**good, "last_session": np.str_("not a date")})
    elif damage == "not finite":
        _rewrite(path, **{**good, "window": np.full((1, 4, 3, 2), np.nan, np.float32)})
    else:
        _rewrite(path, **{**good, "index": np.array([object()], dtype=object)})
    with caplog.at_level(logging.WARNING, logger="sensex.serving.window_cache"):
        assert window_cache.load(*args) is None
    assert not path.exists() and path.name in caplog.text


# -- the store: meta.json repaired from the data file; a damaged data file refused in one sentence ---
@pytest.fixture
def stored(home, market):
    store.write(home.store_dir, market[market["date"] >= "2021-06-01"], "synthetic")
    return home.store_dir


@pytest.mark.parametrize("content", [b"[]", b'"text"', b"5", b"null", b'{"rows": "many"}', b'{"content_hash": 5}',
                                     b'{"last_date": "yesterday"}', b'{"symbols": [1]}', b'{"data_file_stamp": "x"}',
                                     b'{"rows": NaN}', DEEP, b"\xff\xfe", b""])
def test_a_damaged_meta_json_is_rebuilt_from_the_data_file(stored, content):
    expected = store.read_meta(stored)
    (stored / store.META_FILE).write_bytes(content)
    assert store.read_meta(stored) == expected
    assert json.loads((stored / store.META_FILE).read_text())["content_hash"] == expected["content_hash"]
    assert store.problem(stored) is None


def _damage_data(store_dir, damage: str) -> None:
    path = store_dir / store.DATA_FILE
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbled":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "garbled inside":
        path.write_bytes(data[:8] + os.urandom(len(data) // 2) + data[8 + len(data) // 2:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a Parquet file, but not the store's
        pd.DataFrame({"x": [1, 2]}).to_parquet(path)


DATA_DAMAGE = ["truncated", "garbled", "garbled inside", "empty", "foreign"]


@pytest.mark.parametrize("damage", DATA_DAMAGE)
def test_a_damaged_data_file_is_refused_naming_the_file_and_what_to_do(stored, damage):
    _damage_data(stored, damage)
    with pytest.raises(NoStoreError) as error:
        store.read(stored)
    message = str(error.value)
    assert store.DATA_FILE in message and "restore" in message and "sensex data update" in message
    assert "\n" not in message
    assert store.DATA_FILE in (store.problem(stored) or "")
    for call in (store.read_meta, store.embedded_meta, store.read_or_empty):
        try:
            call(stored)
        except NoStoreError as exc:  # never an ArrowInvalid, an OSError or an AttributeError
            assert store.DATA_FILE in str(exc)
