"""The statistics a trader asks of an equity curve, from empyrical-reloaded.

empyrical (Quantopian's, kept alive as empyrical-reloaded by the maintainer of zipline-reloaded
and pyfolio-reloaded) computes CAGR, annualised volatility, Sharpe, Sortino, maximum drawdown and
Calmar from daily returns with its documented conventions: 252 sessions a year, risk-free rate 0,
Sortino's downside deviation against a 0 return, Sharpe with the sample standard deviation. It is
numbers only: no plotting, no HTML, no changes to pandas on import (QuantStats extends pandas'
classes when imported). What empyrical does not have (drawdown dates, hit rate, exposure,
turnover, trades, costs, the bootstrap) is computed here from the ledger.

The Sharpe difference against buy-and-hold gets a paired moving-block bootstrap interval (blocks of
10 sessions, as `sensex.models.evaluate` uses): the same resampled sessions for both curves, so
the interval is of the difference itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sensex.backtest.engine import GapLine, Ledger

TRADING_DAYS = 252
BOOTSTRAP_BLOCK, BOOTSTRAP_RESAMPLES, BOOTSTRAP_LEVEL = 10, 1000, 0.9


def _number(value) -> float | None:
    """A float for JSON, None for NaN or an infinity (a Sortino with no losing session)."""
    value = float(value)
    return value if np.isfinite(value) else None


def drawdown_dates(curve: pd.Series) -> dict:
    """The deepest drawdown of an equity curve: the peak before it, its trough, and the first
    session back at the peak's level (None while it has not recovered)."""
    values = curve.to_numpy(np.float64)
    running = np.maximum.accumulate(values)
    depth = values / running - 1
    trough = int(np.argmin(depth))
    if depth[trough] >= 0:
        return {"peak": None, "trough": None, "recovered": None}
    peak = int(np.argmax(values[: trough + 1]))
    after = np.flatnonzero(values[trough:] >= values[peak])
    dates = curve.index
    return {"peak": str(dates[peak].date()), "trough": str(dates[trough].date()),
            "recovered": str(dates[trough + after[0]].date()) if len(after) else None}


def performance(returns: np.ndarray) -> dict:
    """empyrical's figures of a daily return series."""
    import empyrical

    r = np.asarray(returns, dtype=np.float64)
    return {
        "cagr": _number(empyrical.annual_return(r, period="daily")),
        "annual_volatility": _number(empyrical.annual_volatility(r, period="daily")),
        "sharpe": _number(empyrical.sharpe_ratio(r, period="daily")),
        "sortino": _number(empyrical.sortino_ratio(r, period="daily")),
        "max_drawdown": _number(empyrical.max_drawdown(r)),
        "calmar": _number(empyrical.calmar_ratio(r, period="daily")),
    }


def ledger_statistics(ledger: Ledger) -> dict:
    """Everything reported for one way of trading: empyrical's figures, drawdown dates, hit rate
    (share of sessions in the market that made money after costs), exposure, annual turnover,
    trades, and the costs in rupees and as a share of gross profit."""
    r = ledger.returns
    curve = ledger.curve()
    years = len(r) / TRADING_DAYS
    in_market = ledger.in_market
    net = np.diff(np.r_[ledger.capital, ledger.equity])
    gross = float(ledger.gross.sum())
    costs = float(ledger.costs.sum())
    mean_equity = float(np.mean(np.r_[ledger.capital, ledger.equity]))
    return {
        **performance(r),
        "max_drawdown_dates": drawdown_dates(curve),
        "hit_rate": _number(np.mean(net[in_market] > 0)) if in_market.any() else None,
        "exposure": float(np.mean(in_market)),
        "average_exposure": float(np.mean(ledger.exposure)),
        "turnover": _number(ledger.traded_value / mean_equity / years) if years > 0 else None,
        "trades": int(ledger.entries.sum()),
        "orders": len(ledger.fills),
        "sessions": len(r),
        "first_session": str(pd.Timestamp(ledger.dates[0]).date()),
        "last_session": str(pd.Timestamp(ledger.dates[-1]).date()),
        "final_equity": float(ledger.equity[-1]),
        "total_return": float(ledger.equity[-1] / ledger.capital - 1),
        "gross_profit": gross,
        "net_profit": float(ledger.equity[-1] - ledger.capital),
        "costs": {
            "rupees": costs,
            "share_of_gross_profit": _number(costs / gross) if gross > 0 else None,
            "slippage": float(ledger.slippage),
            **{kind: float(rupees) for kind, rupees in ledger.charges.items()},
        },
    }


def gap_statistics(line: GapLine) -> dict:
    """The not-tradable gap line: empyrical's figures of the rule's weights times the opening gap."""
    active = line.weight != 0
    return {
        "label": "not tradable: the rule's positions over the opening gap (close of t to open of t + 1), which a"
                 " pre-open forecast sees coming and a trader acting at the open cannot earn; no costs",
        **performance(line.returns),
        "hit_rate": _number(np.mean(line.returns[active] > 0)) if active.any() else None,
        "total_return": float(line.equity[-1] / line.capital - 1),
        "sessions": len(line.returns),
    }


def _block_indices(n: int, rng: np.random.Generator, resamples: int, block: int) -> np.ndarray:
    """(resamples, n) moving-block bootstrap indices."""
    n_blocks = int(np.ceil(n / block))
    starts = rng.integers(0, n - block + 1, (resamples, n_blocks))
    return (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(resamples, -1)[:, :n]


def sharpe_difference(strategy: np.ndarray, benchmark: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                      block: int = BOOTSTRAP_BLOCK, level: float = BOOTSTRAP_LEVEL, seed: int = 0) -> dict:
    """Sharpe of `strategy` minus Sharpe of `benchmark` on the same sessions, with a paired
    moving-block bootstrap interval at `level`."""
    import empyrical

    a, b = np.asarray(strategy, dtype=np.float64), np.asarray(benchmark, dtype=np.float64)
    point = _number(empyrical.sharpe_ratio(a) - empyrical.sharpe_ratio(b))
    out = {"value": point, "interval": [None, None], "level": level, "block": block, "resamples": resamples}
    if len(a) < 2 * block:
        return out
    idx = _block_indices(len(a), np.random.default_rng(seed), resamples, block)
    with np.errstate(invalid="ignore", divide="ignore"):
        diffs = np.asarray(empyrical.sharpe_ratio(a[idx].T)) - np.asarray(empyrical.sharpe_ratio(b[idx].T))
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs):
        low, high = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
        out["interval"] = [float(low), float(high)]
    return out
