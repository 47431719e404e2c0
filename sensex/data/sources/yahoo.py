"""Yahoo Finance (yfinance) behind a small adapter that returns the canonical OHLCV frame.

yfinance rarely raises: offline or rate-limited, `yf.download` returns an empty frame, and a
ticker that failed inside a batch comes back as all-NaN columns (or not at all). So failure is
judged per symbol from the data itself, never from the absence of an exception.

The fetch is one batched download of every symbol first (cheap when Yahoo is healthy), then
per-symbol retries for what failed, on up to `max_workers` threads, with exponential backoff
and jitter (tenacity), all inside one bound on the total time. A hung request cannot be killed in Python,
so at the bound the adapter stops waiting for it and reports the symbol as failed.

yfinance is imported only inside the default downloader, so importing this module (and every
test, which injects a fake downloader) never needs the network or yfinance's import cost.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base

from sensex.core.errors import ConfigError, DataSourceError
from sensex.market import context
from sensex.market.schema import COLUMNS, canonicalize
from sensex.market.universe import Universe

log = logging.getLogger(__name__)

Downloader = Callable[..., pd.DataFrame]
"""Called like `yf.download(tickers, start=, end=, interval=, auto_adjust=, actions=,
group_by=, threads=, progress=)` and returning a frame in yfinance's shape."""

YAHOO_HOST = "query1.finance.yahoo.com"
YAHOO_PORT = 443
EXCHANGE_TIMEZONE = "Asia/Kolkata"
BACKOFF_BASE = 0.5  # seconds before the first retry; doubles each attempt
BACKOFF_CAP = 8.0
REQUEST_TIMEOUT = 10.0  # yfinance's per-request timeout in the default downloader

# yfinance's price field names -> canonical columns.
FIELDS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
OHLC = ["open", "high", "low", "close"]


@dataclass
class YahooFetch:
    frame: pd.DataFrame  # canonical frame; symbols are universe symbols, not Yahoo tickers
    failed: dict[str, str] = field(default_factory=dict)  # symbol -> one-line reason
    seconds: float = 0.0

    @property
    def symbols(self) -> list[str]:
        return sorted(self.frame["symbol"].unique().tolist()) if len(self.frame) else []


def is_reachable(timeout: float = 3.0, host: str = YAHOO_HOST, port: int = YAHOO_PORT) -> bool:
    """True when a TCP connection to Yahoo opens within `timeout` seconds; never raises.

    DNS resolution is not bounded by socket timeouts, so the whole attempt runs in a daemon
    thread that is abandoned at the bound.
    """
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except (OSError, ValueError, OverflowError):  # DNS failure, refusal, timeout, bad port
            outcome.append(False)

    try:
        worker = threading.Thread(target=attempt, name="yahoo-reachable", daemon=True)
        worker.start()
        worker.join(timeout)
    except Exception:  # noqa: BLE001 - the contract is "never raises"
        return False
    return bool(outcome and outcome[0])


def default_downloader(tickers, **kwargs) -> pd.DataFrame:
    """`yf.download` with its per-request timeout; yfinance is imported here and only here."""
    import yfinance as yf

    kwargs.setdefault("timeout", REQUEST_TIMEOUT)
    kwargs.setdefault("multi_level_index", True)
    return yf.download(tickers, **kwargs)


