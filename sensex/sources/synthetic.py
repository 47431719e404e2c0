"""A built-in synthetic market: 30 named members plus an index built from them.

Used when there is no network and no CSV files, and as the fixture of every test. It is
labelled synthetic everywhere it shows. The generator is:

- deterministic for a seed and prefix-stable: every random stream is drawn day by day from its
  own generator, starting at a fixed origin (2005-01-03), so asking for a later end date never
  changes earlier rows;
- on BSE sessions (`sensex.calendar`), up to the last completed session by default;
- a factor model: stock return = beta * market + sector factor + idiosyncratic noise, with
  Student-t innovations (fat tails) and GARCH(1,1) variances (volatility clustering); volume
  rises with |return|;
- with one small, documented predictable component, so a model has something to learn:
  the market factor's expected return on day t+1 is
  `-PREDICTABILITY * sigma_t * tanh(r5_t / (sigma_t * sqrt(5)))`, where r5_t is the market
  factor's return over the last five sessions (a short-term reversal). A model that knew this
  exactly would reach a next-day AUC of about 0.6 on the index; real markets offer far less.
- with an S&P 500 (context series `SP500`, `sensex.context`) on NYSE sessions (exchange_calendars
  XNYS, New York dates), its own GARCH(1,1) Student-t process, drawn from its own streams. Its
  overnight return leaks into the next BSE session: the market factor of BSE session D gains
  `SP500_SPILLOVER * (log S&P close at the last NYSE session dated before D - log S&P close at
  the last one dated before BSE's previous session)`, so US holidays add nothing and BSE holidays
  accumulate the missed US sessions, exactly the pre-open features' matching rule. That part of
  the move happens entirely in the opening gap; the move after the open owes it nothing, as on
  real data (`../shared/data/global/README.md`). Rows are NYSE sessions dated up to `end`: at
  the pre-open forecast of the BSE session after `end`, the US session dated `end` has closed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sensex import calendar, context
from sensex.schema import COLUMNS, canonicalize
from sensex.universe import Universe

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
    """Canonical OHLCV rows for every member and the index on BSE sessions in [start, end].

    With `with_context`, also the S&P 500 (`sensex.context.SP500`) on NYSE sessions in [start, end].
    The SENSEX is the same either way: the S&P 500 is always generated, only its rows are optional.
    """
    end = pd.Timestamp(end) if end is not None else calendar.last_completed_session()
    start = pd.Timestamp(start) if start is not None else ORIGIN
    days = calendar.sessions(ORIGIN, end)
    n_days, n_stocks = len(days), len(universe.members)
    if n_days == 0:
        return canonicalize(pd.DataFrame(columns=COLUMNS))
    sp500 = _sp500(end, seed)
    spillover = SP500_SPILLOVER * _overnight(sp500, days)  # (D,) log return reaching BSE's open

    # One independent stream per component: each is consumed in day order only.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    static = np.random.default_rng(np.random.SeedSequence([seed, 99]))

    sectors = sorted({m.sector for m in universe.members})
    sector_index = np.array([sectors.index(m.sector) for m in universe.members])
    beta = static.uniform(0.7, 1.3, n_stocks)
    idio_scale = static.uniform(0.010, 0.018, n_stocks)
    drift = static.uniform(0.0, 0.0006, n_stocks)
    start_price = np.exp(static.uniform(np.log(100), np.log(4000), n_stocks))
    base_volume = np.exp(static.uniform(np.log(2e5), np.log(2e7), n_stocks))
    weights = np.array([m.weight for m in universe.members], dtype=float)
    weights = weights / weights.sum()

    market_shock = _unit_t(streams[0], (n_days,))
    sector_shock = _unit_t(streams[1], (n_days, len(sectors)))
    idio_shock = _unit_t(streams[2], (n_days, n_stocks))
    gap_noise = streams[3].standard_normal((n_days, n_stocks))
    range_noise = np.abs(streams[4].standard_normal((n_days, n_stocks, 2)))
    volume_noise = streams[5].standard_normal((n_days, n_stocks))
    index_range_noise = np.abs(streams[6].standard_normal((n_days, 2)))

    # GARCH(1,1) for the market factor and each stock's idiosyncratic part.
    alpha, persistence = 0.08, 0.90
    market_var_target = 0.0095**2
    market_var = np.empty(n_days)
    market = np.empty(n_days)
    idio_var = np.empty((n_days, n_stocks))
    idio = np.empty((n_days, n_stocks))
    prev_market_var, prev_market_eps = market_var_target, 0.0
    prev_idio_var, prev_idio_eps = idio_scale**2, np.zeros(n_stocks)
    for t in range(n_days):
        market_var[t] = (
            market_var_target * (1 - alpha - persistence)
            + alpha * prev_market_eps**2
            + persistence * prev_market_var
        )
        sigma = np.sqrt(market_var[t])
        recent = market[max(0, t - 5) : t].sum()
        mean = -PREDICTABILITY * sigma * np.tanh(recent / (sigma * np.sqrt(5.0))) if t else 0.0
        eps = sigma * market_shock[t]
        market[t] = mean + eps + spillover[t]
        prev_market_var, prev_market_eps = market_var[t], eps

        idio_var[t] = (
            idio_scale**2 * (1 - alpha - persistence)
            + alpha * prev_idio_eps**2
            + persistence * prev_idio_var
        )
        idio[t] = np.sqrt(idio_var[t]) * idio_shock[t]
        prev_idio_var, prev_idio_eps = idio_var[t], idio[t]

    sector_part = 0.006 * sector_shock[:, sector_index]  # (D, S)
    log_return = drift + beta * market[:, None] + sector_part + idio  # (D, S)
    total_sigma = np.sqrt(beta**2 * market_var[:, None] + 0.006**2 + idio_var)  # (D, S)

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

    # The index: free-float-weighted average of member simple returns, chained.
    simple = close / prev_close - 1.0
    index_close = INDEX_BASE_LEVEL * np.cumprod(1.0 + simple @ weights)
    index_prev = np.concatenate([[INDEX_BASE_LEVEL], index_close[:-1]])
    index_open = index_prev * (1.0 + (open_ / prev_close - 1.0) @ weights)
    index_sigma = np.sqrt(market_var)
    index_high = np.maximum(index_open, index_close) * np.exp(0.4 * index_sigma * index_range_noise[:, 0])
    index_low = np.minimum(index_open, index_close) * np.exp(-0.4 * index_sigma * index_range_noise[:, 1])
    index_volume = np.round(volume.sum(axis=1) / 1000.0)

    keep = (days >= start.normalize()) & (days <= end.normalize())
    frames = []
    for j, member in enumerate(universe.members):
        frames.append(
            pd.DataFrame(
                {
                    "date": days[keep],
                    "symbol": member.symbol,
                    "open": open_[keep, j],
                    "high": high[keep, j],
                    "low": low[keep, j],
                    "close": close[keep, j],
                    "adj_close": close[keep, j],  # no dividends in the synthetic market
                    "volume": volume[keep, j],
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
