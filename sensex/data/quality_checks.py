"""The data-quality rules one by one: thresholds, what the project does about each kind of
finding, and the detectors that find them. `sensex.data.quality` assembles them into the
report and documents every rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sensex.market import context, exchanges
from sensex.market.schema import PRICE_COLUMNS

MIN_SESSIONS = 30
VALID_FRACTION = 25 / 30
LAG_SESSIONS = 30
STALE_STRETCH_SESSIONS = 5
EXTREME_MOVE = 0.40
SPLIT_FACTORS = (2.0, 3.0, 4.0, 5.0, 10.0, 1.5, 2.5)
SPLIT_TOLERANCE = 0.03
SPLIT_HOLD_SESSIONS = 10
SPLIT_HOLD_BAND = 0.25
HIGH_LOW_TOLERANCE = 1e-6

REPAIRED = "repaired"
EXCLUDES = "excludes"
WARNS = "warns"
ACTIONS = {
    "duplicates": REPAIRED,
    "non_monotonic_dates": REPAIRED,
    "filler_rows": REPAIRED,
    "missing_values": REPAIRED,
    "non_positive_prices": REPAIRED,
    "no_data": EXCLUDES,
    "insufficient_history": EXCLUDES,
    "lagging": EXCLUDES,
    "high_low_inconsistent": WARNS,
    "stale_stretch": WARNS,
    "extreme_move": WARNS,
    "split_like_move": WARNS,
    "missing_sessions": WARNS,
    "zero_volume_index": WARNS,
}


def thresholds() -> dict:
    return {
        "min_sessions": MIN_SESSIONS,
        "valid_fraction": round(VALID_FRACTION, 4),
        "lag_sessions": LAG_SESSIONS,
        "stale_stretch_sessions": STALE_STRETCH_SESSIONS,
        "extreme_move": EXTREME_MOVE,
        "split_factors": list(SPLIT_FACTORS),
        "split_tolerance": SPLIT_TOLERANCE,
        "split_hold_sessions": SPLIT_HOLD_SESSIONS,
        "split_hold_band": SPLIT_HOLD_BAND,
        "high_low_tolerance": HIGH_LOW_TOLERANCE,
        "actions": dict(ACTIONS),
    }


def iso(value: object) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else ("es" if word.endswith("ch") else "s"))


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


def filler_rows(frame: pd.DataFrame) -> pd.Series:
    return (
        (frame["volume"] == 0)
        & (frame["open"] == frame["high"])
        & (frame["high"] == frame["low"])
        & (frame["low"] == frame["close"])
    )


def unusable_rows(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Rows with a missing price, and rows with a zero or negative price."""
    prices = frame[PRICE_COLUMNS]
    return prices.isna().any(axis=1), (prices <= 0).any(axis=1)


def make_finding(kind: str, count: int, first: object, last: object, detail: str | None = None) -> dict:
    return {
        "kind": kind,
        "count": int(count),
        "first": iso(first),
        "last": iso(last),
        "action": ACTIONS[kind],
        "detail": detail,
    }


def per_symbol(
    issues: dict[str, list[dict]], kind: str, dates: pd.Series, symbols: pd.Series, detail=None
) -> None:
    """One finding per symbol for the rows where the mask held (dates/symbols already masked)."""
    if dates.empty:
        return
    summary = (
        pd.DataFrame({"symbol": symbols.to_numpy(), "date": dates.to_numpy()})
        .groupby("symbol")["date"]
        .agg(["size", "min", "max"])
    )
    for symbol, row in summary.iterrows():
        text = detail(symbol) if detail is not None else None
        issues.setdefault(symbol, []).append(
            make_finding(kind, row["size"], row["min"], row["max"], text)
        )


def stale_stretches(data: pd.DataFrame, issues: dict[str, list[dict]]) -> None:
    symbol, close = data["symbol"], data["close"]
    same = (symbol == symbol.shift()) & (close == close.shift())
    run = (~same).cumsum()
    length = run.map(run.value_counts())
    stale = length >= STALE_STRETCH_SESSIONS
    if not stale.any():
        return
    rows = data.loc[stale, ["symbol", "date"]].assign(run=run[stale])
    runs = rows.groupby("run").agg(
        symbol=("symbol", "first"),
        first=("date", "min"),
        last=("date", "max"),
        sessions=("date", "size"),
    )
    for name, group in runs.groupby("symbol"):
        longest = group.loc[group["sessions"].idxmax()]
        detail = (
            f"{plural(len(group), 'stretch')} of an unchanged close; the longest lasts"
            f" {longest['sessions']} rows ({iso(longest['first'])} to {iso(longest['last'])})."
        )
        issues.setdefault(name, []).append(
            make_finding(
                "stale_stretch",
                group["sessions"].sum(),
                group["first"].min(),
                group["last"].max(),
                detail,
            )
        )


