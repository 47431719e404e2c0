"""The backtest as plain data for the dashboard's Backtest page and `GET /backtest`.

`stored_forecasts` lists the walk-forward forecasts kept under `$SENSEX_HOME/forecasts/walk_forward`
(mode, refit period, span, the file's SHA-256, so a reader can cache a result per file);
`backtest_view` trades one of them like `sensex backtest --walk-forward` does, without an MLflow
run, and returns the summary with the equity curves, the monthly returns and bootstrap intervals of
each curve's Sharpe ratio and CAGR: lists, numbers and strings only (JSON as it is).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from sensex.backtest import statistics
from sensex.backtest.costs import load_costs
from sensex.backtest.forecasts import FOLDER, META_KEY, read_walk_forward
from sensex.backtest.run import _source_summary, index_prices, run_backtest
from sensex.core.settings import Settings
from sensex.market.modes import MODES, check_mode

CURVES = ("strategy", "buy_and_hold", "always_long")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def walk_forward_command(mode: str, universe_spec: str | None = None) -> str:
    """The command that stores a mode's walk-forward forecasts."""
    flag = f" --universe {universe_spec}" if universe_spec else ""
    mode_flag = "" if mode == "close" else f" --mode {mode}"
    return f"sensex evaluate --walk-forward{mode_flag}{flag} --start YYYY-MM-DD --end YYYY-MM-DD"


def stored_forecasts(settings: Settings, universe_key: str) -> list[dict]:
    """Every stored walk-forward forecasts file of the universe, the one written last last: its mode,
    refit period, rows, first and last session, SHA-256 and what the walk-forward recorded. A file
    that cannot be read is listed with `error` (a sentence) instead."""
    import pyarrow.parquet as pq

    folder = settings.home / FOLDER
    out = []
    paths = sorted(folder.glob(f"{universe_key}_*_refit*m.parquet"), key=lambda p: (p.stat().st_mtime, p.name)) \
        if folder.is_dir() else []
    for path in paths:
        mode, _, refit = path.stem.removeprefix(f"{universe_key}_").rpartition("_refit")
        if mode not in MODES or not refit.removesuffix("m").isdigit():
            continue  # another universe whose key starts with this one's
        entry = {"mode": mode, "refit_months": int(refit.removesuffix("m")), "file": path.name}
        try:
            meta = json.loads((pq.read_schema(path).metadata or {}).get(META_KEY, b"{}"))
            dates = pd.to_datetime(pq.read_table(path, columns=["date"]).column("date").to_pandas())
            entry.update({
                "sha256": file_sha256(path), "rows": len(dates),
                "first": str(dates.min().date()) if len(dates) else None,
                "last": str(dates.max().date()) if len(dates) else None,
                **{k: meta.get(k) for k in ("run_id", "model", "preset", "written_at", "data_source", "content_hash")},
                "synthetic": bool(meta.get("synthetic")),
            })
        except (OSError, ValueError, KeyError) as exc:  # pyarrow's errors are ValueError and OSError
            entry["error"] = (f"{path.name} cannot be read ({type(exc).__name__}): run the walk-forward again to"
                              " replace it.")
        out.append(entry)
    return out


