"""A directory of per-symbol CSV files, as saved by yfinance or written by hand.

Layouts read (the header is found by looking at the first few lines, never by file name):

- yfinance's two-line header: `Date,Close,High,Low,Open,Volume` then `,^BSESN,^BSESN,...`;
- yfinance's three-line header: `Price,Adj Close,Close,...` / `Ticker,RELIANCE.NS,...` /
  `Date,,,,,,` (the first column holds the dates even though it is headed `Price`);
- plain files: `Date,Open,High,Low,Close,Adj Close,Volume` in any order, names case-insensitive
  (`adj_close`, `Adj Close` and `AdjClose` are the same column), with or without a ticker line
  (`Ticker,RELIANCE.NS,...` or `Symbol,...`) just before or after the header;
- a `Symbol`/`Ticker` column, and yfinance's several-ticker files (the ticker line names a
  different ticker per column): rows are then split by ticker.

`Adj Close` is optional (it defaults to `Close`); Date, Open, High, Low, Close and Volume are
required. Dates are ISO (`2021-12-31`, with or without a time or offset); files in another
common format (`31-12-2021`, `31/12/2021`, `Dec 31, 2021`, ...) are read with the format that
parses most rows, day-first before month-first when both fit (the Indian convention).

The symbol comes from the ticker line (or column) when there is one, otherwise from the file
name; Yahoo tickers (`RELIANCE.NS`, `RELIANCE.BO`, `M&M.NS`, `^BSESN`) and bare names (`MM`,
`M&M`, `BSESN`) are mapped to the universe's symbols. A symbol outside the universe skips the file.

Rows that cannot be trusted are dropped and reported by file and line number (the 1-based line
as an editor shows it, header lines included): unparseable dates or numbers, missing values,
lines with too many fields, dates after today, zero or negative prices, negative volume and
duplicate dates (the last row of a date wins, as Yahoo appends revised rows). At most
`MAX_ROW_PROBLEMS` rows are listed per file, followed by one line with the totals. Only
files with a usable header and at least one good row are imported; the others are rejected
with a problem naming the file.
"""

from __future__ import annotations

import csv as csv_module
import gzip
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from sensex.errors import DataSourceError
from sensex.schema import COLUMNS, PRICE_COLUMNS, canonicalize, empty_frame
from sensex.universe import Universe

MAX_ROW_PROBLEMS = 20
HEADER_SCAN_LINES = 6
REQUIRED_FIELDS = ["date", "open", "high", "low", "close", "volume"]
FIELD_ALIASES = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
    "vol": "volume",
    "symbol": "ticker",
    "ticker": "ticker",
}
# First cells of the header line that head the date column in yfinance's layouts.
DATE_HEADINGS = {"price", "", "index", "unnamed0"}
TICKER_LINE_HEADINGS = {"ticker", "symbol", ""}
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


@dataclass
class CsvImport:
    """What `load_directory` found: the good rows and every problem, by file and row."""

    frame: pd.DataFrame
    problems: list[dict] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    files_rejected: list[str] = field(default_factory=list)


class _Rejected(Exception):
    """A whole file cannot be used; the message is the problem sentence."""


@dataclass
class _Layout:
    fields: dict[int, str]  # column position -> canonical field (or "ticker")
    tickers: dict[int, str]  # column position -> ticker from a ticker line
    data_start: int  # number of lines before the first data line
    width: int  # number of fields in the header line


def _normalize(cell: str) -> str:
    return re.sub(r"[^a-z0-9]", "", cell.strip().lower())


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def _head(path: Path) -> list[list[str]]:
    """The first lines of a file, split as CSV."""
    with _open_text(path) as handle:
        lines = []
        for _ in range(HEADER_SCAN_LINES):
            line = handle.readline()
            if not line:
                break
            lines.append(line)
    return [next(csv_module.reader([line]), []) for line in lines]


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return False
    return True


def _ticker_line(cells: list[str]) -> dict[int, str] | None:
    """Tickers by column when `cells` is a ticker line (`Ticker,X.NS,...` or `,^BSESN,...`)."""
    if not cells or _normalize(cells[0]) not in TICKER_LINE_HEADINGS:
        return None
    tickers = {i: c.strip() for i, c in enumerate(cells) if i > 0 and c.strip()}
    if not tickers or any(_is_number(t) for t in tickers.values()):
        return None
    return tickers


def _is_date_name_line(cells: list[str]) -> bool:
    """yfinance's third header line: `Date,,,,,,` (the name of the index column)."""
    return (
        bool(cells)
        and _normalize(cells[0]) in {"date", "datetime"}
        and not any(c.strip() for c in cells[1:])
    )


