"""Recorded yfinance intraday frames, written small and by hand (no network), and a downloader
that plays them back: for the live-quote tests, the API and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sensex.market.universe import load_universe

UNIVERSE = load_universe()
FIELDS = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]


def yf_frame(days: dict[str, int], level: dict[str, float], drift: float = 0.001, drop: tuple[str, ...] = (),
             nan_today: tuple[str, ...] = (), tz: str = "Asia/Kolkata") -> pd.DataFrame:
    """A frame shaped like `yf.download(tickers, period=..., interval="5m", group_by="column")`:
    columns (Price, Ticker), index of bar start times. `days` maps a date to its number of bars
    from 09:15; each ticker starts at `level[ticker]` (1000 by default) and moves by `drift` a bar,
    so the last day's change is known; `drop` leaves symbols out, `nan_today` blanks them on the last day."""
    tickers = [UNIVERSE.yahoo_symbol(s) for s in UNIVERSE.all_symbols if s not in drop]
    nan_today = tuple(UNIVERSE.yahoo_symbol(s) for s in nan_today)
    stamps = [pd.date_range(f"{day} 09:15", periods=n, freq="5min", tz="Asia/Kolkata") for day, n in days.items()]
    index = stamps[0].append(stamps[1:]).tz_convert(tz) if len(stamps) > 1 else stamps[0].tz_convert(tz)
    index.name = "Datetime"
    steps = np.arange(len(index))
    columns = pd.MultiIndex.from_product([FIELDS, tickers], names=["Price", "Ticker"])
    frame = pd.DataFrame(index=index, columns=columns, dtype=float)
    last_day = str(max(days))
    for ticker in tickers:
        path = level.get(ticker, 1000.0) * (1 + drift) ** steps
        for field in FIELDS:
            frame[(field, ticker)] = 0.0 if field == "Volume" else path
        if ticker in nan_today:
            frame.loc[frame.index.tz_convert("Asia/Kolkata").date == pd.Timestamp(last_day).date(), (slice(None), ticker)] = np.nan
    return frame


class Recorded:
    """A downloader that plays a recorded frame back and counts the calls."""

    def __init__(self, frame: pd.DataFrame | None):
        self.frame = frame
        self.calls: list[dict] = []

    def __call__(self, tickers, **kwargs):
        self.calls.append({"tickers": tickers, **kwargs})
        if isinstance(self.frame, Exception):
            raise self.frame
        return pd.DataFrame() if self.frame is None else self.frame


