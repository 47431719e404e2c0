"""Header layout detection: which line is the header, which column holds which field, which ticker.

The header is found by looking at the first few lines, never by file name:

- yfinance's two-line header: `Date,Close,High,Low,Open,Volume` then `,^BSESN,^BSESN,...`;
- yfinance's three-line header: `Price,Adj Close,Close,...` / `Ticker,RELIANCE.NS,...` /
  `Date,,,,,,` (the first column holds the dates even though it is headed `Price`);
- plain files: `Date,Open,High,Low,Close,Adj Close,Volume` in any order, names case-insensitive
  (`adj_close`, `Adj Close` and `AdjClose` are the same column), with or without a ticker line
  (`Ticker,RELIANCE.NS,...` or `Symbol,...`) just before or after the header;
- a `Symbol`/`Ticker` column, and yfinance's several-ticker files (the ticker line names a
  different ticker per column): rows are then split by ticker.

`Adj Close` is optional (it defaults to `Close`); Date, Open, High, Low, Close and Volume are required.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

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


class Rejected(Exception):
    """A whole file cannot be used: args[0] is the problem sentence, args[1] (optional) the
    row problems found before the file was given up."""


@dataclass
class Layout:
    fields: dict[int, str]  # column position -> canonical field (or "ticker")
    tickers: dict[int, str]  # column position -> ticker from a ticker line
    data_start: int  # number of lines before the first data line
    width: int  # number of fields in the header line


def _normalize(cell: str) -> str:
    return re.sub(r"[^a-z0-9]", "", cell.strip().lower())


def open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def head(path: Path) -> list[list[str]]:
    """The first lines of a file, split as CSV."""
    with open_text(path) as handle:
        lines = []
        for _ in range(HEADER_SCAN_LINES):
            line = handle.readline()
            if not line:
                break
            lines.append(line)
    return [next(csv.reader([line]), []) for line in lines]


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


def detect_layout(head: list[list[str]], name: str) -> Layout:
    """The layout of a file from its first lines; raises Rejected when it has no usable header."""
    if not any(any(c.strip() for c in cells) for cells in head):
        raise Rejected(f"{name} is empty: remove it or save the prices into it again.")
    header_at = None
    for position, cells in enumerate(head):
        names = {FIELD_ALIASES.get(_normalize(c)) for c in cells}
        if {"open", "high", "low", "close"} <= names or ("date" in names and "close" in names):
            header_at = position
            break
    if header_at is None:
        raise Rejected(
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
        raise Rejected(
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
    return Layout(fields=fields, tickers=tickers, data_start=data_start, width=len(header))


def column_groups(layout: Layout) -> dict[str | None, dict[str, int]]:
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
