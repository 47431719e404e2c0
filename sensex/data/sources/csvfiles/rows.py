"""Row parsing and validation: typed rows of one file, every refused row reported by line.

Rows that cannot be trusted are refused and reported by file and line number (the 1-based line as
an editor shows it, header lines included): lines with too many fields as they are read, then each
row for the first check it fails, in this order: unparseable dates, unparseable or missing numbers,
dates after today, infinite numbers (`inf`, `-inf`, price or volume), zero or negative prices,
negative volumes, absurd prices; then, once each row has its symbol, dates after the last completed
session of the symbol's exchange (a file saved during the session, or before its bar settles an
hour after the close, holds prices that are not that session's close yet). At most
`MAX_ROW_PROBLEMS` rows are listed per file, followed by one line with the totals.

A price is absurd (a typo, a unit error, a corrupt export; nothing a market printed) when

- it is above `MAX_PRICE` (10 million): no Indian share or index has traded within two orders of
  magnitude of it (the SENSEX is near 80,000 and the dearest BSE share near 150,000 in 2024); or
- it is more than `ABSURD_FACTOR` (100) times above or below the median close of the nearest
  `LEVEL_ROWS` (21) rows of the same symbol by date, its own included (Adj Close against the
  median Adj Close), when the symbol has at least 3 rows (with 2, neither can be called wrong). A session moves a few percent, an unadjusted split up to 10x; the largest
  ratio in the 31 real files of ../shared/data/sensex-real is 11.5 (Yahoo's unadjusted filler
  rows, which `quality.repair` drops later).

Several rows for one date: when their closes agree within `DUPLICATE_TOLERANCE` (a factor 1.5) the
last one is kept (Yahoo appends revised rows); otherwise the one whose close is nearest the median
close of the `NEIGHBOURS` (5) rows on either side (other dates) is kept, the later one on a tie.
The other rows are reported.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sensex.data.sources.csvfiles.layout import MAX_FIELD_CHARS, Layout, field_too_long, open_binary
from sensex.market.schema import PRICE_COLUMNS

MAX_ROW_PROBLEMS = 20
MAX_PRICE = 1e7
ABSURD_FACTOR = 100.0
LEVEL_ROWS = 21
DUPLICATE_TOLERANCE = 1.5
NEIGHBOURS = 5
NEEDED = ["open", "high", "low", "close", "adj_close", "volume"]
FALLBACK_DATE_FORMATS = [
    "%d-%m-%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%m-%d-%Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
]
_BAD_LINE = re.compile(r"Skipping line (\d+)")


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates as tz-naive midnight Timestamps (local wall date); NaT where unparseable.

    Dates are ISO (`2021-12-31`, with or without a time or offset); files in another common format
    (`31-12-2021`, `31/12/2021`, `Dec 31, 2021`, ...) are read with the format that parses most
    rows, day-first before month-first when both fit (the Indian convention).
    """
    text = values.astype("string").str.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mixed offsets: handled just below
        try:
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        except ValueError:
            parsed = None
    if parsed is None or parsed.dtype == object:
        # Offsets that differ between rows: keep each row's own wall date.
        parsed = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    filled = text.notna()
    if filled.any() and parsed[filled].isna().mean() > 0.5:
        best, best_count = parsed, int(parsed.notna().sum())
        for date_format in FALLBACK_DATE_FORMATS:
            attempt = pd.to_datetime(text, format=date_format, errors="coerce")
            count = int(attempt.notna().sum())
            if count > best_count:
                best, best_count = attempt, count
        parsed = best
    return parsed.dt.normalize()


