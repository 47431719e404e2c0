"""A built-in synthetic market: the members of any universe plus an index built from them.

Used when there is no network and no CSV files, and as the fixture of every test. It is
labelled synthetic everywhere it shows. The generator is:

- deterministic for a seed and prefix-stable: every random stream is drawn day by day from its
  own generator, starting at a fixed origin (2005-01-03), so asking for a later end date never
  changes earlier rows;
- on the universe's exchange sessions (`sensex.market.exchanges`), up to the last completed session by default;
- a factor model: stock return = beta * market + sector factor + idiosyncratic noise, with
  Student-t innovations (fat tails) and GARCH(1,1) variances (volatility clustering); volume
  rises with |return|;
- with one small, documented predictable component, so a model has something to learn:
  the market factor's expected return on day t+1 is
  `-PREDICTABILITY * sigma_t * tanh(r5_t / (sigma_t * sqrt(5)))`, where r5_t is the market
  factor's return over the last five sessions (a short-term reversal). A model that knew this
  exactly would reach a next-day AUC of about 0.6 on the index; real markets offer far less.
- with an S&P 500 (context series `SP500`, `sensex.market.context`) on NYSE sessions (exchange_calendars
  XNYS, New York dates), its own GARCH(1,1) Student-t process, drawn from its own streams. Its
  overnight return leaks into the next BSE session: the market factor of BSE session D gains
  `SP500_SPILLOVER * (log S&P close at the last NYSE session dated before D - log S&P close at
  the last one dated before BSE's previous session)`, so US holidays add nothing and BSE holidays
  accumulate the missed US sessions, exactly the pre-open features' matching rule. That part of
  the move happens entirely in the opening gap; the move after the open owes it nothing, as on
  real data (the pre-open results in docs/results.md). Rows are NYSE sessions dated up to `end`: at
  the pre-open forecast of the BSE session after `end`, the US session dated `end` has closed.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import pandas as pd

from sensex.market import context, exchanges
from sensex.market.schema import COLUMNS, INDEX_SYMBOL, canonicalize
from sensex.market.universe import Member, Universe, load_universe

ORIGIN = pd.Timestamp("2005-01-03")
PREDICTABILITY = 0.35
INDEX_BASE_LEVEL = 10_000.0
TAIL_DF = 4.0  # Student-t degrees of freedom: kurtosis well above the normal's
# How much of the S&P 500's overnight log return (the US sessions that closed after BSE's previous
# close) the SENSEX market factor takes on at its next open. Measured with seed 7 on 2005-2021:
# 0.3 makes the overnight S&P return alone rank the next SENSEX close-to-close direction with an
# AUC of 0.635, the rule "UP when the S&P 500 rose" right 59% of the time, and the move after
# the open unrelated to it (AUC 0.50): close to the real data's 0.63, 60% and about 0.5.
SP500_SPILLOVER = 0.3
SP500_BASE_LEVEL = 1_200.0
SP500_VOL = 0.011  # long-run daily volatility of the synthetic S&P 500
SP500_DRIFT = 0.0003  # daily log drift
GARCH_ALPHA, GARCH_PERSISTENCE = 0.08, 0.90  # members' and the market factor's GARCH(1,1)
MARKET_VAR_TARGET = 0.0095**2
SECTOR_SCALE = 0.006  # daily volatility of a sector factor


def _unit_t(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(TAIL_DF, size=size) / np.sqrt(TAIL_DF / (TAIL_DF - 2.0))


def generate(
    universe: Universe,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    seed: int = 7,
    with_context: bool = False,
) -> pd.DataFrame:
    """Canonical OHLCV rows for every member and the index on the universe's sessions in [start, end].

    With `with_context`, also the S&P 500 (`sensex.market.context.SP500`) on NYSE sessions in [start, end].
    The index is the same either way: the S&P 500 is always generated, only its rows are optional.

    One synthetic market per exchange, universes are views of it: a member's prices depend on its
    symbol, sector, exchange and the seed, never on the universe that asks, so a stock in two
    universes (RELIANCE in SENSEX and NIFTY 50) is the same series and is stored once. On Indian
    exchanges the 30 SENSEX members, the market factor and their sectors are the original
    generator's draws, so the SENSEX market is what it always was.
    """
    end = pd.Timestamp(end) if end is not None else exchanges.last_completed_session(universe.exchange)
    start = pd.Timestamp(start) if start is not None else ORIGIN
    days = exchanges.sessions(universe.exchange, ORIGIN, end)
    n_days = len(days)
    if n_days == 0:
        return canonicalize(pd.DataFrame(columns=COLUMNS))
    sp500 = _sp500(end, seed)
    indian = universe.exchange in exchanges.INDIAN
    # Only BSE/NSE take the S&P 500's overnight move at their open (the pre-open mode's premise).
    spillover = SP500_SPILLOVER * _overnight(sp500, days) if indian else np.zeros(n_days)  # (D,)
    base_members = _base_members() if indian else ()
    entropy = seed if indian else [seed, zlib.crc32(universe.exchange.encode())]
    base = _factor_market(base_members, days, entropy, spillover)
    extra = [m for m in universe.members if m.symbol not in base["position"]]
    more = _extra_members(extra, days, base, seed, universe.exchange) if extra else None

    def column(member_symbol: str, field: str) -> np.ndarray:
        if member_symbol in base["position"]:
            return base[field][:, base["position"][member_symbol]]
        return more[field][:, more["position"][member_symbol]]

    fields = ("open", "high", "low", "close", "volume")
    panel = {f: np.column_stack([column(m.symbol, f) for m in universe.members]) for f in fields}  # (D, S) each
    weights = np.array([m.weight for m in universe.members], dtype=float)
    weights = weights / weights.sum()
    if indian and universe.index_symbol == INDEX_SYMBOL:
        index_range_noise = base["index_range_noise"]  # the original SENSEX draws
    else:
        index_rng = np.random.default_rng(np.random.SeedSequence([seed, 4, zlib.crc32(universe.index_symbol.encode())]))
        index_range_noise = np.abs(index_rng.standard_normal((n_days, 2)))

    # The index: free-float-weighted average of member simple returns, chained.
    close, open_ = panel["close"], panel["open"]
    prev_close = np.vstack([_start_prices(base, more, universe), close[:-1]])
    simple = close / prev_close - 1.0
    index_close = INDEX_BASE_LEVEL * np.cumprod(1.0 + simple @ weights)
    index_prev = np.concatenate([[INDEX_BASE_LEVEL], index_close[:-1]])
    index_open = index_prev * (1.0 + (open_ / prev_close - 1.0) @ weights)
    index_sigma = np.sqrt(base["market_var"])
    index_high = np.maximum(index_open, index_close) * np.exp(0.4 * index_sigma * index_range_noise[:, 0])
    index_low = np.minimum(index_open, index_close) * np.exp(-0.4 * index_sigma * index_range_noise[:, 1])
    index_volume = np.round(panel["volume"].sum(axis=1) / 1000.0)

    keep = (days >= start.normalize()) & (days <= end.normalize())
    frames = []
    for j, member in enumerate(universe.members):
        frames.append(
            pd.DataFrame(
                {
                    "date": days[keep],
                    "symbol": member.symbol,
                    "open": panel["open"][keep, j],
                    "high": panel["high"][keep, j],
                    "low": panel["low"][keep, j],
                    "close": panel["close"][keep, j],
                    "adj_close": panel["close"][keep, j],  # no dividends in the synthetic market
                    "volume": panel["volume"][keep, j],
                }
            )
        )
    frames.append(
        pd.DataFrame(
            {
                "date": days[keep],
                "symbol": universe.index_symbol,
                "open": index_open[keep],
                "high": index_high[keep],
                "low": index_low[keep],
                "close": index_close[keep],
                "adj_close": index_close[keep],
                "volume": index_volume[keep],
            }
        )
    )
    if with_context:
        us_keep = (sp500["date"] >= start.normalize()) & (sp500["date"] <= end.normalize())
        frames.append(sp500[us_keep])
    return canonicalize(pd.concat(frames, ignore_index=True))


def _start_prices(base: dict, more: dict | None, universe: Universe) -> np.ndarray:
    """(1, S) each member's price before the first session."""
    def one(symbol: str) -> float:
        if symbol in base["position"]:
            return base["start_price"][base["position"][symbol]]
        return more["start_price"][more["position"][symbol]]

    return np.array([[one(m.symbol) for m in universe.members]])


