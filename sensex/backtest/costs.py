"""What each fill costs, from a YAML file of dated figures (`costs.yaml` beside this module).

Every figure is a schedule of `{from, value, source}` entries: the value in force on a fill's date
is the last entry whose `from` is on or before it, so a backtest over 2012-2025 pays STT on
futures at 0.01% until 31 March 2023, 0.0125% until 30 September 2024 and 0.02% after. A file
with a figure missing, negative, not a number, unsourced, or out of date order is refused with one
sentence (`ConfigError`), before any price is read.

Charges of one fill of traded value V (rupees) on day d:
  brokerage   min(brokerage_rupees, brokerage_cap_pct% x V)  (a cap of 0 means no cap)
  STT         stt_buy_pct% or stt_sell_pct% of V
  exchange    exchange_txn_pct% of V
  SEBI fee    sebi_fee_pct% of V
  stamp duty  stamp_buy_pct% or stamp_sell_pct% of V
  DP charge   dp_charge_rupees on a sell
  GST         gst_pct% of (brokerage + exchange + SEBI fee + DP charge)
Slippage is separate: the fill price is the reference price moved `slippage_bps` against the trader.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from sensex.core.errors import ConfigError

DEFAULT_COSTS = Path(__file__).with_name("costs.yaml")
CHARGE_FIGURES = ("brokerage_rupees", "brokerage_cap_pct", "stt_buy_pct", "stt_sell_pct", "exchange_txn_pct",
                  "sebi_fee_pct", "stamp_buy_pct", "stamp_sell_pct", "dp_charge_rupees", "gst_pct")
INSTRUMENT_FIGURES = ("lot_size", "slippage_bps")
CHARGE_KINDS = ("brokerage", "stt", "exchange", "sebi_fee", "stamp_duty", "dp_charge", "gst")
# Close mode carries positions overnight (delivery); a pre-open trade opens and closes in one session.
CARRY, INTRADAY = "delivery", "intraday"
STYLES = (CARRY, INTRADAY)
KINDS = ("futures", "etf")


@dataclass(frozen=True)
class Schedule:
    """One figure over time: `values[k]` is in force from `starts[k]` until `starts[k + 1]`."""

    name: str  # "futures stt_sell_pct", for messages
    starts: np.ndarray  # datetime64[D], increasing
    values: np.ndarray  # float64
    sources: tuple[str, ...]
    file: str = ""
    _memo: dict = field(default_factory=dict, compare=False, repr=False)  # day -> value: a backtest asks ~100k times

    def at(self, day) -> float:
        day64 = np.datetime64(day, "D")
        value = self._memo.get(day64)
        if value is None:
            k = bisect.bisect_right(self.starts.tolist(), day64.item()) - 1
            if k < 0:
                raise ConfigError(f"The costs file {self.file} has no {self.name} in force on {day64} (its first"
                                  f" entry starts {self.starts[0]}): add an entry from an earlier date.")
            value = self._memo[day64] = float(self.values[k])
        return value

    def zeroed(self) -> Schedule:
        return replace(self, values=np.zeros_like(self.values), sources=tuple("zero costs" for _ in self.sources),
                       _memo={})

    def to_list(self) -> list[dict]:
        return [{"from": str(s), "value": float(v), "source": src}
                for s, v, src in zip(self.starts, self.values, self.sources, strict=True)]


@dataclass(frozen=True)
class Tariff:
    """The charges of one style of trade (delivery or intraday)."""

    figures: dict[str, Schedule]

    def charges(self, day, buy: bool, value: float) -> dict[str, float]:
        """Rupees of each charge kind for one fill of traded value `value` (rupees) on `day`."""
        if value <= 0:
            return dict.fromkeys(CHARGE_KINDS, 0.0)
        f = {name: schedule.at(day) for name, schedule in self.figures.items()}
        cap = f["brokerage_cap_pct"] / 100 * value
        brokerage = min(f["brokerage_rupees"], cap) if f["brokerage_cap_pct"] > 0 else f["brokerage_rupees"]
        exchange = f["exchange_txn_pct"] / 100 * value
        sebi = f["sebi_fee_pct"] / 100 * value
        dp = 0.0 if buy else f["dp_charge_rupees"]
        return {
            "brokerage": brokerage,
            "stt": (f["stt_buy_pct"] if buy else f["stt_sell_pct"]) / 100 * value,
            "exchange": exchange,
            "sebi_fee": sebi,
            "stamp_duty": (f["stamp_buy_pct"] if buy else f["stamp_sell_pct"]) / 100 * value,
            "dp_charge": dp,
            "gst": f["gst_pct"] / 100 * (brokerage + exchange + sebi + dp),
        }


@dataclass(frozen=True)
class Instrument:
    key: str
    name: str
    kind: str  # futures | etf
    short_selling: bool
    lot_size: Schedule
    slippage_bps: Schedule
    price_ratio: Schedule  # price of one unit / the index level
    tariffs: dict[str, Tariff]  # style -> charges (futures: the same for both)
    rolls_monthly: bool  # futures: a carried position is rolled at the last session of each month

    def tariff(self, style: str) -> Tariff:
        return self.tariffs[style]

    def without_costs(self) -> Instrument:
        return replace(self, slippage_bps=self.slippage_bps.zeroed(), tariffs={
            style: Tariff({k: s.zeroed() for k, s in tariff.figures.items()}) for style, tariff in self.tariffs.items()})


@dataclass(frozen=True)
class Costs:
    file: str
    sha256: str
    capital: float
    instruments: dict[str, Instrument]
    default_instrument: str
    zero: bool = False
    figures: dict = field(default_factory=dict, repr=False)  # the parsed file, for the record

    def instrument(self, key: str | None = None) -> Instrument:
        key = key or self.default_instrument
        if key not in self.instruments:
            raise ConfigError(f"Unknown instrument {key!r} in {self.file}: use one of {', '.join(self.instruments)}.")
        return self.instruments[key]

    def without_costs(self) -> Costs:
        """The same instruments (lots, capital) with every charge and the slippage at zero."""
        return replace(self, sha256=hashlib.sha256(b"zero-costs:" + self.sha256.encode()).hexdigest(),
                       file=f"zero costs (figures of {self.file})", zero=True,
                       instruments={k: i.without_costs() for k, i in self.instruments.items()})


def _day(value, where: str) -> np.datetime64:
    if isinstance(value, dt.date):
        return np.datetime64(value.isoformat()[:10], "D")
    try:
        return np.datetime64(dt.date.fromisoformat(str(value).strip()).isoformat(), "D")
    except ValueError:
        raise ConfigError(f"{where} has `from: {value}`, not a date: write it as YYYY-MM-DD.") from None


def _schedule(entries, name: str, file: str) -> Schedule:
    where = f"The costs file {file}: {name}"
    if entries is None:
        raise ConfigError(f"The costs file {file} lacks {name}: add a list of {{from, value, source}} entries.")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where} must be a non-empty list of {{from, value, source}} entries.")
    starts, values, sources = [], [], []
    for entry in entries:
        if not isinstance(entry, dict) or "from" not in entry or "value" not in entry:
            raise ConfigError(f"{where} has an entry without `from` and `value`: each entry needs both (and a source).")
        value = entry["value"]
        if value is None or isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ConfigError(f"{where} from {entry['from']} is {value!r}, not a number: give the figure.")
        if value < 0:
            raise ConfigError(f"{where} from {entry['from']} is {value}, a negative figure: costs cannot be negative.")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{where} from {entry['from']} has no source: say where the figure comes from.")
        starts.append(_day(entry["from"], where))
        values.append(float(value))
        sources.append(source.strip())
    starts_array = np.array(starts, dtype="datetime64[D]")
    if len(starts_array) > 1 and not (np.diff(starts_array) > np.timedelta64(0, "D")).all():
        raise ConfigError(f"{where} lists its entries out of date order: sort them by `from`, one per date.")
    return Schedule(name, starts_array, np.array(values), tuple(sources), file)


def _tariff(block, label: str, file: str) -> Tariff:
    if not isinstance(block, dict):
        raise ConfigError(f"The costs file {file} lacks the charges of {label}: add {', '.join(CHARGE_FIGURES)}.")
    return Tariff({name: _schedule(block.get(name), f"{label} {name}", file) for name in CHARGE_FIGURES})


def _instrument(key: str, block, file: str) -> Instrument:
    if not isinstance(block, dict):
        raise ConfigError(f"The costs file {file}: instrument {key} must be a mapping of its figures.")
    kind = block.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"The costs file {file}: instrument {key} has kind {kind!r}: use one of {', '.join(KINDS)}.")
    figures = {name: _schedule(block.get(name), f"{key} {name}", file) for name in INSTRUMENT_FIGURES}
    if (figures["lot_size"].values < 1).any() or (figures["lot_size"].values % 1).any():
        raise ConfigError(f"The costs file {file}: {key} lot_size must be a whole number of units, 1 or more.")
    ratio = (_schedule(block["price_ratio"], f"{key} price_ratio", file) if "price_ratio" in block
             else Schedule(f"{key} price_ratio", np.array(["1900-01-01"], dtype="datetime64[D]"), np.ones(1),
                           ("a unit is priced at the index level",), file))
    if (ratio.values <= 0).any():
        raise ConfigError(f"The costs file {file}: {key} price_ratio must be above 0.")
    if kind == "futures":
        tariff = _tariff(block, key, file)
        tariffs = dict.fromkeys(STYLES, tariff)
    else:
        tariffs = {style: _tariff(block.get(style), f"{key} {style}", file) for style in STYLES}
    return Instrument(key=key, name=str(block.get("name") or key), kind=kind,
                      short_selling=bool(block.get("short_selling", kind == "futures")),
                      lot_size=figures["lot_size"], slippage_bps=figures["slippage_bps"], price_ratio=ratio,
                      tariffs=tariffs, rolls_monthly=kind == "futures")


def load_costs(path: str | Path | None = None) -> Costs:
    """The costs file at `path` (default: the shipped `costs.yaml`), validated whole."""
    path = Path(path) if path is not None else DEFAULT_COSTS
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"No costs file at {path}: pass an existing YAML file to --costs.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read the costs file {path} ({exc.strerror}): pass a readable YAML file.") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"The costs file {path} is not valid YAML{at}: fix its syntax.") from None
    file = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("instruments"), dict) or not data["instruments"]:
        raise ConfigError(f"The costs file {file} has no `instruments` mapping: start from the shipped costs.yaml.")
    capital = data.get("capital_rupees")
    if capital is None or isinstance(capital, bool) or not isinstance(capital, int | float) or not capital > 0:
        raise ConfigError(f"The costs file {file} needs `capital_rupees`, the account's starting rupees, above 0.")
    instruments = {str(key): _instrument(str(key), block, file) for key, block in data["instruments"].items()}
    default = str(data.get("default_instrument") or next(iter(instruments)))
    if default not in instruments:
        raise ConfigError(f"The costs file {file} names default_instrument {default!r}, which it does not define.")
    return Costs(file=file, sha256=hashlib.sha256(raw).hexdigest(), capital=float(capital),
                 instruments=instruments, default_instrument=default, figures=data)
