"""From the canonical OHLCV frame to a panel: per-stock indicators, market context, label.

Everything here is causal: the value at session t uses rows up to t only (a test changes
rows after t and checks nothing at t moves). The label is the one deliberate look-ahead:
1 when the index's next stored session closes above session t, NaN on the last session.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sensex.core.errors import DataError
from sensex.features.indicators import STOCK_FEATURE_NAMES, compute_stock_features, ta
from sensex.market.schema import INDEX_SYMBOL
from sensex.market.universe import Universe

MARKET_FEATURE_NAMES = [
    "index_ret_1", "index_ret_5", "index_ret_20", "index_realized_vol_20",
    "index_rsi_14", "index_sma_ratio_50", "index_range",
    "breadth_advancing", "breadth_above_sma50", "dispersion", "turbulence",
]


@dataclass
class Panel:
    dates: pd.DatetimeIndex  # (D,) sessions on which the index closed
    symbols: list[str]  # (S,) members in model order
    stock: np.ndarray  # (D, S, F) indicators, NaN where undefined
    market: np.ndarray  # (D, M) market context
    available: np.ndarray  # (D, S) bool: member traded and all its indicators are defined
    index_close: np.ndarray  # (D,)
    label: np.ndarray  # (D,) 1.0 up next session, 0.0 not up, NaN unknown (last session)
    stock_feature_names: list[str]
    market_feature_names: list[str]
    index_symbol: str = INDEX_SYMBOL  # the series the label is about
    index_open: np.ndarray | None = None  # (D,) for the after-open label (`features.labels`)
    # Pre-open mode only (`features.overnight.add_overnight`): per session the target date, the
    # last S&P 500 session used and whether the S&P 500 closes it needs are all stored.
    overnight: pd.DataFrame | None = None
    mode: str = "close"  # `sensex.market.modes`: when a forecast from this panel is issued


PRICES = ("open", "high", "low", "close", "adj_close")


def _member_rows(ohlcv: pd.DataFrame) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Per symbol: its dates and OHLCV columns sorted by date, rows without a price dropped, one
    row per date (the last given). Symbols with fewer than two rows are left out."""
    codes, names = pd.factorize(ohlcv["symbol"])  # integer codes: sorting object strings is slow
    row_dates = ohlcv["date"].to_numpy()
    columns = {c: ohlcv[c].to_numpy(np.float64) for c in (*PRICES, "volume")}
    order = np.lexsort((np.arange(len(codes)), row_dates, codes))  # by symbol, then date, stable
    symbol = codes[order]
    row_dates = row_dates[order]
    columns = {c: v[order] for c, v in columns.items()}
    starts = np.flatnonzero(np.r_[True, symbol[1:] != symbol[:-1]]) if len(symbol) else np.array([], int)
    ends = np.r_[starts[1:], len(symbol)]
    out = {}
    for start, end in zip(starts, ends, strict=True):
        if end - start < 2:
            continue
        keep = np.ones(end - start, dtype=bool)
        for c in PRICES:
            keep &= ~np.isnan(columns[c][start:end])
        days = row_dates[start:end][keep]
        last_of_day = np.r_[days[1:] != days[:-1], True]  # the last row of each date
        out[names[symbol[start]]] = (days[last_of_day],
                                     {c: v[start:end][keep][last_of_day] for c, v in columns.items()})
    return out