@lru_cache(maxsize=1)
def _base_members() -> tuple[Member, ...]:
    """The original generator's members: the shipped SENSEX file's, in its model order."""
    return load_universe("sensex").members


def _factor_market(members: tuple[Member, ...], days: pd.DatetimeIndex, entropy, spillover: np.ndarray) -> dict:
    """The market factor, sector shocks and `members`' prices: the original generator, unchanged
    (same streams in the same order), so the SENSEX members' series stay as they were."""
    n_days, n_stocks = len(days), len(members)
    # One independent stream per component: each is consumed in day order only.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(8)]
    static = np.random.default_rng(np.random.SeedSequence([entropy, 99] if isinstance(entropy, int) else [*entropy, 99]))

    sectors = sorted({m.sector for m in members})
    sector_index = np.array([sectors.index(m.sector) for m in members], dtype=int)
    beta = static.uniform(0.7, 1.3, n_stocks)
    idio_scale = static.uniform(0.010, 0.018, n_stocks)
    drift = static.uniform(0.0, 0.0006, n_stocks)
    start_price = np.exp(static.uniform(np.log(100), np.log(4000), n_stocks))
    base_volume = np.exp(static.uniform(np.log(2e5), np.log(2e7), n_stocks))

    market_shock = _unit_t(streams[0], (n_days,))
    sector_shock = _unit_t(streams[1], (n_days, len(sectors)))
    idio_shock = _unit_t(streams[2], (n_days, n_stocks))
    gap_noise = streams[3].standard_normal((n_days, n_stocks))
    range_noise = np.abs(streams[4].standard_normal((n_days, n_stocks, 2)))
    volume_noise = streams[5].standard_normal((n_days, n_stocks))
    index_range_noise = np.abs(streams[6].standard_normal((n_days, 2)))

    # GARCH(1,1) for the market factor and each stock's idiosyncratic part.
    market_var = np.empty(n_days)
    market = np.empty(n_days)
    prev_market_var, prev_market_eps = MARKET_VAR_TARGET, 0.0
    for t in range(n_days):
        market_var[t] = (
            MARKET_VAR_TARGET * (1 - GARCH_ALPHA - GARCH_PERSISTENCE)
            + GARCH_ALPHA * prev_market_eps**2
            + GARCH_PERSISTENCE * prev_market_var
        )
        sigma = np.sqrt(market_var[t])
        recent = market[max(0, t - 5) : t].sum()
        mean = -PREDICTABILITY * sigma * np.tanh(recent / (sigma * np.sqrt(5.0))) if t else 0.0
        eps = sigma * market_shock[t]
        market[t] = mean + eps + spillover[t]
        prev_market_var, prev_market_eps = market_var[t], eps
    idio, idio_var = _idiosyncratic(idio_scale, idio_shock)

    prices = _prices(beta, drift, start_price, base_volume, market, market_var, spillover,
                     SECTOR_SCALE * sector_shock[:, sector_index], idio, idio_var, gap_noise, range_noise, volume_noise)
    return {
        **prices, "market": market, "market_var": market_var, "start_price": start_price,
        "sector_shock": dict(zip(sectors, sector_shock.T, strict=True)), "index_range_noise": index_range_noise,
        "position": {m.symbol: j for j, m in enumerate(members)},
    }