def read_rows(path: Path, layout: Layout) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """The data lines, their line numbers, and the lines with too many fields.

    Numeric columns are parsed by the C parser (the fast path); a column holding garbage comes
    back as text and is parsed by `_numbers`. Date and ticker columns stay text. The file is read
    through `open_binary` (its byte caps); a field over MAX_FIELD_CHARS rejects the file.
    """
    text_columns = {p: str for p, f in layout.fields.items() if f in ("date", "ticker")}
    with warnings.catch_warnings(record=True) as caught, open_binary(path) as handle:
        warnings.simplefilter("always")
        raw = pd.read_csv(
            handle,
            header=None,
            names=list(range(layout.width)),
            skiprows=layout.data_start,
            dtype=text_columns,
            thousands=",",
            skip_blank_lines=False,  # blank lines stay rows, so row i maps to a file line
            on_bad_lines="warn",
            engine="c",
            encoding="utf-8-sig",
            encoding_errors="replace",
        )
    for position in raw.columns:  # numbers parse short; only text can be long
        if not pd.api.types.is_object_dtype(raw[position]):
            continue
        lengths = raw[position].dropna().astype(str).str.len()
        if len(lengths) and lengths.max() > MAX_FIELD_CHARS:
            row = int(np.argmax(lengths.to_numpy() > MAX_FIELD_CHARS))
            raise field_too_long(path.name, f"data row {row + 1}, column {position + 1}")
    bad_lines = sorted(
        int(m.group(1)) for w in caught if (m := _BAD_LINE.search(str(w.message))) is not None
    )
    first_line = layout.data_start + 1
    candidates = np.arange(first_line, first_line + len(raw) + len(bad_lines))
    lines = np.setdiff1d(candidates, np.asarray(bad_lines, dtype=np.int64))[: len(raw)]
    return raw, lines, bad_lines


def _numbers(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(np.float64)
    text = values.astype("string").str.strip().str.replace(",", "", regex=False)
    return pd.to_numeric(text, errors="coerce").astype(np.float64)


def _shown(value: object) -> str:
    return "(empty)" if pd.isna(value) else repr(str(value).strip())


@dataclass
class RowProblems:
    """Row-level problems of one file, listed up to a cap and counted by reason."""

    name: str
    listed: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, lines: np.ndarray, reason: str, details: list[str] | str) -> None:
        """Rows at `lines` dropped for `reason`; `details` is one sentence per row or for all."""
        if len(lines) == 0:
            return
        self.counts[reason] = self.counts.get(reason, 0) + len(lines)
        room = max(MAX_ROW_PROBLEMS - len(self.listed), 0)
        for i, line in enumerate(lines[:room]):
            detail = details if isinstance(details, str) else details[i]
            self.listed.append({"file": self.name, "row": int(line), "problem": detail})

    def report(self, total_rows: int) -> list[dict]:
        if not self.counts:
            return []
        dropped = sum(self.counts.values())
        parts = ", ".join(f"{reason}: {count}" for reason, count in self.counts.items())
        more = dropped - len(self.listed)
        listed_note = f"; {more} of them not listed row by row" if more > 0 else ""
        summary = {
            "file": self.name,
            "row": None,
            "problem": (
                f"{self.name}: dropped {dropped} of {total_rows} rows ({parts}){listed_note};"
                " fix or re-download the file to keep them."
            ),
        }
        return [*self.listed, summary]


