"""The Yahoo adapter against a fake yfinance that returns frames in yfinance's exact shape.

`yf_download_frame` rebuilds what `yfinance.multi._download_impl` (yfinance 1.x) returns for
`group_by="column"`: per-ticker `Ticker.history` frames (columns Open, High, Low, Close,
Adj Close, Volume; DatetimeIndex "Date" in the exchange's time zone), a failed ticker as
all-NaN columns, every ticker reindexed onto the union of dates, concatenated under
keys=tickers with names ["Ticker", "Price"], levels swapped and sorted so the columns are a
MultiIndex Price x Ticker. `test_fake_matches_real_yfinance_assembly` checks that claim against
the installed yfinance by running its real `download` with only the HTTP part replaced.
Nothing here touches the network.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from sensex.core.errors import ConfigError, DataSourceError
from sensex.data.sources import yahoo
from sensex.market.schema import COLUMNS
from sensex.market.universe import load_universe

IST = "Asia/Kolkata"
SESSIONS = pd.bdate_range("2024-01-01", "2024-01-12")  # 10 weekdays
PRICE_FIELDS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]


@pytest.fixture(scope="module")
def universe():
    return load_universe("sensex")  # module-scoped: set up before the autouse fixture clears SENSEX_UNIVERSE


@pytest.fixture(scope="module")
def history(universe):
    """Ticker.history-style frames (tz-aware IST, as yfinance returns them) for every .BO/.NS."""
    frames = {}
    for number, symbol in enumerate(universe.all_symbols):
        for exchange in ("BO", "NS"):
            ticker = universe.yahoo_symbol(symbol, exchange)
            frames[ticker.upper()] = _history_frame(100.0 + 10 * number, seed=number)
    return frames


def _history_frame(level: float, seed: int, sessions=SESSIONS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))
    index = pd.DatetimeIndex(sessions).tz_localize(IST)
    index.name = "Date"
    return pd.DataFrame(
        {
            "Open": close * 0.995,
            "High": close * 1.01,
            "Low": close * 0.99,
            "Close": close,
            "Adj Close": close * 0.98,  # dividends: adjusted differs from raw
            "Volume": rng.integers(1_000, 100_000, len(sessions)),
        },
        index=index,
    )


def _empty_history() -> pd.DataFrame:
    """yfinance.utils.empty_df(): what a failed ticker contributes to a batch."""
    empty = pd.DataFrame(index=[], data={c: np.nan for c in PRICE_FIELDS})
    empty.index.name = "Date"
    return empty


def yf_download_frame(per_ticker: dict[str, pd.DataFrame | None], ignore_tz: bool = True):
    """The frame `yf.download(list(per_ticker), group_by="column")` returns; None = failed."""
    dfs = {
        ticker.upper(): (_empty_history() if df is None else df.copy())
        for ticker, df in per_ticker.items()
    }
    if ignore_tz:
        for df in dfs.values():
            if not df.empty:
                df.index = df.index.tz_localize(None)
    index = None
    for df in dfs.values():
        if not df.empty:
            index = df.index if index is None else index.union(df.index)
    if index is None:
        index = pd.DatetimeIndex([])
    dfs = {ticker: df.reindex(index) for ticker, df in dfs.items()}
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    data.columns = data.columns.swaplevel(0, 1)
    data.sort_index(level=0, axis=1, inplace=True)
    return data


class FakeYahoo:
    """A scripted `yf.download`.

    `plan[ticker]` lists the outcome of each successive call that includes the ticker:
    "ok" (rows), "nan" (all-NaN columns), "missing" (absent from the response), "raise" (the
    whole call raises), "empty" (the whole call returns an empty DataFrame). After the list
    runs out, the last outcome repeats; tickers without a plan are always "ok".
    """

    def __init__(self, history, plan=None, ignore_tz=True, edit=None):
        self.history = history
        self.plan = {k.upper(): list(v) for k, v in (plan or {}).items()}
        self.ignore_tz = ignore_tz
        self.edit = edit  # optional (ticker, frame) -> frame to inject NaN rows and the like
        self.calls: list[tuple[list[str], dict]] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def _outcome(self, ticker: str) -> str:
        steps = self.plan.get(ticker, ["ok"])
        with self._lock:
            n = self._seen.get(ticker, 0)
            self._seen[ticker] = n + 1
        return steps[min(n, len(steps) - 1)]

    def __call__(
        self,
        tickers,
        start=None,
        end=None,
        interval="1d",
        auto_adjust=True,
        actions=False,
        group_by="column",
        threads=True,
        progress=True,
    ):
        with self._lock:
            kwargs = {
                "start": start,
                "end": end,
                "interval": interval,
                "auto_adjust": auto_adjust,
                "actions": actions,
                "group_by": group_by,
                "threads": threads,
                "progress": progress,
            }
            self.calls.append((list(tickers), kwargs))
        outcomes = {t.upper(): self._outcome(t.upper()) for t in tickers}
        if "raise" in outcomes.values():
            raise ConnectionError("Failed to perform, curl: (6) Could not resolve host")
        if set(outcomes.values()) == {"empty"}:
            return pd.DataFrame()
        per_ticker = {}
        for ticker, outcome in outcomes.items():
            if outcome == "missing":
                continue
            if outcome in ("nan", "empty"):
                per_ticker[ticker] = None
                continue
            frame = self.history[ticker]
            local = frame.index.tz_convert(IST).tz_localize(None)  # yfinance filters in IST
            keep = np.ones(len(frame), dtype=bool)
            if start is not None:
                keep &= local >= pd.Timestamp(start)
            if end is not None:
                keep &= local < pd.Timestamp(end)  # yfinance's end is exclusive
            frame = frame[keep]
            if self.edit is not None:
                frame = self.edit(ticker, frame.copy())
            per_ticker[ticker] = frame
        return yf_download_frame(per_ticker, ignore_tz=self.ignore_tz)


def _fetch(universe, fake, **kwargs):
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    kwargs.setdefault("rng", random.Random(7))
    result = yahoo.fetch(universe, "2024-01-01", "2024-01-12", downloader=fake, **kwargs)
    return result, sleeps


def test_one_batch_returns_canonical_frame_with_universe_symbols(universe, history):
    fake = FakeYahoo(history)
    result, sleeps = _fetch(universe, fake)

    assert len(fake.calls) == 1 and sleeps == []
    tickers, kwargs = fake.calls[0]
    assert (
        len(tickers) == 31
        and "^BSESN" in tickers
        and all(t.endswith(".BO") for t in tickers if t != "^BSESN")
    )
    assert kwargs["auto_adjust"] is False and kwargs["group_by"] == "column"
    assert kwargs["start"] == "2024-01-01" and kwargs["end"] == "2024-01-13"  # end inclusive
    assert result.failed == {}
    frame = result.frame
    assert list(frame.columns) == COLUMNS
    assert sorted(frame["symbol"].unique()) == sorted(universe.all_symbols)
    assert len(frame) == 31 * len(SESSIONS)
    assert frame["date"].dt.tz is None
    assert set(frame["date"]) == set(SESSIONS)
    assert not frame.duplicated(["symbol", "date"]).any()
    reliance = frame[frame["symbol"] == "RELIANCE"].set_index("date")
    source = history["RELIANCE.BO"]
    np.testing.assert_allclose(reliance["close"].values, source["Close"].values)
    np.testing.assert_allclose(reliance["adj_close"].values, source["Adj Close"].values)
    np.testing.assert_allclose(reliance["volume"].values, source["Volume"].values)
    assert result.seconds >= 0


def test_ns_exchange_asks_for_ns_tickers(universe, history):
    fake = FakeYahoo(history)
    result, _ = _fetch(universe, fake, exchange="NS")
    tickers, _ = fake.calls[0]
    assert all(t.endswith(".NS") for t in tickers if t != "^BSESN")
    assert "RELIANCE" in set(result.frame["symbol"])


def test_missing_and_nan_tickers_are_retried_one_by_one(universe, history):
    plan = {"TCS.BO": ["missing", "ok"], "INFY.BO": ["nan", "nan", "ok"], "^BSESN": ["nan", "ok"]}
    fake = FakeYahoo(history, plan)
    result, sleeps = _fetch(universe, fake)

    assert result.failed == {}
    assert {"TCS", "INFY", "SENSEX"} <= set(result.frame["symbol"])
    assert len(result.frame) == 31 * len(SESSIONS)
    retries = fake.calls[1:]
    assert all(len(tickers) == 1 and kw["threads"] is False for tickers, kw in retries)
    assert sorted(t[0] for t, _ in retries) == ["INFY.BO", "INFY.BO", "TCS.BO", "^BSESN"]
    assert len(sleeps) == 4


def test_a_symbol_that_never_answers_is_reported_and_the_rest_kept(universe, history):
    symbol = universe.symbols[0]
    ticker = universe.yahoo_symbol(symbol)
    fake = FakeYahoo(history, {ticker: ["nan"]})
    result, sleeps = _fetch(universe, fake, retries=3)

    assert list(result.failed) == [symbol]
    assert "after 3 retries" in result.failed[symbol]
    assert "\n" not in result.failed[symbol]
    assert symbol not in set(result.frame["symbol"])
    assert len(result.frame["symbol"].unique()) == 30
    assert sum(1 for tickers, _ in fake.calls if tickers == [ticker]) == 3
    assert len(sleeps) == 3


def test_a_symbol_whose_downloads_raise_reports_the_last_error(universe, history):
    fake = FakeYahoo(history, {"TCS.BO": ["raise"]})  # the batch and every retry of TCS raise
    result, sleeps = _fetch(universe, fake, retries=2)
    assert list(result.failed) == ["TCS"]
    assert result.failed["TCS"].startswith("retry 2 failed: ConnectionError: Failed to perform")
    assert result.failed["TCS"].endswith("(after 2 retries)")
    assert len(result.frame["symbol"].unique()) == 30
    assert sum(1 for tickers, _ in fake.calls if tickers == ["TCS.BO"]) == 2


def test_backoff_is_exponential_with_jitter(universe, history):
    ticker = universe.yahoo_symbol(universe.symbols[0])
    fake = FakeYahoo(history, {ticker: ["nan"]})
    _, sleeps = _fetch(universe, fake, retries=4)
    assert len(sleeps) == 4
    for attempt, delay in enumerate(sleeps):
        full = min(yahoo.BACKOFF_CAP, yahoo.BACKOFF_BASE * 2**attempt)
        assert full / 2 <= delay <= full
    _, other = _fetch(
        universe, FakeYahoo(history, {ticker: ["nan"]}), retries=4, rng=random.Random(8)
    )
    assert other != sleeps  # jitter: different draws, not lockstep


def test_batch_exception_falls_back_to_per_symbol_downloads(universe, history):
    # The batch includes every ticker; "raise" on RELIANCE's first call fails the whole batch.
    fake = FakeYahoo(history, {"RELIANCE.BO": ["raise", "ok"]})
    result, _ = _fetch(universe, fake)
    assert result.failed == {}
    assert len(fake.calls) == 1 + 31
    assert len(result.frame["symbol"].unique()) == 31


def test_empty_batch_then_recovery(universe, history):
    plan = {t: ["empty", "ok"] for t in (universe.yahoo_symbol(s) for s in universe.all_symbols)}
    fake = FakeYahoo(history, plan)
    result, _ = _fetch(universe, fake)
    assert result.failed == {}
    assert len(result.frame) == 31 * len(SESSIONS)


def test_everything_empty_raises_a_clear_error(universe, history):
    plan = {t: ["empty"] for t in (universe.yahoo_symbol(s) for s in universe.all_symbols)}
    fake = FakeYahoo(history, plan)
    with pytest.raises(DataSourceError, match="no data for any") as raised:
        _fetch(universe, fake)
    message = str(raised.value)
    assert "network" in message and "synthetic" in message and "\n" not in message


@pytest.mark.parametrize("response", [pd.DataFrame(), None, yf_download_frame({"A.BO": None})])
def test_empty_shapes_count_as_failures(universe, response):
    def downloader(tickers, **_):
        return response

    with pytest.raises(DataSourceError):
        yahoo.fetch(
            universe, "2024-01-01", "2024-01-12", downloader=downloader, sleep=lambda _: None
        )


def test_every_call_raising_raises_data_source_error(universe):
    def downloader(tickers, **_):
        raise TimeoutError("Read timed out")

    with pytest.raises(DataSourceError):
        yahoo.fetch(
            universe,
            "2024-01-01",
            "2024-01-12",
            downloader=downloader,
            sleep=lambda _: None,
            retries=2,
        )


def test_rows_with_nan(universe, history):
    day_all_nan, day_no_volume, day_no_close = SESSIONS[2], SESSIONS[4], SESSIONS[6]

    def edit(ticker, frame):
        local = frame.index.tz_localize(None)
        if ticker == "RELIANCE.BO":
            frame.loc[local == day_all_nan, PRICE_FIELDS] = np.nan
            frame.loc[local == day_no_volume, "Volume"] = np.nan
            frame.loc[local == day_no_close, ["Close", "Adj Close"]] = np.nan
        return frame

    result, _ = _fetch(universe, FakeYahoo(history, edit=edit))
    reliance = result.frame[result.frame["symbol"] == "RELIANCE"].set_index("date")
    assert day_all_nan not in reliance.index  # OHLC all NaN: the row is dropped
    assert len(reliance) == len(SESSIONS) - 1
    assert np.isnan(reliance.loc[day_no_volume, "volume"])  # kept: only volume missing
    assert np.isnan(reliance.loc[day_no_close, "close"])  # kept: open/high/low present
    # Other symbols keep every session even though the batch's union index is shared.
    tcs = result.frame[result.frame["symbol"] == "TCS"]
    assert len(tcs) == len(SESSIONS)


def test_ragged_histories_do_not_invent_rows(universe, history):
    """A late-listed symbol gets NaN rows for early dates in the batch; they must not survive."""
    ticker = universe.yahoo_symbol(universe.symbols[3])

    def edit(t, frame):
        return frame.iloc[5:] if t == ticker else frame

    result, _ = _fetch(universe, FakeYahoo(history, edit=edit))
    late = result.frame[result.frame["symbol"] == universe.symbols[3]]
    assert list(late["date"]) == list(SESSIONS[5:])


@pytest.mark.parametrize("tz", [IST, "UTC"])
def test_tz_aware_index_keeps_the_session_date(universe, history, tz):
    converted = {}
    for ticker, frame in history.items():
        frame = frame.copy()
        frame.index = frame.index.tz_convert(tz)  # UTC: 18:30 of the previous day
        converted[ticker] = frame
    fake = FakeYahoo(converted, ignore_tz=False)
    sample = fake(["TCS.BO"], start="2024-01-01", end="2024-01-13")
    assert sample.index.tz is not None  # the fake really is tz-aware
    result, _ = _fetch(universe, fake)
    assert result.failed == {}
    assert set(result.frame["date"]) == set(SESSIONS)
    assert result.frame["date"].dt.tz is None


def test_dates_outside_the_request_are_dropped(universe, history):
    def sloppy(tickers, **kwargs):  # ignores start/end like a misbehaving proxy would
        return yf_download_frame({t: history[t.upper()] for t in tickers})

    result = yahoo.fetch(
        universe, "2024-01-03", "2024-01-09", downloader=sloppy, sleep=lambda _: None
    )
    assert result.frame["date"].min() == pd.Timestamp("2024-01-03")
    assert result.frame["date"].max() == pd.Timestamp("2024-01-09")


def test_symbols_subset(universe, history):
    fake = FakeYahoo(history)
    result, _ = _fetch(universe, fake, symbols=["SENSEX", "TCS"])
    assert fake.calls[0][0] == ["^BSESN", "TCS.BO"]
    assert sorted(result.frame["symbol"].unique()) == ["SENSEX", "TCS"]


def test_unknown_symbols_are_a_config_error(universe, history):
    with pytest.raises(ConfigError, match="NOTAMEMBER"):
        _fetch(universe, FakeYahoo(history), symbols=["TCS", "NOTAMEMBER"])


def test_other_yfinance_shapes(universe, history):
    """group_by="ticker" (Ticker x Price) and the flat frame of multi_level_index=False."""

    def by_ticker(tickers, **kwargs):
        frame = yf_download_frame({t: history[t.upper()] for t in tickers})
        frame.columns = frame.columns.swaplevel(0, 1)
        return frame.sort_index(axis=1)

    result = yahoo.fetch(
        universe, "2024-01-01", "2024-01-12", downloader=by_ticker, sleep=lambda _: None
    )
    assert result.failed == {} and len(result.frame) == 31 * len(SESSIONS)

    def flat(tickers, **kwargs):
        frame = yf_download_frame({t: history[t.upper()] for t in tickers})
        if len(tickers) > 1:
            return pd.DataFrame()  # force per-symbol retries, which return flat frames
        return frame.droplevel(1, axis=1).rename_axis(None, axis=1)

    result = yahoo.fetch(
        universe, "2024-01-01", "2024-01-12", downloader=flat, sleep=lambda _: None
    )
    assert result.failed == {} and len(result.frame) == 31 * len(SESSIONS)


def test_total_time_is_bounded(universe, history):
    """With a fake clock that only sleeping advances, retries stop at the bound."""
    now = [0.0]
    lock = threading.Lock()

    def sleep(seconds):
        with lock:
            now[0] += seconds

    plan = {t: ["nan"] for t in (universe.yahoo_symbol(s) for s in universe.symbols[:20])}
    fake = FakeYahoo(history, plan)
    result = yahoo.fetch(
        universe,
        "2024-01-01",
        "2024-01-12",
        downloader=fake,
        sleep=sleep,
        clock=lambda: now[0],
        total_timeout=3.0,
        retries=10,
        max_workers=10,
        rng=random.Random(1),
    )
    assert len(result.failed) == 20
    assert all("time bound" in reason for reason in result.failed.values())
    assert len(fake.calls) < 1 + 20 * 10  # far fewer than the unbounded retry count


def test_a_hung_downloader_is_abandoned_at_the_bound(universe, history):
    release = threading.Event()

    def hung(tickers, **kwargs):
        release.wait(5)
        return pd.DataFrame()

    try:
        with pytest.raises(DataSourceError):
            yahoo.fetch(
                universe,
                "2024-01-01",
                "2024-01-12",
                downloader=hung,
                total_timeout=0.2,
                sleep=lambda _: None,
            )
    finally:
        release.set()


def test_parallel_retries_use_at_most_max_workers_threads(universe, history):
    active = [0]
    peak = [0]
    lock = threading.Lock()
    base = FakeYahoo(
        history,
        {t: ["nan", "ok"] for t in (universe.yahoo_symbol(s) for s in universe.all_symbols)},
    )
    gate = threading.Barrier(4, timeout=2)
    started = [0]

    def downloader(tickers, **kwargs):
        if len(tickers) == 1:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                started[0] += 1
                first_wave = started[0] <= 4
            try:
                if first_wave:
                    gate.wait()  # proves that 4 retries really do run at the same time
                return base(tickers, **kwargs)
            finally:
                with lock:
                    active[0] -= 1
        return base(tickers, **kwargs)

    result = yahoo.fetch(
        universe,
        "2024-01-01",
        "2024-01-12",
        downloader=downloader,
        sleep=lambda _: None,
        max_workers=4,
    )
    assert result.failed == {}
    assert peak[0] == 4


def test_fake_matches_real_yfinance_assembly(universe, history, monkeypatch):
    """Run the installed yfinance's real `download` with only its per-ticker HTTP fetch replaced."""
    multi = pytest.importorskip("yfinance.multi")
    if not hasattr(multi, "_download_one"):
        pytest.skip("this yfinance version has no multi._download_one to replace")
    failing = {"TCS.BO"}

    def download_one(ctx, ticker, start=None, end=None, *args, **kwargs):
        frame = history[ticker.upper()]
        local = frame.index.tz_localize(None)
        frame = frame[(local >= pd.Timestamp(start)) & (local < pd.Timestamp(end))]
        with ctx.lock:
            ctx.dfs[ticker.upper()] = (
                _empty_history() if ticker.upper() in failing else frame.copy()
            )
        return frame

    monkeypatch.setattr(multi, "_download_one", download_one)
    tickers = [universe.yahoo_symbol(s) for s in universe.all_symbols]
    request = {
        "start": "2024-01-01",
        "end": "2024-01-13",
        "interval": "1d",
        "auto_adjust": False,
        "actions": False,
        "group_by": "column",
        "progress": False,
    }
    real = yahoo.default_downloader(tickers, threads=False, **request)
    fake = yf_download_frame({t: (None if t in failing else history[t.upper()]) for t in tickers})
    assert real.columns.names == ["Price", "Ticker"]
    pd.testing.assert_frame_equal(real, fake, check_freq=False)

    result = yahoo.fetch(
        universe,
        "2024-01-01",
        "2024-01-12",
        downloader=yahoo.default_downloader,
        sleep=lambda _: None,
    )
    assert list(result.failed) == ["TCS"]
    assert len(result.frame) == 30 * len(SESSIONS)