def build_panel(ohlcv: pd.DataFrame, universe: Universe) -> Panel:
    index_rows = ohlcv[ohlcv["symbol"] == universe.index_symbol].sort_values("date")
    index_rows = index_rows.dropna(subset=["close"]).drop_duplicates("date", keep="last")
    if index_rows.empty:
        raise DataError(
            f"The store has no {universe.index_symbol} index rows: run `sensex data update` to fetch them."
        )
    dates = pd.DatetimeIndex(index_rows["date"].to_numpy())
    n_dates, symbols = len(dates), universe.symbols
    stored = set(ohlcv["symbol"].unique())
    missing = [s for s in symbols if s not in stored]
    if len(missing) == len(symbols):
        raise DataError("The store holds none of the universe's members: run `sensex data update`.")

    n_features = len(STOCK_FEATURE_NAMES)
    stock = np.full((n_dates, len(symbols), n_features), np.nan)  # (D, S, F)
    # Per member in numpy (a forecast builds this for every request without a cached window;
    # pandas' per-group sort, dropna and drop_duplicates cost more than the indicators).
    member_rows = _member_rows(ohlcv)
    panel_days = dates.values  # datetime64[ns], sorted and unique (drop_duplicates above)
    for j, symbol in enumerate(symbols):
        found = member_rows.get(symbol)
        if found is None:
            continue
        row_dates, series = found
        # Indicators run on the stock's own sessions, so a missing day is a gap, not a NaN that
        # TA-Lib's recursive averages would carry forward for ever.
        values = compute_stock_features(series)  # (n_rows, F)
        # Where each row sits among the (sorted, unique) index sessions; rows on other days are dropped.
        position = np.minimum(np.searchsorted(panel_days, row_dates), max(n_dates - 1, 0))
        on_panel = panel_days[position] == row_dates
        stock[position[on_panel], j, :] = values[on_panel]
    available = np.isfinite(stock).all(axis=2)  # (D, S)
    # A point-in-time universe: outside its index membership a stock counts as absent.
    for symbol, (since, until) in universe.membership().items():
        j = symbols.index(symbol)
        if since:
            available[dates < pd.Timestamp(since), j] = False
        if until:
            available[dates > pd.Timestamp(until), j] = False

    close = index_rows["close"].to_numpy(np.float64)
    high, low = index_rows["high"].to_numpy(np.float64), index_rows["low"].to_numpy(np.float64)
    log_close = np.log(close)
    ret_1 = np.concatenate([[np.nan], np.diff(log_close)])

    def lagged(n: int) -> np.ndarray:
        out = np.full(n_dates, np.nan)
        out[n:] = log_close[n:] - log_close[:-n]
        return out

    member_ret = np.where(available, stock[:, :, STOCK_FEATURE_NAMES.index("ret_1")], np.nan)
    member_sma50 = np.where(available, stock[:, :, STOCK_FEATURE_NAMES.index("sma_ratio_50")], np.nan)
    member_vol = np.where(available, stock[:, :, STOCK_FEATURE_NAMES.index("realized_vol_60")], np.nan)
    # Sessions where no member is available give NaN on purpose; numpy's warnings say the same.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counted = np.maximum(available.sum(axis=1), 1)
        any_available = available.any(axis=1)
        breadth_adv = np.where(any_available, np.nansum(member_ret > 0, axis=1) / counted, np.nan)
        breadth_sma = np.where(any_available, np.nansum(member_sma50 > 0, axis=1) / counted, np.nan)
        dispersion = np.where(any_available, np.nanstd(np.where(available, member_ret, np.nan), axis=1), np.nan)
        turbulence = np.where(any_available, np.nanmean((member_ret / member_vol) ** 2, axis=1), np.nan)
    market = np.column_stack([
        ret_1, lagged(5), lagged(20), ta.STDDEV(ret_1, timeperiod=20),
        ta.RSI(close, timeperiod=14) / 100.0 - 0.5,
        close / ta.SMA(close, timeperiod=50) - 1.0,
        (high - low) / close,
        breadth_adv - 0.5, breadth_sma - 0.5, dispersion, np.log1p(turbulence),
    ])  # (D, M)

    label = np.full(n_dates, np.nan)
    label[:-1] = (close[1:] > close[:-1]).astype(np.float64)
    return Panel(
        dates=dates, symbols=list(symbols), stock=stock, market=market, available=available,
        index_close=close, label=label, stock_feature_names=list(STOCK_FEATURE_NAMES),
        market_feature_names=list(MARKET_FEATURE_NAMES), index_symbol=universe.index_symbol,
        index_open=index_rows["open"].to_numpy(np.float64),
    )