def _rolling_median(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rolling(LEVEL_ROWS, center=True, min_periods=1).median().to_numpy()


def _absurd_prices(
    numeric: dict[str, pd.Series],
    dates: pd.Series,
    tickers: pd.Series | None,
    keep: np.ndarray,
    lines: np.ndarray,
    problems: RowProblems,
) -> np.ndarray:
    """Rows (among `keep`) with an absurd price, reported; returns the mask of those rows."""
    prices = np.column_stack([numeric[f].to_numpy(dtype=np.float64) for f in PRICE_COLUMNS])
    too_high = keep & (prices > MAX_PRICE).any(axis=1)
    details = []
    for i in np.flatnonzero(too_high)[:MAX_ROW_PROBLEMS]:
        j = int(np.argmax(prices[i]))
        details.append(f"{PRICE_COLUMNS[j]} {prices[i, j]:.6g} is above {MAX_PRICE:,.0f}, a price no share or index trades at")
    problems.add(lines[too_high], "absurd prices", details)

    # The level of each remaining row: the median close (Adj Close) of the nearest rows by date,
    # per ticker when the file has a ticker column. Fewer than 3 rows cannot say which is wrong.
    considered = np.flatnonzero(keep & ~too_high)
    day = dates.to_numpy()[considered]
    group = np.zeros(len(considered)) if tickers is None else pd.factorize(tickers.to_numpy()[considered])[0]
    sort = np.lexsort((day, group))
    order, group = considered[sort], group[sort]
    close_at, adj_at = PRICE_COLUMNS.index("close"), PRICE_COLUMNS.index("adj_close")
    level = np.full((len(order), len(PRICE_COLUMNS)), np.nan)
    for g in np.unique(group):
        part = group == g
        if part.sum() >= 3:
            level[part] = _rolling_median(prices[order[part], close_at])[:, None]
            level[part, adj_at] = _rolling_median(prices[order[part], adj_at])
    distance = np.abs(np.log(prices[order] / level))
    far = np.nan_to_num(distance, nan=0.0).max(axis=1) > np.log(ABSURD_FACTOR)
    too_far = np.zeros(len(keep), dtype=bool)
    too_far[order[far]] = True
    rank = np.zeros(len(keep), dtype=np.int64)
    rank[order] = np.arange(len(order))  # file position -> position in `order`
    details = []
    for i in np.flatnonzero(too_far)[:MAX_ROW_PROBLEMS]:
        k = rank[i]
        j = int(np.nanargmax(distance[k]))
        value, reference = prices[i, j], level[k, j]
        times, direction = (value / reference, "above") if value > reference else (reference / value, "below")
        basis = "Adj Close" if PRICE_COLUMNS[j] == "adj_close" else "close"
        details.append(
            f"{PRICE_COLUMNS[j]} {value:.6g} is {times:,.0f} times {direction} the median {basis}"
            f" {reference:.6g} of the nearest {LEVEL_ROWS} rows"
        )
    problems.add(lines[too_far], "absurd prices", details)
    return too_high | too_far


def clean_rows(
    text: dict[str, pd.Series],
    lines: np.ndarray,
    keep: np.ndarray,
    problems: RowProblems,
    today: pd.Timestamp,
) -> pd.DataFrame:
    """Typed rows of one ticker's columns; untrustworthy rows are dropped and reported.

    `keep` marks the rows to consider (blank lines are already out); checks run in order and
    each row is reported once, for the first check it fails.
    """
    keep = keep.copy()
    dates = parse_dates(text["date"])
    numeric = {f: _numbers(v) for f, v in text.items() if f not in ("date", "ticker")}
    if "adj_close" not in numeric:
        numeric["adj_close"] = numeric["close"]

    bad_date = keep & dates.isna().to_numpy()
    problems.add(
        lines[bad_date],
        "unparseable dates",
        [f"date {_shown(v)} is not a date" for v in text["date"][bad_date][:MAX_ROW_PROBLEMS]],
    )
    keep &= ~bad_date

    missing = pd.DataFrame({f: numeric[f].isna() for f in NEEDED}).to_numpy()
    bad_number = keep & missing.any(axis=1)
    details = []
    for i in np.flatnonzero(bad_number)[:MAX_ROW_PROBLEMS]:
        # Only columns the file has: a derived Adj Close is not the file's fault.
        wrong = [
            f"{f} {_shown(text[f].iloc[i])}"
            for j, f in enumerate(NEEDED)
            if missing[i, j] and f in text
        ]
        details.append(f"{', '.join(wrong)} is not a number")
    problems.add(lines[bad_number], "unparseable or missing numbers", details)
    keep &= ~bad_number

    future = keep & (dates > today).to_numpy()
    problems.add(
        lines[future],
        "future dates",
        [
            f"date {d.date()} is after today ({today.date()})"
            for d in dates[future][:MAX_ROW_PROBLEMS]
        ],
    )
    keep &= ~future

    values = pd.DataFrame({f: numeric[f] for f in NEEDED})
    infinite = np.isinf(values.to_numpy())
    non_finite = keep & infinite.any(axis=1)
    problems.add(
        lines[non_finite],
        "infinite numbers",
        [
            f"{', '.join(f for j, f in enumerate(NEEDED) if infinite[i, j])} is infinite"
            for i in np.flatnonzero(non_finite)[:MAX_ROW_PROBLEMS]
        ],
    )
    keep &= ~non_finite

    prices = pd.DataFrame({f: numeric[f] for f in PRICE_COLUMNS}).to_numpy()
    non_positive = keep & (prices <= 0).any(axis=1)
    problems.add(lines[non_positive], "zero or negative prices", "a price is zero or negative")
    keep &= ~non_positive

    negative_volume = keep & (numeric["volume"] < 0).to_numpy()
    problems.add(lines[negative_volume], "negative volumes", "the volume is negative")
    keep &= ~negative_volume

    tickers = text["ticker"].str.strip() if "ticker" in text else None
    keep &= ~_absurd_prices(numeric, dates, tickers, keep, lines, problems)

    frame = pd.DataFrame({"date": dates, **{f: numeric[f] for f in NEEDED}})
    frame["line"] = lines
    if tickers is not None:
        frame["ticker"] = tickers
    return frame[keep]


def drop_unfinished_sessions(
    frame: pd.DataFrame, last_completed: Mapping[str, pd.Timestamp], problems: RowProblems
) -> pd.DataFrame:
    """Rows dated after their symbol's last completed session, dropped and reported: the other
    sources stop there too, and a stored intraday row would pass for the session's close (the
    store's freshness and the forecasts' labels would then rest on it). A symbol without an entry
    in `last_completed` is not capped here."""
    cap = frame["symbol"].map(last_completed)
    early = (frame["date"] > cap).to_numpy()  # no cap (NaT) compares False
    if not early.any():
        return frame
    problems.add(
        frame["line"].to_numpy()[early],
        "sessions not closed yet",
        [
            f"date {day.date()} is after the last completed session ({last.date()}), so its prices are not final;"
            " import the file again once that session has closed"
            for day, last in zip(frame["date"][early][:MAX_ROW_PROBLEMS], cap[early][:MAX_ROW_PROBLEMS], strict=True)
        ],
    )
    return frame[~early]


def resolve_duplicate_dates(frame: pd.DataFrame, problems: RowProblems) -> pd.DataFrame:
    """One row per (symbol, date); the rows not kept are reported (rule in the module docstring)."""
    duplicated = frame.duplicated(["symbol", "date"], keep=False).to_numpy()
    if not duplicated.any():
        return frame
    close, line = frame["close"].to_numpy(), frame["line"].to_numpy()
    # Per symbol, the dates and closes of the rows that are alone on their date: the neighbours.
    alone = frame[~duplicated].sort_values("date")
    neighbours = {
        symbol: (group["date"].to_numpy(), group["close"].to_numpy())
        for symbol, group in alone.groupby("symbol", sort=False)
    }
    empty = (np.array([], dtype="datetime64[ns]"), np.array([]))
    positions = np.flatnonzero(duplicated)
    drop = np.zeros(len(frame), dtype=bool)
    details: dict[int, str] = {}
    groups = frame.iloc[positions].groupby(["symbol", "date"], sort=True).indices
    for (symbol, day), members in groups.items():
        at = positions[members]  # in file order
        kept = at[-1]  # a revision: Yahoo appends revised rows, the last one wins
        nearer = None
        days, closes = neighbours.get(symbol, empty)
        where = np.searchsorted(days, np.datetime64(day))
        nearby = closes[max(where - NEIGHBOURS, 0) : where + NEIGHBOURS]
        if close[at].max() / close[at].min() > DUPLICATE_TOLERANCE and len(nearby):
            level = float(np.median(nearby))
            distance = np.abs(np.log(close[at] / level))
            kept = at[len(at) - 1 - int(np.argmin(distance[::-1]))]  # the later row on a tie
            nearer = (
                f"date {day.date()} appears more than once; the row at line {line[kept]} is kept: its close"
                f" {close[kept]:.6g} is nearer the neighbouring sessions' median close {level:.6g} than"
            )
        for position in at[at != kept]:
            drop[position] = True
            details[position] = (
                f"date {day.date()} appears again further down; the later row is kept"
                if nearer is None
                else f"{nearer} this row's {close[position]:.6g}"
            )
    dropped = np.flatnonzero(drop)
    problems.add(line[dropped], "duplicate dates", [details[i] for i in dropped[:MAX_ROW_PROBLEMS]])
    return frame[~drop]