class TestReachability:
    def test_listening_port_is_reachable(self):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        try:
            assert yahoo.is_reachable(1.0, host="127.0.0.1", port=server.getsockname()[1])
        finally:
            server.close()

    def test_closed_port_is_not_reachable(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        assert yahoo.is_reachable(1.0, host="127.0.0.1", port=port) is False

    def test_dns_failure_is_not_reachable(self, monkeypatch):
        def no_dns(*args, **kwargs):
            raise socket.gaierror(-3, "Temporary failure in name resolution")

        monkeypatch.setattr(yahoo.socket, "create_connection", no_dns)
        assert yahoo.is_reachable(0.5) is False

    def test_a_hanging_resolver_is_bounded(self, monkeypatch):
        release = threading.Event()

        def hang(*args, **kwargs):
            release.wait(5)
            raise OSError("late")

        monkeypatch.setattr(yahoo.socket, "create_connection", hang)
        try:
            assert yahoo.is_reachable(0.1) is False
        finally:
            release.set()

    def test_nonsense_never_raises(self):
        assert yahoo.is_reachable(0.2, host="", port=-1) is False


def test_importing_the_adapter_does_not_import_yfinance():
    code = "import sys, sensex.data.sources.yahoo; sys.exit(1 if 'yfinance' in sys.modules else 0)"
    done = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
    assert done.returncode == 0