def _extra_members(members: list[Member], days: pd.DatetimeIndex, base: dict, seed: int, exchange: str) -> dict:
    """Prices of members outside the original 30, on the same market factor. Every member and every
    new sector draws from streams of its own (keyed by name), so adding a stock to a universe never
    changes another's series; all streams are drawn in day order (prefix-stable)."""
    n_days = len(days)

    def seeds(kind: int, name: str) -> np.random.SeedSequence:
        return np.random.SeedSequence([seed, kind, zlib.crc32(f"{exchange}:{name}".encode())])

    def rng(kind: int, name: str) -> np.random.Generator:
        return np.random.default_rng(seeds(kind, name))

    sector_cache: dict[str, np.ndarray] = {}

    def sector_shock(sector: str) -> np.ndarray:
        if sector in base["sector_shock"]:
            return base["sector_shock"][sector]
        if sector not in sector_cache:
            sector_cache[sector] = _unit_t(rng(1, sector), (n_days,))
        return sector_cache[sector]

    statics = np.array([
        [r.uniform(0.7, 1.3), r.uniform(0.010, 0.018), r.uniform(0.0, 0.0006),
         np.exp(r.uniform(np.log(100), np.log(4000))), np.exp(r.uniform(np.log(2e5), np.log(2e7)))]
        for r in (rng(2, m.symbol) for m in members)
    ])  # (S, 5)
    beta, idio_scale, drift, start_price, base_volume = statics.T
    shocks = [[np.random.default_rng(child) for child in seeds(3, m.symbol).spawn(4)] for m in members]
    idio_shock = np.column_stack([_unit_t(streams[0], (n_days,)) for streams in shocks])  # (D, S)
    gap_noise = np.column_stack([streams[1].standard_normal(n_days) for streams in shocks])
    range_noise = np.stack([np.abs(streams[2].standard_normal((n_days, 2))) for streams in shocks], axis=1)  # (D, S, 2)
    volume_noise = np.column_stack([streams[3].standard_normal(n_days) for streams in shocks])
    sector_part = SECTOR_SCALE * np.column_stack([sector_shock(m.sector) for m in members])  # (D, S)
    idio, idio_var = _idiosyncratic(idio_scale, idio_shock)
    spillover = base["spillover"]
    prices = _prices(beta, drift, start_price, base_volume, base["market"], base["market_var"], spillover,
                     sector_part, idio, idio_var, gap_noise, range_noise, volume_noise)
    return {**prices, "start_price": start_price, "position": {m.symbol: j for j, m in enumerate(members)}}