def _holds(level: float, closes: np.ndarray) -> bool:
    return len(closes) > 0 and bool(np.all(np.abs(closes / level - 1.0) <= SPLIT_HOLD_BAND))


def _split_like(close: np.ndarray, at: int, start: int, end: int) -> bool:
    """A jump at row `at` (of a symbol's rows start..end-1) that a split explains.

    The ratio is near a simple factor, the old level held before it and the new level holds
    after it. With no rows on one side it cannot be told from an error, so it is not a split.
    """
    ratio = close[at] / close[at - 1]
    step = abs(math.log(max(ratio, 1.0 / ratio)))
    if not any(abs(step - math.log(f)) <= math.log1p(SPLIT_TOLERANCE) for f in SPLIT_FACTORS):
        return False
    before = close[max(start, at - 1 - SPLIT_HOLD_SESSIONS) : at - 1]
    after = close[at + 1 : min(end, at + 1 + SPLIT_HOLD_SESSIONS)]
    return _holds(close[at - 1], before) and _holds(close[at], after)


def extreme_moves(data: pd.DataFrame, issues: dict[str, list[dict]]) -> None:
    symbol = data["symbol"].to_numpy()
    close = data["close"].to_numpy(dtype=np.float64)
    dates = data["date"].to_numpy()
    same_symbol = np.zeros(len(data), dtype=bool)
    same_symbol[1:] = symbol[1:] == symbol[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.full(len(data), np.nan)
        change[1:] = close[1:] / close[:-1] - 1.0
    candidates = np.flatnonzero(same_symbol & (np.abs(change) > EXTREME_MOVE))
    if len(candidates) == 0:
        return
    # Rows are sorted by symbol, so a symbol's rows end where the next symbol starts.
    codes = pd.factorize(symbol)[0]
    starts = np.searchsorted(codes, codes[candidates], side="left")
    ends = np.searchsorted(codes, codes[candidates], side="right")
    split = np.array(
        [
            _split_like(close, at, start, end)
            for at, start, end in zip(candidates, starts, ends, strict=True)
        ],
        dtype=bool,
    )
    moves = pd.DataFrame(
        {"symbol": symbol[candidates], "date": dates[candidates], "change": change[candidates]}
    )
    for kind, chosen, why in (
        ("extreme_move", ~split, "which no split explains"),
        (
            "split_like_move",
            split,
            "a split-like ratio with both levels holding, so possibly an unadjusted split",
        ),
    ):
        found = moves[chosen]

        def detail(name: str, found: pd.DataFrame = found, why: str = why) -> str:
            own = found[found["symbol"] == name]
            worst = own.loc[own["change"].abs().idxmax()]
            return f"largest move {worst['change']:+.0%} on {iso(worst['date'])}, {why}."

        per_symbol(issues, kind, found["date"], found["symbol"], detail)


def missing_sessions(data: pd.DataFrame, issues: dict[str, list[dict]], exchange: str = "XBOM") -> np.ndarray:
    """Report calendar sessions without a row; returns the calendar (int64 ns) it used."""
    if data.empty:
        return np.array([], dtype=np.int64)
    days = exchanges.sessions(exchange, data["date"].min(), data["date"].max()).asi8
    for name, dates in data.groupby("symbol", sort=False)["date"]:
        stamps = dates.to_numpy().astype("datetime64[ns]").astype(np.int64)
        own = days
        if context.is_context(name):
            own = context.sessions(context.get(name), dates.min(), dates.max()).asi8
        lo, hi = np.searchsorted(own, [stamps[0], stamps[-1]])
        window = own[lo : hi + 1]
        missing = ~np.isin(window, stamps, assume_unique=True)
        if not missing.any():
            continue
        positions = np.flatnonzero(missing)
        breaks = np.flatnonzero(np.diff(positions) != 1)
        starts = np.concatenate([[0], breaks + 1])
        stops = np.concatenate([breaks, [len(positions) - 1]])
        longest = int(np.argmax(stops - starts))
        gap_from = pd.Timestamp(window[positions[starts[longest]]])
        gap_to = pd.Timestamp(window[positions[stops[longest]]])
        detail = (
            f"{plural(len(starts), 'gap')}; the longest is"
            f" {plural(int(stops[longest] - starts[longest] + 1), 'session')}"
            f" ({iso(gap_from)} to {iso(gap_to)})."
        )
        issues.setdefault(name, []).append(
            make_finding(
                "missing_sessions",
                missing.sum(),
                pd.Timestamp(window[positions[0]]),
                pd.Timestamp(window[positions[-1]]),
                detail,
            )
        )
    return days