def _detect_layout(head: list[list[str]], name: str) -> _Layout:
    if not any(any(c.strip() for c in cells) for cells in head):
        raise _Rejected(f"{name} is empty: remove it or save the prices into it again.")
    header_at = None
    for position, cells in enumerate(head):
        names = {FIELD_ALIASES.get(_normalize(c)) for c in cells}
        if {"open", "high", "low", "close"} <= names or ("date" in names and "close" in names):
            header_at = position
            break
    if header_at is None:
        raise _Rejected(
            f"{name} has no header line with Date, Open, High, Low, Close and Volume columns:"
            " save it as yfinance does or as a plain Date,Open,High,Low,Close,Volume file."
        )
    header = head[header_at]
    fields: dict[int, str] = {}
    for position, cell in enumerate(header):
        canonical = FIELD_ALIASES.get(_normalize(cell))
        if canonical is not None and canonical not in fields.values():
            fields[position] = canonical
    if "date" not in fields.values() and _normalize(header[0]) in DATE_HEADINGS:
        fields[0] = "date"  # yfinance's `Price` (or an unnamed index) heads the date column
    missing = [f for f in REQUIRED_FIELDS if f not in fields.values()]
    if missing:
        found = [c.strip() for c in header if c.strip()]
        raise _Rejected(
            f"{name} lacks the columns {', '.join(missing)} (it has {', '.join(found)}):"
            " save it with Date, Open, High, Low, Close and Volume columns."
        )

    tickers: dict[int, str] = {}
    for cells in head[:header_at]:  # a ticker line may precede the header
        tickers = _ticker_line(cells) or tickers
    data_start = header_at + 1
    for cells in head[header_at + 1 :]:
        line_tickers = _ticker_line(cells)
        if line_tickers is not None:
            tickers = line_tickers
        elif not _is_date_name_line(cells):
            break
        data_start += 1
    if "ticker" in fields.values():
        tickers = {}  # a ticker column wins over a ticker line
    if len(set(tickers.values())) > 1:
        # Several tickers in one file (a yfinance batch download): a field may repeat per ticker.
        fields = {}
        for position, cell in enumerate(header):
            canonical = FIELD_ALIASES.get(_normalize(cell))
            if canonical is not None and canonical != "ticker":
                fields[position] = canonical
        if (
            _normalize(header[0]) in DATE_HEADINGS
            or FIELD_ALIASES.get(_normalize(header[0])) == "date"
        ):
            fields[0] = "date"
    return _Layout(fields=fields, tickers=tickers, data_start=data_start, width=len(header))


def _symbol_lookup(universe: Universe) -> dict[str, str]:
    """Every spelling of a universe symbol that files use, upper-cased, to the symbol."""
    lookup: dict[str, str] = {}

    def add(key: str, symbol: str) -> None:
        key = key.strip().upper()
        if key and key != "NAN":
            lookup.setdefault(key, symbol)
            lookup.setdefault(re.sub(r"[^A-Z0-9]", "", key), symbol)

    for member in universe.members:
        add(member.symbol, member.symbol)
        for yahoo in (member.yahoo_bo, member.yahoo_ns):
            add(yahoo, member.symbol)
            add(re.sub(r"\.(NS|BO)$", "", yahoo.upper()), member.symbol)
    add(universe.index_symbol, universe.index_symbol)
    add(universe.index_yahoo, universe.index_symbol)
    return lookup


def _resolve(name: str, lookup: dict[str, str]) -> str | None:
    key = name.strip().upper()
    for candidate in (key, re.sub(r"\.(NS|BO)$", "", key), re.sub(r"[^A-Z0-9]", "", key)):
        if candidate in lookup:
            return lookup[candidate]
    return None