def _idiosyncratic(idio_scale: np.ndarray, idio_shock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D, S) GARCH(1,1) idiosyncratic returns and their variances."""
    n_days, n_stocks = idio_shock.shape
    idio_var = np.empty((n_days, n_stocks))
    idio = np.empty((n_days, n_stocks))
    prev_idio_var, prev_idio_eps = idio_scale**2, np.zeros(n_stocks)
    for t in range(n_days):
        idio_var[t] = (
            idio_scale**2 * (1 - GARCH_ALPHA - GARCH_PERSISTENCE)
            + GARCH_ALPHA * prev_idio_eps**2
            + GARCH_PERSISTENCE * prev_idio_var
        )
        idio[t] = np.sqrt(idio_var[t]) * idio_shock[t]
        prev_idio_var, prev_idio_eps = idio_var[t], idio[t]
    return idio, idio_var


def _prices(beta, drift, start_price, base_volume, market, market_var, spillover, sector_part, idio, idio_var,
            gap_noise, range_noise, volume_noise) -> dict:
    """(D, S) OHLC and volume of stocks: return = drift + beta * market + sector part + idiosyncratic."""
    log_return = drift + beta * market[:, None] + sector_part + idio  # (D, S)
    total_sigma = np.sqrt(beta**2 * market_var[:, None] + SECTOR_SCALE**2 + idio_var)  # (D, S)

    close = start_price * np.exp(np.cumsum(log_return, axis=0))  # (D, S)
    prev_close = np.vstack([start_price[None, :], close[:-1]])
    # Part of each day's move happens overnight: the open gaps toward the close. The S&P 500's
    # share is news from before the open, so it is all in the gap.
    from_sp500 = beta * spillover[:, None]  # (D, S)
    gap = from_sp500 + 0.3 * (log_return - from_sp500) + 0.2 * total_sigma * gap_noise
    open_ = prev_close * np.exp(gap)
    high = np.maximum(open_, close) * np.exp(0.5 * total_sigma * range_noise[..., 0])
    low = np.minimum(open_, close) * np.exp(-0.5 * total_sigma * range_noise[..., 1])
    volume = np.round(
        base_volume * np.exp(0.6 * np.abs(log_return) / total_sigma + 0.3 * volume_noise)
    )
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "spillover": spillover}


def _sp500(end: pd.Timestamp, seed: int) -> pd.DataFrame:
    """The synthetic S&P 500 on NYSE sessions from ORIGIN to `end`, canonical columns.

    Its streams come from their own seed sequence, so adding it left the SENSEX's draws as they
    were; like every stream here they are consumed in day order (prefix-stable).
    """
    days = context.sessions(context.SP500, ORIGIN, end)
    n = len(days)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 500]).spawn(4)]
    shock = _unit_t(streams[0], (n,))
    gap_noise = streams[1].standard_normal(n)
    range_noise = np.abs(streams[2].standard_normal((n, 2)))
    volume_noise = streams[3].standard_normal(n)
    alpha, persistence = 0.09, 0.89
    variance = np.empty(n)
    log_return = np.empty(n)
    prev_var, prev_eps = SP500_VOL**2, 0.0
    for t in range(n):
        variance[t] = SP500_VOL**2 * (1 - alpha - persistence) + alpha * prev_eps**2 + persistence * prev_var
        eps = np.sqrt(variance[t]) * shock[t]
        log_return[t] = SP500_DRIFT + eps
        prev_var, prev_eps = variance[t], eps
    sigma = np.sqrt(variance)
    close = SP500_BASE_LEVEL * np.exp(np.cumsum(log_return))
    prev_close = np.concatenate([[SP500_BASE_LEVEL], close[:-1]])
    open_ = prev_close * np.exp(0.1 * sigma * gap_noise)
    high = np.maximum(open_, close) * np.exp(0.4 * sigma * range_noise[:, 0])
    low = np.minimum(open_, close) * np.exp(-0.4 * sigma * range_noise[:, 1])
    volume = np.round(3e9 * np.exp(0.5 * np.abs(log_return) / sigma + 0.2 * volume_noise))
    return pd.DataFrame({
        "date": days, "symbol": context.SP500.symbol, "open": open_, "high": high, "low": low,
        "close": close, "adj_close": close, "volume": volume,
    })


def _overnight(sp500: pd.DataFrame, days: pd.DatetimeIndex) -> np.ndarray:
    """(D,) S&P 500 log return between the closes known at BSE's open on each day and on the day before.

    Known at BSE's open on D: closes dated before D; at BSE's close on the previous session t
    (before New York opens on t): closes dated before t. Zero on the first day.
    """
    log_close = np.log(sp500["close"].to_numpy())
    cumulative = np.concatenate([[0.0], log_close - np.log(SP500_BASE_LEVEL)])  # 0 = before any session
    at_open = context.last_known_before(sp500["date"], days) + 1
    at_previous_close = np.concatenate([at_open[:1], context.last_known_before(sp500["date"], days[:-1]) + 1])
    return cumulative[at_open] - cumulative[at_previous_close]
