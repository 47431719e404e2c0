"""Fills and accounting: what a trader acting on each forecast could have got, in rupees.

Row i of a backtest is a forecast decided on session t = `date[i]` for the next stored session
t + 1 = `target[i]`. The fills a trader could get, by mode:

- close (`carry`): decided after the close of t and traded at that close (market-on-close), held
  to the close of t + 1. Consecutive rows carry the position: a session whose target weight equals
  the one held trades nothing. Futures carried into the last stored session of a month are rolled
  there (closed and reopened, two orders: an approximation of the monthly expiry).
- preopen (`intraday`): decided before the open of t + 1, bought or sold at that open and closed at
  the same session's close: the opening gap from close t to open t + 1 is never earned.

Positions are whole lots: units = floor(|weight| x equity / (lot x unit price)), sized with the
last price known when the decision is made (the close of t, in both modes). Every fill pays the
instrument's slippage (the reference price moved against the trader) and its charges at the
rates in force on its date (`costs.Tariff`). Equity is marked at each close; gross P&L is at
reference prices, so net = gross - slippage - charges exactly. Nothing at row i reads a price
after the fill it makes: a test changes every price after t and checks the decisions up to t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sensex.backtest.costs import CARRY, CHARGE_KINDS, INTRADAY, Instrument
from sensex.core.errors import DataError

REBALANCE_BAND = 0.1  # a carried position is re-sized only when its target weight moves further than this
CLOSE_FILLS, OPEN_FILLS = "close", "open"


@dataclass(frozen=True)
class Market:
    """Index prices per forecast row: the close of t, and the open and close of t + 1."""

    date: np.ndarray  # datetime64[D], decision sessions t
    target: np.ndarray  # datetime64[D], the sessions t + 1 traded
    close: np.ndarray
    next_open: np.ndarray
    next_close: np.ndarray

    def __len__(self) -> int:
        return len(self.date)

    @property
    def gap(self) -> np.ndarray:
        """Close of t to open of t + 1: what a pre-open forecast knows and no one at the open can trade."""
        return self.next_open / self.close - 1


def index_prices(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per session (date, open, close) with a positive close, sorted; the last row of a date wins."""
    rows = frame[["date", "open", "close"]].copy()
    rows["date"] = pd.to_datetime(rows["date"]).dt.normalize()
    rows = rows[np.isfinite(rows["close"].to_numpy(np.float64)) & (rows["close"] > 0)]
    return rows.sort_values("date", kind="stable").drop_duplicates("date", keep="last").reset_index(drop=True)


def align(prices: pd.DataFrame, dates) -> tuple[Market, np.ndarray]:
    """The market of each forecast date, and which dates have one (stored, and followed by a stored session)."""
    days = prices["date"].to_numpy().astype("datetime64[D]")
    wanted = np.asarray(pd.DatetimeIndex(dates).to_numpy().astype("datetime64[D]"))
    position = np.searchsorted(days, wanted)
    found = (position < len(days)) & (days[np.minimum(position, len(days) - 1)] == wanted) if len(days) else \
        np.zeros(len(wanted), dtype=bool)
    keep = found & (position + 1 < len(days))
    k = position[keep]
    opens, closes = prices["open"].to_numpy(np.float64), prices["close"].to_numpy(np.float64)
    return Market(date=days[k], target=days[k + 1], close=closes[k], next_open=opens[k + 1],
                  next_close=closes[k + 1]), keep


@dataclass(frozen=True)
class Fill:
    day: str
    units: int  # signed: + bought, - sold
    reference: float  # index level the fill is priced from
    price: float  # rupees per unit paid or received, slippage included
    value: float  # rupees traded
    slippage: float  # rupees lost to slippage
    charges: dict[str, float]
    reason: str  # enter | exit | resize | roll-out | roll-in | final

    @property
    def cost(self) -> float:
        return self.slippage + sum(self.charges.values())


