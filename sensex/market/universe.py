"""Index members as data: symbol, Yahoo symbols, name, sector, weight.

The default file holds today's SENSEX members (late 2024). Using today's members for past
dates is survivorship bias: backtests look better than a point-in-time universe would.
Optional `member_since` / `member_until` columns (YYYY-MM-DD) make the universe point-in-time:
outside those dates a member is masked as absent in the model's input. The shipped file leaves
them empty because we could not verify BSE's historical inclusion dates; fill them in where known.
Another index is another CSV with the same columns, passed as `--universe FILE` (or named in
`SENSEX_UNIVERSE`); `sensex` (the default) and `nifty50` ship with the package. Leading comment
lines describe the index itself, all optional (defaults: the SENSEX on BSE):

    # name: NIFTY50          -> the universe's name (default: the file's stem): ASCII letters,
                                digits, '-' and '_', words separated by single spaces, at most 40
    # index_symbol: NIFTY50  -> the index's symbol in the store
    # index_yahoo: ^NSEI     -> its Yahoo symbol
    # exchange: XNSE         -> the exchange_calendars calendar it trades on (`sensex.market.exchanges`)

Universes share one store keyed by symbol: a stock in two universes is stored once.

A universe's `key` (its registered models' names, log and cache labels, URLs) is its name lower-cased,
with spaces and '_' as '-'. The name is validated, never coerced: a name that cannot make a key
(`☃`, `a/b`) is refused with a sentence, so no universe ever falls back to another one's key.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

from sensex.core.errors import ConfigError
from sensex.market.schema import INDEX_SYMBOL

REQUIRED = ["symbol", "yahoo_bo", "yahoo_ns", "name", "sector", "weight"]
INDEX_YAHOO = "^BSESN"
DEFAULT_UNIVERSE = "sensex"
SHIPPED = {"sensex": "sensex_members.csv", "nifty50": "nifty50_members.csv"}  # name -> file in sensex/market/universes
HEADER_KEYS = ("name", "index_symbol", "index_yahoo", "exchange")
MAX_NAME_CHARS = 40
_NAME = re.compile(r"[A-Za-z0-9_-]+(?: [A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class Member:
    symbol: str
    yahoo_bo: str
    yahoo_ns: str
    name: str
    sector: str
    weight: float
    member_since: str | None = None  # first session in the index, when known
    member_until: str | None = None  # last session in the index, when known


@dataclass(frozen=True)
class Universe:
    name: str
    index_symbol: str
    index_yahoo: str
    members: tuple[Member, ...]
    exchange: str = "XBOM"  # exchange_calendars name of its exchange (`sensex.market.exchanges`)
    spec: str = DEFAULT_UNIVERSE  # what it was loaded from (a shipped name or a path): `--universe SPEC` again

    @property
    def key(self) -> str:
        """Lower-case name used in registered model names, tags and URLs (`sensex`, `nifty50`)."""
        return slug(self.name)

    @property
    def is_default(self) -> bool:
        return self.key == DEFAULT_UNIVERSE

    @property
    def yahoo_exchange(self) -> str:
        """Which of the members' Yahoo symbols to fetch: the NSE listing for an NSE index."""
        return "NS" if self.exchange == "XNSE" else "BO"

    @property
    def symbols(self) -> list[str]:
        """Member symbols in model order: grouped by sector, so convolutions see sector peers."""
        return [m.symbol for m in self.members]

    @property
    def all_symbols(self) -> list[str]:
        return self.symbols + [self.index_symbol]

    def membership(self) -> dict[str, tuple[str | None, str | None]]:
        """symbol -> (member_since, member_until) for members whose dates are known."""
        return {m.symbol: (m.member_since, m.member_until) for m in self.members
                if m.member_since or m.member_until}

    def sector_of(self, symbol: str) -> str:
        return next(m.sector for m in self.members if m.symbol == symbol)

    def yahoo_symbol(self, symbol: str, exchange: str = "BO") -> str:
        if symbol == self.index_symbol:
            return self.index_yahoo
        member = next(m for m in self.members if m.symbol == symbol)
        return member.yahoo_ns if exchange.upper() == "NS" else member.yahoo_bo


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a universe (in words that do not repeat it), or None."""
    if len(name) > MAX_NAME_CHARS:
        return f"is longer than {MAX_NAME_CHARS} characters"
    if not _NAME.fullmatch(name) or not re.search(r"[A-Za-z0-9]", name):
        return "is not ASCII letters, digits, '-' and '_' (words may be separated by single spaces)"
    return None


def slug(name: str) -> str:
    """The key of a valid universe name (`name_problem`); raises ConfigError for any other name."""
    problem = name_problem(name.strip())
    if problem is not None:
        raise ConfigError(f"The universe name {name.strip()[:MAX_NAME_CHARS]!r} {problem}: give the universe file a"
                          " `# name:` line such as `# name: MY_INDEX`.")
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")


def _read_header(path: Path) -> tuple[dict[str, str], int]:
    """`# key: value` lines before the CSV header (see the module's docstring), and how many
    comment lines there are (skipped by row count: a member's name may hold a '#')."""
    header: dict[str, str] = {}
    count = 0
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.startswith("#"):
                    break
                count += 1
                key, _, value = line[1:].partition(":")
                if key.strip().lower() in HEADER_KEYS and value.strip():
                    header[key.strip().lower()] = value.strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Universe file {path} is not UTF-8 text: save it as a UTF-8 CSV.") from exc
    return header, count


def resolve(spec: str | Path | None = None) -> tuple[Path, bool]:
    """The CSV file a universe spec names (a shipped name or a path) and whether it is shipped.
    None means `SENSEX_UNIVERSE`, itself defaulting to `sensex`."""
    if spec is None:
        from sensex.core.settings import get_settings  # leaf import, resolved at call time

        spec = get_settings().universe
    text = str(spec).strip()
    if text.lower() in SHIPPED:
        source = resources.files("sensex.market") / "universes" / SHIPPED[text.lower()]
        with resources.as_file(source) as path:
            return Path(path), True
    path = Path(text).expanduser()
    if path.is_file():
        return path, False
    if path.suffix or "/" in text or "\\" in text:
        raise ConfigError(f"Universe file {path} does not exist: pass a CSV with columns {REQUIRED}.")
    raise ConfigError(f"Unknown universe {text!r}: use one of {', '.join(SHIPPED)} or the path of a universe CSV file.")


def _read_rows(path: Path, comment_lines: int) -> list[dict[str, str]]:
    """The member rows as text, with the required columns checked (csv, not pandas: the model
    server loads a universe at start and never imports pandas on its forecast path)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for _ in range(comment_lines):
                next(handle)
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise ValueError("no header row")
            columns = list(reader.fieldnames)
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise ConfigError(f"Universe file lacks columns {missing}: it needs {REQUIRED}.")
            rows = []
            for number, row in enumerate(reader, start=comment_lines + 2):
                if None in row:  # more fields than the header names
                    raise ValueError(f"line {number} has {len(columns) + len(row[None])} fields, the header {len(columns)}")
                if not any((value or "").strip() for value in row.values()):
                    continue  # a blank line
                rows.append({key: (value or "") for key, value in row.items()})
            return rows
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"Universe file {path} is not a readable CSV ({str(exc).splitlines()[0]}): give it a"
                          f" header row {REQUIRED}.") from exc


def _membership_date(row: dict[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    if not value:
        return None
    try:
        return str(date.fromisoformat(value[:10] if len(value) > 10 and value[10] in " T" else value))
    except ValueError:
        raise ConfigError(f"Universe column {column} has a value that is not a date ({value!r}): use YYYY-MM-DD.") from None


def load_universe(spec: str | Path | None = None) -> Universe:
    """The universe `spec` names: `sensex`, `nifty50` or a CSV path; None: `SENSEX_UNIVERSE` (default `sensex`)."""
    from sensex.market.exchanges import check_exchange

    path, shipped = resolve(spec)
    header, comment_lines = _read_header(path)
    rows = _read_rows(path, comment_lines)
    name = header.get("name") or ("SENSEX" if shipped and path.name == SHIPPED["sensex"] else path.stem.upper())
    problem = name_problem(name)
    if problem is not None:
        told = "its `# name:` line" if header.get("name") else "its file name (the default name)"
        raise ConfigError(f"Universe file {path}: {told} {problem}: give it a `# name:` line such as"
                          " `# name: MY_INDEX`.")
    if not rows:
        raise ConfigError(f"Universe file {path} lists no members: add one row per member stock.")
    symbols = [row["symbol"] for row in rows]
    if len(set(symbols)) != len(symbols):
        raise ConfigError("Universe file lists a symbol twice: keep one row per member.")
    members = []
    for row in rows:
        try:
            weight = float(row["weight"])
        except ValueError:
            raise ConfigError(f"Universe file {path} gives {row['symbol']} the weight {row['weight']!r}: use a"
                              " number.") from None
        members.append(Member(symbol=row["symbol"], yahoo_bo=row["yahoo_bo"], yahoo_ns=row["yahoo_ns"],
                              name=row["name"], sector=row["sector"], weight=weight,
                              member_since=_membership_date(row, "member_since"),
                              member_until=_membership_date(row, "member_until")))
    members = tuple(sorted(members, key=lambda m: (m.sector, m.symbol)))  # model order: sector peers side by side
    index_symbol = header.get("index_symbol", INDEX_SYMBOL)
    if index_symbol in {m.symbol for m in members}:
        raise ConfigError(f"Universe file {path} uses {index_symbol} both as its index and as a member: rename one.")
    return Universe(name=name, index_symbol=index_symbol, index_yahoo=header.get("index_yahoo", INDEX_YAHOO),
                    members=members, exchange=check_exchange(header.get("exchange")),
                    spec=path.stem.removesuffix("_members") if shipped else str(path))