def _intervals(returns: np.ndarray, resamples: int = statistics.BOOTSTRAP_RESAMPLES,
               block: int = statistics.BOOTSTRAP_BLOCK, level: float = statistics.BOOTSTRAP_LEVEL,
               seed: int = 0) -> dict:
    """Moving-block bootstrap intervals of one curve's Sharpe ratio and CAGR (the resampling of
    `statistics.sharpe_difference`: same blocks, level and seed)."""
    import empyrical

    r = np.asarray(returns, dtype=np.float64)
    out = {"sharpe_interval": [None, None], "cagr_interval": [None, None]}
    if len(r) < 2 * block:
        return out
    idx = statistics._block_indices(len(r), np.random.default_rng(seed), resamples, block)
    sample = r[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = np.asarray(empyrical.sharpe_ratio(sample.T), dtype=np.float64)
        cagr = np.prod(1 + sample, axis=1) ** (statistics.TRADING_DAYS / len(r)) - 1
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    for key, values in (("sharpe_interval", sharpe), ("cagr_interval", cagr)):
        values = values[np.isfinite(values)]
        if len(values):
            out[key] = [float(v) for v in np.quantile(values, q)]
    return out


def monthly_returns(curves: dict[str, pd.Series]) -> list[dict]:
    """Each calendar month's return of each curve (equity indexed by session, the starting capital
    first): month-end equity over the previous month's end, the first month over the capital."""
    out: dict[str, dict] = {}
    for name, curve in curves.items():
        sessions = curve.iloc[1:]
        ends = sessions.groupby(sessions.index.to_period("M")).last()
        before = pd.Series(np.r_[curve.iloc[0], ends.to_numpy()[:-1]], index=ends.index)
        for month, value in (ends / before - 1).items():
            out.setdefault(str(month), {"month": str(month)})[name] = float(value)
    return list(out.values())


def backtest_view(settings: Settings, universe, mode: str = "close", rule: str = "long_flat",
                  zero_costs: bool = False, refit_months: int | None = None) -> dict:
    """The stored walk-forward forecasts of `mode` (refit every `refit_months`, default the file
    written last) traded by `rule` with the shipped costs (or none), as `sensex backtest
    --walk-forward` trades them, unlogged: its summary, `source` (with the file's `sha256`),
    `curves` (dates and each curve's equity in rupees), `monthly` returns and per-curve intervals."""
    mode = check_mode(mode)
    forecasts, source = read_walk_forward(settings, universe.key, mode, refit_months)
    costs = load_costs()
    if zero_costs:
        costs = costs.without_costs()
    result = run_backtest(forecasts, index_prices(settings, universe.index_symbol), mode, rule, costs,
                          what=f"stored {mode}-mode walk-forward forecasts")
    summary = result.summary
    curves = {name: ledger.curve() for name, ledger in result.ledgers.items()}
    for name, ledger in result.ledgers.items():
        summary[name].update(_intervals(ledger.returns))
    series = dict(curves)
    if result.gap is not None:
        series["gap_not_tradable"] = result.gap.curve()
    dates = curves["strategy"].index
    return {
        **summary,
        "universe": universe.key, "universe_name": universe.name, "index_symbol": universe.index_symbol,
        "source": {**_source_summary(source), "file": Path(source["file"]).name, "sha256": file_sha256(Path(source["file"])),
                   "refit_months": source.get("refit_months"), "synthetic": bool(source.get("synthetic"))},
        "curves": {"dates": [str(d.date()) for d in dates],
                   **{name: [float(v) for v in curve.to_numpy()] for name, curve in series.items()}},
        "monthly": monthly_returns(curves),
    }


def simulated_record_view(settings: Settings, universe, mode: str = "close", refit_months: int | None = None) -> dict:
    """The simulated track record (`sensex.monitoring.simulated_record`) of the stored walk-forward
    forecasts of `mode`, with where they came from; labelled simulated, and synthetic when the
    prices were."""
    from sensex.monitoring.simulated_record import simulated_record

    mode = check_mode(mode)
    forecasts, source = read_walk_forward(settings, universe.key, mode, refit_months)
    prices = index_prices(settings, universe.index_symbol)
    closes = pd.Series(prices["close"].to_numpy(float), index=pd.DatetimeIndex(prices["date"]).normalize())
    record = simulated_record(forecasts, closes)
    return {**record, "simulated": True, "mode": mode, "universe": universe.key,
            "source": {**_source_summary(source), "file": Path(source["file"]).name,
                       "refit_months": source.get("refit_months"), "synthetic": bool(source.get("synthetic"))}}