def fetch(
    universe: Universe,
    start: str | date | datetime | pd.Timestamp | None,
    end: str | date | datetime | pd.Timestamp | None,
    exchange: str = "BO",
    downloader: Downloader | None = None,
    max_workers: int = 10,
    retries: int = 3,
    total_timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    *,
    symbols: Iterable[str] | None = None,
    interval: str = "1d",
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> YahooFetch:
    """Daily OHLCV of the universe's members and index from Yahoo, `start` to `end` inclusive.

    `symbols` restricts the fetch to some universe symbols (default: all members + the index);
    it may also name context series (`sensex.market.context`, e.g. "SP500" for ^GSPC).
    Symbols that never delivered a row are in `failed` with a reason; raises DataSourceError
    when no symbol delivered anything.
    """
    began = clock()
    deadline = began + total_timeout
    download = downloader or default_downloader
    rng = rng or random.Random()
    wanted = list(dict.fromkeys(symbols)) if symbols is not None else universe.all_symbols
    unknown = sorted(set(wanted) - set(universe.all_symbols) - {c.symbol for c in context.CONTEXT_SERIES})
    if unknown:
        raise ConfigError(
            f"Symbols {unknown} are not in the {universe.name} universe: pass members of it "
            "or another --universe file."
        )
    # A context series keeps its own exchange's dates: its daily bars are stamped at local
    # midnight, which `_session_dates` (IST, ahead of New York) leaves on the same date.
    ticker_of = {
        symbol: context.get(symbol).yahoo if context.is_context(symbol) else universe.yahoo_symbol(symbol, exchange)
        for symbol in wanted
    }
    start_ts = _day(start)
    end_ts = _day(end)
    # yfinance's `end` is exclusive; ours is inclusive.
    request = {
        "start": None if start_ts is None else start_ts.strftime("%Y-%m-%d"),
        "end": None if end_ts is None else (end_ts + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
        "interval": interval,
        "auto_adjust": False,  # keep both Close and Adj Close
        "actions": False,
        "group_by": "column",
        "progress": False,
    }

    frames: dict[str, pd.DataFrame] = {}
    failed: dict[str, str] = {}
    try:
        batch = _within(
            deadline - clock(),
            lambda: download(list(ticker_of.values()), threads=True, **request),
        )
        frames, failed = _split(batch, ticker_of, start_ts, end_ts)
    except TimeoutError:
        reason = f"batch download did not finish within {total_timeout:g} s"
        failed = {symbol: reason for symbol in wanted}
    except Exception as error:  # noqa: BLE001 - yfinance raises anything; all mean "retry"
        reason = f"batch download failed: {_one_line(error)}"
        failed = {symbol: reason for symbol in wanted}
    if failed:
        log.info("Yahoo batch: %d of %d symbols failed; retrying them", len(failed), len(wanted))

    def download_one(symbol: str) -> pd.DataFrame:
        """One symbol alone; raises _NoRows with the reason when it delivers nothing."""
        result = download([ticker_of[symbol]], threads=False, **request)
        found, missing = _split(result, {symbol: ticker_of[symbol]}, start_ts, end_ts)
        if symbol not in found:
            raise _NoRows(missing[symbol])
        return found[symbol]

    if failed and retries > 0:
        policy = _RetryPolicy(retries=retries, deadline=deadline, sleep=sleep, clock=clock, rng=rng)
        retried, failed = _retry(failed, download_one, policy, max_workers)
        frames.update(retried)

    seconds = clock() - began
    if not frames:
        raise DataSourceError(
            f"Yahoo Finance returned no data for any of {len(wanted)} symbols: check the "
            "network, or use --source csv or --source synthetic."
        )
    frame = canonicalize(pd.concat(frames.values(), ignore_index=True))
    frame = frame.drop_duplicates(["symbol", "date"], keep="last").reset_index(drop=True)
    if failed:
        log.warning("Yahoo: no data for %s", ", ".join(sorted(failed)))
    return YahooFetch(frame=frame, failed=dict(sorted(failed.items())), seconds=seconds)


def _within(seconds: float, call: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Run `call` but stop waiting after `seconds` (TimeoutError); a hung call is abandoned."""
    if seconds <= 0:
        raise TimeoutError
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yahoo-batch")
    try:
        return pool.submit(call).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class _RetryPolicy:
    """How the per-symbol retries wait and when they stop; clock, sleep and rng are injectable for tests."""

    retries: int
    deadline: float  # on `clock`'s scale
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: random.Random


class _EqualJitter(wait_base):
    """"Equal jitter": half the exponential delay fixed, half random, so a crowd of symbols that
    failed together does not retry in lockstep. Draws from the injected rng (shared by threads)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lock = threading.Lock()

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (retry_state.attempt_number - 1))
        with self.lock:
            return delay / 2 + self.rng.uniform(0, delay / 2)


class _NoRows(Exception):
    """One attempt for one symbol delivered nothing; the message is the reason."""


def _retry_one(
    symbol: str, reason: str, attempt: Callable[[str], pd.DataFrame], policy: _RetryPolicy
) -> tuple[pd.DataFrame | None, str]:
    """One symbol's retries: (rows, "") or (None, the last reason and why the retries stopped)."""
    last_attempt = policy.retries + 1
    retrying = Retrying(
        # Attempt 1 is the batch download that already failed, so the first retry waits first.
        stop=stop_after_attempt(last_attempt)
        | (lambda state: policy.clock() + state.upcoming_sleep >= policy.deadline),
        wait=_EqualJitter(policy.rng),
        sleep=policy.sleep,
        retry=retry_if_exception_type(Exception),
        reraise=True,
    )
    number = 1
    try:
        for trial in retrying:
            with trial:
                number = trial.retry_state.attempt_number
                if number == 1:
                    raise _NoRows(reason)
                try:
                    return attempt(symbol), ""
                except _NoRows as nothing:
                    raise _NoRows(f"retry {number - 1}: {nothing}") from None
                except Exception as error:  # noqa: BLE001 - yfinance raises anything; all mean "retry"
                    raise _NoRows(f"retry {number - 1} failed: {_one_line(error)}") from None
    except _NoRows as last:
        if number < last_attempt:
            return None, f"{last} (gave up: total time bound reached)"
        return None, f"{last} (after {policy.retries} retries)"
    raise AssertionError("unreachable: with reraise=True the loop returns rows or raises _NoRows")


def _retry(
    failed: dict[str, str],
    attempt: Callable[[str], pd.DataFrame],
    policy: _RetryPolicy,
    max_workers: int,
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Per-symbol retries on a thread pool, all inside the deadline; returns (frames, still failed)."""
    frames: dict[str, pd.DataFrame] = {}
    still_failed: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="yahoo")
    try:
        pending = {pool.submit(_retry_one, symbol, reason, attempt, policy): symbol for symbol, reason in failed.items()}
        while pending:
            remaining = policy.deadline - policy.clock()
            if remaining <= 0:
                break
            done, _ = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for future in done:
                symbol = pending.pop(future)
                frame, reason = future.result()
                if frame is not None:
                    frames[symbol] = frame
                else:
                    still_failed[symbol] = reason
    finally:
        # Do not wait for a hung request: its thread finishes (or not) on its own.
        pool.shutdown(wait=False, cancel_futures=True)
    for symbol in failed:
        if symbol not in frames and symbol not in still_failed:
            still_failed[symbol] = f"{failed[symbol]} (gave up: total time bound reached)"
    return frames, still_failed


def _split(
    raw: pd.DataFrame | None,
    ticker_of: dict[str, str],
    start_ts: pd.Timestamp | None,
    end_ts: pd.Timestamp | None,
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """yfinance's frame -> {symbol: canonical rows} and {symbol: reason} for the rest."""
    tickers = list(ticker_of.values())
    rows, present = _long_form(raw, tickers)
    if len(rows):
        keep = rows[OHLC].notna().any(axis=1) & rows["date"].notna()
        if start_ts is not None:
            keep &= rows["date"] >= start_ts
        if end_ts is not None:
            keep &= rows["date"] <= end_ts
        rows = rows[keep]
    frames: dict[str, pd.DataFrame] = {}
    if len(rows):
        symbol_of = {ticker.upper(): symbol for symbol, ticker in ticker_of.items()}
        rows = rows.assign(symbol=rows["ticker"].map(symbol_of)).dropna(subset=["symbol"])
        frames = {
            str(symbol): group[COLUMNS].reset_index(drop=True)
            for symbol, group in rows.groupby("symbol", sort=False)
        }
    failed: dict[str, str] = {}
    for symbol, ticker in ticker_of.items():
        key = ticker.upper()  # yfinance upper-cases tickers
        if symbol in frames:
            continue
        if key in present:
            failed[symbol] = f"no rows for {ticker} (all values NaN)"
        elif raw is None or raw.empty:
            failed[symbol] = "empty response from Yahoo (offline or rate-limited)"
        else:
            failed[symbol] = f"{ticker} missing from Yahoo's response"
    return frames, failed


def _long_form(
    raw: pd.DataFrame | None,
    tickers: list[str],
    stamps: Callable[[pd.Index], pd.DatetimeIndex] | None = None,
) -> tuple[pd.DataFrame, set[str]]:
    """yfinance's wide frame -> one row per (date, ticker) with canonical price columns.

    `stamps` turns the frame's index into the `date` column: session dates by default; the
    intraday source (`sensex.data.sources.intraday`) keeps the bars' exchange-local times instead.

    Handles the default MultiIndex (Price, Ticker), group_by="ticker" (Ticker, Price), and the
    flat single-ticker frame of `multi_level_index=False`. Also returns the (upper-cased)
    tickers the response had columns for, rows or not.
    """
    nothing = (pd.DataFrame(columns=["date", "ticker", *FIELDS.values()]), set())
    if raw is None or not isinstance(raw, pd.DataFrame) or raw.shape[1] == 0:
        return nothing
    columns = raw.columns
    if isinstance(columns, pd.MultiIndex) and columns.nlevels == 2:
        first = {str(value) for value in columns.get_level_values(0)}
        price_level = 0 if first & set(FIELDS) else 1
        wide = raw.copy(deep=False)
        wide.columns = pd.MultiIndex.from_arrays(
            [
                columns.get_level_values(price_level).map(str),
                columns.get_level_values(1 - price_level).map(lambda t: str(t).upper()),
            ],
            names=["Price", "Ticker"],
        )
        wide = wide.loc[:, ~wide.columns.duplicated()]
        present = list(dict.fromkeys(wide.columns.get_level_values("Ticker")))
        if len(wide) == 0:
            return nothing[0], set(present)
        fields = set(wide.columns.get_level_values("Price"))
        blocks = {
            source: wide.xs(source, axis=1, level="Price").reindex(columns=present)
            for source in FIELDS
            if source in fields
        }
        dates = wide.index.repeat(len(present))  # date-major, like ravel()
        ticker_column = np.tile(np.asarray(present, dtype=object), len(wide))
    elif not isinstance(columns, pd.MultiIndex) and len(tickers) == 1:
        # A flat frame cannot say which ticker it belongs to unless only one was asked for.
        flat = raw.loc[:, ~pd.Index(columns).duplicated()]
        flat.columns = flat.columns.map(str)
        present = [tickers[0].upper()]
        blocks = {source: flat[[source]] for source in FIELDS if source in flat.columns}
        dates = flat.index
        ticker_column = np.repeat(np.asarray(present, dtype=object), len(flat))
    else:
        return nothing
    if "Close" not in blocks:
        return nothing
    out = pd.DataFrame({"date": (stamps or _session_dates)(pd.Index(dates)), "ticker": ticker_column})
    for source, target in FIELDS.items():
        out[target] = _numbers(blocks[source]).ravel() if source in blocks else np.nan
    if "Adj Close" not in blocks:
        # Only a downloader that ignored auto_adjust=False gets here.
        log.warning("Yahoo response has no Adj Close; using Close")
        out["adj_close"] = out["close"]
    return out, set(present)


def _numbers(block: pd.DataFrame) -> np.ndarray:
    """A (date x ticker) block as float64; anything unparsable becomes NaN."""
    try:
        return block.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)


def _session_dates(index: pd.Index) -> pd.DatetimeIndex:
    """Session dates as tz-naive midnights in the exchange's own time zone.

    A tz-aware index (yfinance with ignore_tz=False) is converted to IST before the time zone
    is dropped: taking the UTC date of an IST midnight would shift every row a day back.
    """
    dates = pd.DatetimeIndex(pd.to_datetime(index, errors="coerce"))
    if dates.tz is not None:
        dates = dates.tz_convert(EXCHANGE_TIMEZONE).tz_localize(None)
    return dates.normalize()


def _day(value) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(EXCHANGE_TIMEZONE).tz_localize(None)
    return stamp.normalize()


def _one_line(error: BaseException, limit: int = 200) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