@dataclass
class Ledger:
    """One way of trading the rows: per session (its target date) what was held and what it made."""

    name: str
    fills_at: str  # close | open
    capital: float
    start: np.datetime64  # the decision session of the first row: equity is `capital` there
    dates: np.ndarray  # datetime64[D], the session each row's P&L belongs to (t + 1)
    weight: np.ndarray  # target weight decided for the session
    units: np.ndarray  # units held over the session (signed)
    equity: np.ndarray  # rupees after the session's close, every cost paid
    gross: np.ndarray  # P&L at reference prices, before costs
    costs: np.ndarray  # slippage + charges booked on the session's row
    exposure: np.ndarray  # |units x unit price at entry| / equity before the session
    entries: np.ndarray  # bool: a position was opened or flipped on the row
    fills: list[Fill] = field(default_factory=list)
    charges: dict[str, float] = field(default_factory=dict)
    slippage: float = 0.0
    traded_value: float = 0.0

    @property
    def returns(self) -> np.ndarray:
        before = np.r_[self.capital, self.equity[:-1]]
        return self.equity / before - 1

    @property
    def in_market(self) -> np.ndarray:
        return self.units != 0

    def curve(self) -> pd.Series:
        """Equity indexed by date, starting from `capital` on the first decision session."""
        return pd.Series(np.r_[self.capital, self.equity], index=pd.DatetimeIndex(np.r_[self.start, self.dates]),
                         name=self.name)


class _Book:
    """Fills and their costs for one ledger."""

    def __init__(self, instrument: Instrument, style: str):
        self.instrument, self.tariff = instrument, instrument.tariff(style)
        self.fills: list[Fill] = []
        self.charges = dict.fromkeys(CHARGE_KINDS, 0.0)
        self.slippage = 0.0
        self.traded = 0.0

    def unit_price(self, day, index_level: float) -> float:
        return index_level * self.instrument.price_ratio.at(day)

    def lots(self, weight: float, equity: float, index_level: float, day) -> int:
        """Signed units for `weight` of `equity`: whole lots, rounded toward zero."""
        if weight == 0 or equity <= 0 or not np.isfinite(index_level) or index_level <= 0:
            return 0
        lot = int(self.instrument.lot_size.at(day))
        n = int(np.floor(abs(weight) * equity / (lot * self.unit_price(day, index_level)) + 1e-9))
        return int(np.sign(weight)) * n * lot

    def fill(self, day, units: int, reference: float, reason: str) -> float:
        """Trade `units` at `reference` on `day`; returns its cost (slippage + charges) in rupees."""
        if units == 0:
            return 0.0
        buy = units > 0
        unit = self.unit_price(day, reference)
        slip = self.instrument.slippage_bps.at(day) / 1e4
        price = unit * (1 + slip if buy else 1 - slip)
        value = abs(units) * price
        charges = self.tariff.charges(day, buy, value)
        slippage = abs(units) * unit * slip
        self.fills.append(Fill(str(np.datetime64(day, "D")), int(units), float(reference), price, value, slippage,
                               charges, reason))
        for kind, rupees in charges.items():
            self.charges[kind] += rupees
        self.slippage += slippage
        self.traded += value
        return slippage + sum(charges.values())

    def ledger(self, name: str, fills_at: str, capital: float, start, **arrays) -> Ledger:
        return Ledger(name=name, fills_at=fills_at, capital=capital, start=np.datetime64(start, "D"), **arrays,
                      fills=self.fills, charges=self.charges, slippage=self.slippage, traded_value=self.traded)


def _check(market: Market, weights: np.ndarray, instrument: Instrument) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if len(market) == 0:
        raise DataError("No sessions to trade: the window holds no forecast followed by a stored session.")
    if weights.shape != (len(market),) or not np.isfinite(weights).all():
        raise ValueError(f"{len(market)} finite weights expected, got shape {weights.shape}")
    return weights


