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

A file is read through `open_binary`, which bounds what one file may cost: at most
MAX_FILE_BYTES on disk and MAX_EXPANDED_BYTES once decompressed (a `.csv.gz` of 1 MB may expand
to gigabytes), and no field over MAX_FIELD_CHARS characters (prices, dates and tickers are short).
A file over a bound is rejected by name (`Rejected`); the other files import as usual.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

HEADER_SCAN_LINES = 6
MAX_FILE_BYTES = 64 * 1024 * 1024  # on disk; the largest real file (a 50-ticker batch since 1997) is ~20 MB
MAX_EXPANDED_BYTES = 64 * 1024 * 1024  # read from one file once decompressed
MAX_FIELD_CHARS = 4096  # one cell: a date, a price, a ticker, a column name
MAX_LINE_CHARS = 100_000  # one header line (under the csv module's own field limit, 131,072)
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


def field_too_long(name: str, where: str) -> Rejected:
    return Rejected(f"{name} has a field over {MAX_FIELD_CHARS:,} characters ({where}): it is not a price file;"
                    " remove it or save the prices into it again.")


class _Capped(io.RawIOBase):
    """The bytes of `raw`, refusing (Rejected) to deliver more than `cap` of them."""

    def __init__(self, raw, cap: int, name: str):
        self._raw, self._cap, self._name, self._read = raw, cap, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(min(len(buffer), self._cap + 1 - self._read))
        self._read += len(data)
        if self._read > self._cap:
            raise Rejected(f"{self._name} expands to more than {self._cap:,} bytes: it is not a price file, or one too"
                           " big to import; remove it or split it.")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def open_binary(path: Path) -> io.BufferedReader:
    """The file's bytes (decompressed for `.gz`), bounded by MAX_FILE_BYTES on disk and
    MAX_EXPANDED_BYTES read; raises Rejected past either."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise Rejected(f"{path.name} is {size:,} bytes, over the {MAX_FILE_BYTES:,} a price file may have: remove it or"
                       " split it.")
    compressed = path.name.lower().endswith(".gz")
    if compressed:
        _check_expanded(path)  # before anything is parsed: a bomb costs a pass over it, not its parse
    raw = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115 - closed by _Capped
    return io.BufferedReader(_Capped(raw, MAX_EXPANDED_BYTES, path.name))


def _check_expanded(path: Path, chunk: int = 1 << 20) -> None:
    """Decompress `path` without keeping it, refusing it (Rejected) past MAX_EXPANDED_BYTES."""
    with gzip.open(path, "rb") as handle, _Capped(handle, MAX_EXPANDED_BYTES, path.name) as capped:
        buffer = bytearray(chunk)
        while capped.readinto(buffer):
            pass


def open_text(path: Path) -> io.TextIOBase:
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors="replace", newline="")


def head(path: Path) -> list[list[str]]:
    """The first lines of a file, split as CSV; raises Rejected for a line or field over the limits."""
    rows = []
    with open_text(path) as handle:
        for number in range(1, HEADER_SCAN_LINES + 1):
            line = handle.readline(MAX_LINE_CHARS + 1)
            if not line:
                break
            if len(line) > MAX_LINE_CHARS:
                raise Rejected(f"{path.name} has a line over {MAX_LINE_CHARS:,} characters (line {number}): it is not a"
                               " price file; remove it or save the prices into it again.")
            cells = next(csv.reader([line]), [])
            if any(len(cell) > MAX_FIELD_CHARS for cell in cells):
                raise field_too_long(path.name, f"line {number}")
            rows.append(cells)
    return rows


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
