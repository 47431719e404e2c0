"""Loading a folder of CSV files: one symbol per file (or per ticker column), per-file reports.

The symbol comes from the ticker line (or column) when there is one, otherwise from the file
name; Yahoo tickers (`RELIANCE.NS`, `RELIANCE.BO`, `M&M.NS`, `^BSESN`) and bare names (`MM`,
`M&M`, `BSESN`) are mapped to the universe's symbols by `symbol_lookup`. A symbol outside the
universe skips the file. Only files with a usable header and at least one good row are imported;
the others are rejected with a problem naming the file. Two files for one symbol: on shared dates
the rows of the later file (by name) are kept, and that is reported.

Context series (a file for a symbol that is not a member, such as the S&P 500 for the pre-open
mode) resolve like members once `symbol_lookup` is given their spellings through `extra`.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sensex.core.errors import DataSourceError
from sensex.data.sources.csvfiles.layout import (
    REQUIRED_FIELDS,
    Layout,
    Rejected,
    column_groups,
    detect_layout,
    head,
)
from sensex.data.sources.csvfiles.rows import (
    RowProblems,
    clean_rows,
    drop_unfinished_sessions,
    read_rows,
    resolve_duplicate_dates,
)
from sensex.market import calendar, context, exchanges
from sensex.market.schema import COLUMNS, canonicalize, empty_frame
from sensex.market.universe import Universe


@dataclass
class CsvImport:
    """What `load_directory` found: the good rows and every problem, by file and row."""

    frame: pd.DataFrame
    problems: list[dict] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    files_rejected: list[str] = field(default_factory=list)


def symbol_lookup(universe: Universe, extra: Mapping[str, Iterable[str]] | None = None) -> dict[str, str]:
    """Every spelling of a symbol that files use, upper-cased, to the symbol.

    `extra` maps further symbols (context series outside the universe) to their spellings.
    """
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
    for symbol, spellings in (extra or {}).items():
        for spelling in (symbol, *spellings):
            add(spelling, symbol)
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


def _file_symbol(path: Path, layout: Layout, lookup: dict[str, str], universe: Universe) -> str:
    """The file's symbol: its ticker line when it has one, else its name."""
    name = path.name
    if layout.tickers:
        ticker = next(iter(layout.tickers.values()))
        symbol = _resolve(ticker, lookup)
        if symbol is None:
            raise Rejected(
                f"{name}: ticker {ticker} is not in the {universe.name} universe, so the file is"
                " skipped; add it to the universe file to use it."
            )
        return symbol
    stem = _file_stem(path)
    symbol = _resolve(stem, lookup)
    if symbol is None:
        raise Rejected(
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


def last_completed_sessions(
    universe: Universe,
    context_series: Iterable[context.ContextSeries] = context.CONTEXT_SERIES,
    now: datetime | None = None,
) -> dict[str, pd.Timestamp]:
    """Per symbol, the last session of its own exchange whose daily bar is final by `now` (default:
    the market clock, `calendar.now_ist`): what the Yahoo and synthetic sources stop at too.
    A context series trades on its own exchange (the S&P 500 on NYSE, dated in New York)."""
    now = now or calendar.now_ist()
    members = exchanges.last_completed_session(universe.exchange, now)
    caps = {symbol: members for symbol in universe.all_symbols}
    for series in context_series:
        caps[series.symbol] = exchanges.last_completed_session(series.calendar, now)
    return caps


def load_file(
    path: Path, universe: Universe, lookup: dict[str, str], today: pd.Timestamp,
    last_completed: Mapping[str, pd.Timestamp] | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Good rows of one file with their symbol, and its problems; raises Rejected for an unusable file.

    `last_completed` (default: `last_completed_sessions` now) caps each symbol's dates: a row of a
    session that has not closed yet is refused, not stored as if it were that session's close.
    """
    name = path.name
    if last_completed is None:
        last_completed = last_completed_sessions(universe)
    try:
        first_lines = head(path)
    except (OSError, EOFError, zlib.error, csv.Error) as exc:  # unreadable, or a damaged .gz
        raise Rejected(
            f"{name} cannot be read ({type(exc).__name__}: {str(exc)[:120]}): check that it is a readable,"
            " complete file."
        ) from exc
    layout = detect_layout(first_lines, name)
    groups = column_groups(layout)
    single_symbol = None
    if None in groups and "ticker" not in layout.fields.values():
        single_symbol = _file_symbol(path, layout, lookup, universe)  # reject before reading

    try:
        raw, lines, bad_lines = read_rows(path, layout)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError, EOFError,
            zlib.error) as exc:  # OSError: a .gz damaged past its first lines
        raise Rejected(
            f"{name} is not a readable CSV file ({type(exc).__name__}: {str(exc)[:120]}): save it again as CSV."
        ) from exc
    not_blank = raw.notna().any(axis=1).to_numpy()
    total_rows = int(not_blank.sum()) + len(bad_lines)
    problems = RowProblems(name)
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
        rows = clean_rows(text, lines, considered, problems, today)
        if symbol is not None:
            rows["symbol"] = symbol
        else:
            rows = _symbols_from_column(rows, lookup, universe, name, file_problems)
        frames.append(rows)

    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not rows.empty:
        rows = drop_unfinished_sessions(rows, last_completed, problems)
    if not rows.empty:
        rows = resolve_duplicate_dates(rows, problems)
    file_problems.extend(problems.report(total_rows))
    if rows.empty:
        message = (
            f"{name} has a header but no rows: remove it or save the prices into it again."
            if total_rows == 0
            else f"{name} has no usable row ({total_rows} read, none kept): fix or re-download it."
        )
        raise Rejected(message, file_problems)
    return rows[COLUMNS], file_problems


def _load_one(
    path: Path, universe: Universe, lookup: dict[str, str], today: pd.Timestamp,
    last_completed: Mapping[str, pd.Timestamp],
) -> tuple[pd.DataFrame, list[dict]]:
    """`load_file`, with any surprise of one file turned into its rejection: never the others'."""
    try:
        return load_file(path, universe, lookup, today, last_completed)
    except (Rejected, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the others
        raise Rejected(
            f"{path.name} could not be imported ({type(exc).__name__}: {str(exc)[:120]}): fix or re-download it."
        ) from exc


def _is_data_file(path: Path) -> bool:
    lower = path.name.lower()
    return path.is_file() and not lower.startswith(".") and lower.endswith((".csv", ".csv.gz"))


def load_directory(
    directory: str | Path, universe: Universe, *, today: date | pd.Timestamp | None = None,
    context_series: Iterable[context.ContextSeries] = context.CONTEXT_SERIES,
    progress: Callable[[str, int | None, int | None], None] | None = None,
    now: datetime | None = None,
) -> CsvImport:
    """Import every CSV file of `directory`; bad rows and bad files are reported, not fatal.

    `now` (default: the market clock, `calendar.now_ist`) caps each symbol at the last session of
    its exchange completed by then (`last_completed_sessions`): a file saved during the session
    holds a row for it whose prices are not its close yet. `today` (default: `now`'s date in IST)
    bounds the dates accepted; it exists for tests.
    `context_series` are imported too, from their own files (`GSPC.csv` or `^GSPC.csv` for the S&P 500).
    `progress(description, done, total)` hears each file as it is read.
    Raises DataSourceError when the directory is missing or no file in it is usable.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataSourceError(
            f"CSV directory {directory} does not exist: pass --csv-dir (or SENSEX_CSV_DIR) with"
            " a folder of per-symbol CSV files such as RELIANCE.csv and BSESN.csv."
        )
    now = now or calendar.now_ist()
    today = pd.Timestamp(today if today is not None else now.astimezone(calendar.IST).date()).normalize()
    context_series = tuple(context_series)
    last_completed = last_completed_sessions(universe, context_series, now)
    lookup = symbol_lookup(universe, {series.symbol: (series.yahoo,) for series in context_series})
    result = CsvImport(frame=empty_frame())
    frames: list[pd.DataFrame] = []
    origins: list[str] = []
    paths = sorted(p for p in directory.iterdir() if _is_data_file(p))
    for done, path in enumerate(paths):
        if progress is not None:
            progress(f"Importing {path.name}", done, len(paths))
        try:
            rows, file_problems = _load_one(path, universe, lookup, today, last_completed)
        except Rejected as rejected:
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