def carry(market: Market, weights: np.ndarray, instrument: Instrument, capital: float, name: str = "strategy",
          band: float = REBALANCE_BAND, first_fill: str = CLOSE_FILLS) -> Ledger:
    """Close-mode fills: trade at the close of t, hold to the close of t + 1, carry while the rows run on.

    `first_fill="open"` makes the first entry at the open of the first target session instead (the
    buy-and-hold of a pre-open backtest); `band=inf` never re-sizes a held position."""
    weights = _check(market, weights, instrument)
    book = _Book(instrument, CARRY)
    n = len(market)
    units, entries = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    equity, gross, costs, exposure = (np.zeros(n) for _ in range(4))
    cash = capital  # equity, marked at the last close
    held, sized_at = 0, 0.0
    for i in range(n):
        day, target = market.date[i], market.target[i]
        w = weights[i] if cash > 0 else 0.0
        at_open = i == 0 and first_fill == OPEN_FILLS
        fill_day, entry = (target, market.next_open[i]) if at_open else (day, market.close[i])
        if w == 0:
            want = 0
        elif held == 0 or np.sign(w) != np.sign(held) or abs(w - sized_at) > band:
            want, sized_at = book.lots(w, cash, market.close[i], fill_day), w
        else:
            want = held
        cost = 0.0
        expiry = instrument.rolls_monthly and not at_open and pd.Timestamp(day).month != pd.Timestamp(target).month
        if expiry and held != 0 and want != 0:  # the near-month contract expires: close it, open the next month's
            cost += book.fill(fill_day, -held, entry, "roll-out") + book.fill(fill_day, want, entry, "roll-in")
        elif want != held:
            reason = "enter" if held == 0 else "exit" if want == 0 else "resize" if np.sign(want) == np.sign(held) \
                else "flip"
            cost += book.fill(fill_day, want - held, entry, reason)
        entries[i] = want != 0 and (held == 0 or np.sign(want) != np.sign(held))
        held = want
        exposure[i] = abs(held) * book.unit_price(fill_day, entry) / cash if cash > 0 else 0.0
        units[i] = held
        gross[i] = held * book.unit_price(fill_day, 1.0) * (market.next_close[i] - entry)
        last = i == n - 1 or market.date[i + 1] != target
        if last and held != 0:  # the rows stop (or skip sessions): sell at the close of t + 1
            cost += book.fill(target, -held, market.next_close[i], "final" if i == n - 1 else "exit")
            held = 0
        cash += gross[i] - cost
        costs[i], equity[i] = cost, cash
    return book.ledger(name, CLOSE_FILLS if first_fill == CLOSE_FILLS else OPEN_FILLS, capital, market.date[0],
                       dates=market.target.copy(), weight=weights.copy(), units=units, equity=equity, gross=gross,
                       costs=costs, exposure=exposure, entries=entries)


def intraday(market: Market, weights: np.ndarray, instrument: Instrument, capital: float,
             name: str = "strategy") -> Ledger:
    """Pre-open fills: sized on the close of t, bought or sold at the open of t + 1, closed at its close."""
    weights = _check(market, weights, instrument)
    book = _Book(instrument, INTRADAY)
    n = len(market)
    units, entries = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    equity, gross, costs, exposure = (np.zeros(n) for _ in range(4))
    cash = capital
    for i in range(n):
        target, opening = market.target[i], market.next_open[i]
        tradable = np.isfinite(opening) and opening > 0 and np.isfinite(market.next_close[i])
        want = book.lots(weights[i], cash, market.close[i], target) if tradable else 0
        cost = 0.0
        if want:
            cost = book.fill(target, want, opening, "enter") + book.fill(target, -want, market.next_close[i], "exit")
            gross[i] = want * book.unit_price(target, 1.0) * (market.next_close[i] - opening)
            exposure[i] = abs(want) * book.unit_price(target, opening) / cash
        units[i], entries[i] = want, want != 0
        cash += gross[i] - cost
        costs[i], equity[i] = cost, cash
    return book.ledger(name, OPEN_FILLS, capital, market.date[0], dates=market.target.copy(), weight=weights.copy(),
                       units=units, equity=equity, gross=gross, costs=costs, exposure=exposure, entries=entries)


def trade(market: Market, weights: np.ndarray, instrument: Instrument, capital: float, fills_at: str,
          name: str = "strategy") -> Ledger:
    """The rule's weights traded with the fills of a mode: `close` carries, `open` is intraday."""
    if fills_at == CLOSE_FILLS:
        return carry(market, weights, instrument, capital, name)
    return intraday(market, weights, instrument, capital, name)


def buy_and_hold(market: Market, instrument: Instrument, capital: float, fills_at: str) -> Ledger:
    """Just holding the index over the same sessions: bought at the first fill the mode allows (the
    close of the first t, or the open of the first t + 1), never re-sized, sold at the last close."""
    return carry(market, np.ones(len(market)), instrument, capital, "buy_and_hold", band=np.inf, first_fill=fills_at)


@dataclass(frozen=True)
class GapLine:
    """The rule's weights applied to the opening gap, without costs: what a pre-open forecast knows
    and a trader acting at the open cannot earn."""

    dates: np.ndarray
    returns: np.ndarray
    weight: np.ndarray
    capital: float
    start: np.datetime64

    @property
    def equity(self) -> np.ndarray:
        return self.capital * np.cumprod(1 + self.returns)

    def curve(self) -> pd.Series:
        return pd.Series(np.r_[self.capital, self.equity], index=pd.DatetimeIndex(np.r_[self.start, self.dates]),
                         name="gap_not_tradable")


def gap_line(market: Market, weights: np.ndarray, capital: float) -> GapLine:
    gap = np.nan_to_num(market.gap, nan=0.0)
    weights = np.asarray(weights, dtype=np.float64)
    return GapLine(market.target.copy(), weights * gap, weights.copy(), capital, np.datetime64(market.date[0], "D"))