def _file_stem(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _parse_dates(values: pd.Series) -> pd.Series:
    """Dates as tz-naive midnight Timestamps (local wall date); NaT where unparseable."""
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


def _read_rows(path: Path, layout: _Layout) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """The data lines, their line numbers, and the lines with too many fields.

    Numeric columns are parsed by the C parser (the fast path); a column holding garbage comes
    back as text and is parsed by `_numbers`. Date and ticker columns stay text.
    """
    text_columns = {p: str for p, f in layout.fields.items() if f in ("date", "ticker")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = pd.read_csv(
            path,
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
class _RowProblems:
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


NEEDED = ["open", "high", "low", "close", "adj_close", "volume"]


def _clean_rows(
    text: dict[str, pd.Series],
    lines: np.ndarray,
    keep: np.ndarray,
    problems: _RowProblems,
    today: pd.Timestamp,
) -> pd.DataFrame:
    """Typed rows of one ticker's columns; untrustworthy rows are dropped and reported.

    `keep` marks the rows to consider (blank lines are already out); checks run in order and
    each row is reported once, for the first check it fails.
    """
    keep = keep.copy()
    dates = _parse_dates(text["date"])
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

    prices = pd.DataFrame({f: numeric[f] for f in PRICE_COLUMNS}).to_numpy()
    non_positive = keep & (prices <= 0).any(axis=1)
    problems.add(lines[non_positive], "zero or negative prices", "a price is zero or negative")
    keep &= ~non_positive

    negative_volume = keep & (numeric["volume"] < 0).to_numpy()
    problems.add(lines[negative_volume], "negative volumes", "the volume is negative")
    keep &= ~negative_volume

    frame = pd.DataFrame({"date": dates, **{f: numeric[f] for f in NEEDED}})
    frame["line"] = lines
    if "ticker" in text:
        frame["ticker"] = text["ticker"].str.strip()
    return frame[keep]


def _drop_duplicate_dates(frame: pd.DataFrame, problems: _RowProblems) -> pd.DataFrame:
    duplicated = frame.duplicated(["symbol", "date"], keep="last").to_numpy()
    rows = frame[duplicated]
    problems.add(
        rows["line"].to_numpy(),
        "duplicate dates",
        [
            f"date {d.date()} appears again further down; the later row is kept"
            for d in rows["date"][:MAX_ROW_PROBLEMS]
        ],
    )
    return frame[~duplicated]


def _column_groups(layout: _Layout) -> dict[str | None, dict[str, int]]:
    """Columns by ticker for several-ticker files; the key None means the file's one symbol."""
    if len(set(layout.tickers.values())) <= 1:
        return {None: {f: p for p, f in layout.fields.items()}}
    date_position = next(p for p, f in layout.fields.items() if f == "date")
    groups: dict[str | None, dict[str, int]] = {}
    for position, canonical in layout.fields.items():
        ticker = layout.tickers.get(position)
        if canonical != "date" and ticker is not None:
            groups.setdefault(ticker, {"date": date_position})[canonical] = position
    return groups


def _load_file(
    path: Path, universe: Universe, lookup: dict[str, str], today: pd.Timestamp
) -> tuple[pd.DataFrame, list[dict]]:
    """Good rows of one file with their symbol; raises _Rejected for an unusable file."""
    name = path.name
    try:
        head = _head(path)
    except OSError as exc:
        raise _Rejected(
            f"{name} cannot be read ({exc}): check that it is a readable file."
        ) from exc
    layout = _detect_layout(head, name)
    groups = _column_groups(layout)
    single_symbol = None
    if None in groups and "ticker" not in layout.fields.values():
        single_symbol = _file_symbol(path, layout, lookup, universe)  # reject before reading

    try:
        raw, lines, bad_lines = _read_rows(path, layout)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _Rejected(
            f"{name} is not a readable CSV file ({exc}): save it again as CSV."
        ) from exc
    not_blank = raw.notna().any(axis=1).to_numpy()
    total_rows = int(not_blank.sum()) + len(bad_lines)
    problems = _RowProblems(name)
    problems.add(
        np.asarray(bad_lines), "lines with too many fields", "the line has too many fields"
    )
    file_problems: list[dict] = []

    frames = []
    for ticker, columns in groups.items():
        symbol = single_symbol
        if ticker is not None:
            symbol = _resolve(ticker, lookup)
            missing = [f for f in REQUIRED_FIELDS if f not in columns]
            if symbol is None or missing:
                why = (
                    f"is not in the {universe.name} universe (add it to the universe file to use it)"
                    if symbol is None
                    else f"lacks {', '.join(missing)}"
                )
                file_problems.append(
                    {
                        "file": name,
                        "row": None,
                        "problem": f"{name}: ticker {ticker} {why}, so its columns are skipped.",
                    }
                )
                continue
        text = {f: raw[p] for f, p in columns.items()}
        considered = not_blank
        if ticker is not None:
            # A batch download leaves a ticker's cells empty before its listing: not an error.
            values = raw[[p for f, p in columns.items() if f != "date"]]
            considered = not_blank & values.notna().any(axis=1).to_numpy()
        rows = _clean_rows(text, lines, considered, problems, today)
        if symbol is not None:
            rows["symbol"] = symbol
        else:
            rows = _symbols_from_column(rows, lookup, universe, name, file_problems)
        frames.append(rows)

    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not rows.empty:
        rows = _drop_duplicate_dates(rows, problems)
    file_problems.extend(problems.report(total_rows))
    if rows.empty:
        message = (
            f"{name} has a header but no rows: remove it or save the prices into it again."
            if total_rows == 0
            else f"{name} has no usable row ({total_rows} read, none kept): fix or re-download it."
        )
        raise _Rejected(message, file_problems)
    return rows[COLUMNS], file_problems


def _file_symbol(path: Path, layout: _Layout, lookup: dict[str, str], universe: Universe) -> str:
    """The file's symbol: its ticker line when it has one, else its name."""
    name = path.name
    if layout.tickers:
        ticker = next(iter(layout.tickers.values()))
        symbol = _resolve(ticker, lookup)
        if symbol is None:
            raise _Rejected(
                f"{name}: ticker {ticker} is not in the {universe.name} universe, so the file is"
                " skipped; add it to the universe file to use it."
            )
        return symbol
    stem = _file_stem(path)
    symbol = _resolve(stem, lookup)
    if symbol is None:
        raise _Rejected(
            f"{name}: {stem} is not a symbol of the {universe.name} universe, so the file is"
            " skipped; rename it after a member (e.g. RELIANCE.csv) or add a ticker line."
        )
    return symbol


def _symbols_from_column(
    rows: pd.DataFrame,
    lookup: dict[str, str],
    universe: Universe,
    name: str,
    file_problems: list[dict],
) -> pd.DataFrame:
    tickers = rows["ticker"].unique()
    mapping = {t: _resolve(t, lookup) for t in tickers}
    unknown = sorted(t for t, s in mapping.items() if s is None)
    if unknown:
        dropped = int(rows["ticker"].isin(unknown).sum())
        file_problems.append(
            {
                "file": name,
                "row": None,
                "problem": (
                    f"{name}: {dropped} rows of {', '.join(unknown[:5])} are skipped because"
                    f" they are not in the {universe.name} universe."
                ),
            }
        )
    rows = rows.assign(symbol=rows["ticker"].map(mapping))
    return rows[rows["symbol"].notna()]


def _is_data_file(path: Path) -> bool:
    lower = path.name.lower()
    return path.is_file() and not lower.startswith(".") and lower.endswith((".csv", ".csv.gz"))


def load_directory(
    directory: str | Path, universe: Universe, *, today: date | pd.Timestamp | None = None,
    progress: Callable[[str, int | None, int | None], None] | None = None,
) -> CsvImport:
    """Import every CSV file of `directory`; bad rows and bad files are reported, not fatal.

    `today` (default: the local date) bounds the dates accepted; it exists for tests.
    `progress(description, done, total)` hears each file as it is read.
    Raises DataSourceError when the directory is missing or no file in it is usable.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataSourceError(
            f"CSV directory {directory} does not exist: pass --csv-dir (or SENSEX_CSV_DIR) with"
            " a folder of per-symbol CSV files such as RELIANCE.csv and BSESN.csv."
        )
    today = pd.Timestamp(today if today is not None else date.today()).normalize()
    lookup = _symbol_lookup(universe)
    result = CsvImport(frame=empty_frame())
    frames: list[pd.DataFrame] = []
    origins: list[str] = []
    paths = sorted(p for p in directory.iterdir() if _is_data_file(p))
    for done, path in enumerate(paths):
        if progress is not None:
            progress(f"Importing {path.name}", done, len(paths))
        try:
            rows, file_problems = _load_file(path, universe, lookup, today)
        except _Rejected as rejected:
            message = rejected.args[0]
            earlier = rejected.args[1] if len(rejected.args) > 1 else []
            result.problems.extend(earlier)
            result.problems.append({"file": path.name, "row": None, "problem": message})
            result.files_rejected.append(path.name)
            continue
        result.problems.extend(file_problems)
        result.files_read.append(path.name)
        frames.append(rows)
        origins.append(path.name)
    if progress is not None:
        progress(f"Imported {len(paths)} CSV files", len(paths), len(paths))

    if not frames:
        rejected = len(result.files_rejected)
        first = (
            f" ({rejected} rejected; first: {result.problems[-1]['problem'].rstrip('.')})"
            if rejected
            else ""
        )
        raise DataSourceError(
            f"No usable CSV file in {directory}{first}: add per-symbol files with Date, Open,"
            " High, Low, Close and Volume columns."
        )
    combined = pd.concat(
        [f.assign(_file=o) for f, o in zip(frames, origins, strict=True)], ignore_index=True
    )
    shared = combined.duplicated(["symbol", "date"], keep=False)
    if shared.any():
        for symbol, group in combined[shared].groupby("symbol"):
            files = sorted(group["_file"].unique())
            result.problems.append(
                {
                    "file": files[-1],
                    "row": None,
                    "problem": (
                        f"{symbol} has rows for the same dates in {', '.join(files)};"
                        f" rows from {files[-1]} are kept, so keep one file per symbol."
                    ),
                }
            )
        combined = combined.drop_duplicates(["symbol", "date"], keep="last")
    result.frame = canonicalize(combined.drop(columns="_file"))
    return result
