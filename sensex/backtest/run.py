"""`sensex backtest`: trade a rule on out-of-sample forecasts, beside buy-and-hold and always-long,
and log it to MLflow as its own run.

`run_backtest` is the computation (forecasts + index prices -> ledgers -> statistics; no I/O);
`backtest` reads the forecasts (the walk-forward's stored ones, or a registered version's on
sessions after its validation window), the index prices from the store and the costs file, runs
it, and logs the run: parameters (rule, costs file hash, window, mode, ...), the statistics as
metrics, the equity curve as CSV and as a plot, tags naming the model version or walk-forward run
the forecasts came from (a version's metrics are also linked to its logged model).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sensex.backtest import engine, statistics
from sensex.backtest.costs import Costs, load_costs
from sensex.backtest.forecasts import SOURCE_VERSION, read_walk_forward, version_forecasts
from sensex.backtest.rules import Rule, parse_rule
from sensex.core.advice import update_advice
from sensex.core.errors import ConfigError, DataError
from sensex.core.settings import Settings
from sensex.market.modes import PREOPEN, check_mode

log = logging.getLogger(__name__)

CURVE_CSV, CURVE_PLOT, RESULT_JSON = "equity_curve.csv", "equity_curve.png", "backtest.json"
SERIES = ("strategy", "buy_and_hold", "always_long")


@dataclass
class BacktestResult:
    mode: str
    fills: str  # close | open
    rule: Rule
    costs: Costs
    instrument: str
    market: engine.Market
    forecasts: pd.DataFrame  # the rows traded, in order
    ledgers: dict[str, engine.Ledger]
    gap: engine.GapLine | None
    dropped: int = 0  # forecasts in the window without a stored session after them (or not stored themselves)
    summary: dict = field(default_factory=dict)

    def curve_frame(self) -> pd.DataFrame:
        """One row per session: the decision, what the strategy held, each equity curve."""
        m, strategy = self.market, self.ledgers["strategy"]
        frame = pd.DataFrame({
            "decision_date": pd.DatetimeIndex(m.date).date, "session": pd.DatetimeIndex(m.target).date,
            "probability": self.forecasts["probability"].to_numpy(), "no_call": self.forecasts["no_call"].to_numpy(),
            "weight": strategy.weight, "units": strategy.units,
            "index_close_t": m.close, "index_open_next": m.next_open, "index_close_next": m.next_close,
            "strategy_gross_pnl": strategy.gross, "strategy_costs": strategy.costs,
        })
        for name, ledger in self.ledgers.items():
            frame[f"{name}_equity"] = ledger.equity
        if self.gap is not None:
            frame["gap_not_tradable_equity"] = self.gap.equity
        return frame


def _window(forecasts: pd.DataFrame, start: str | None, end: str | None, what: str) -> pd.DataFrame:
    dates = pd.to_datetime(forecasts["date"])
    keep = np.ones(len(forecasts), dtype=bool)
    if start:
        keep &= (dates >= pd.Timestamp(start)).to_numpy()
    if end:
        keep &= (dates <= pd.Timestamp(end)).to_numpy()
    chosen = forecasts[keep].sort_values("date", kind="stable").drop_duplicates("date", keep="last")
    if chosen.empty:
        covered = f"{dates.min().date()}..{dates.max().date()}" if len(dates) else "no sessions"
        raise DataError(f"No {what} from {start or 'the first session'} to {end or 'the last session'} (they cover"
                        f" {covered}): choose a window inside that span.")
    return chosen.reset_index(drop=True)


def run_backtest(forecasts: pd.DataFrame, prices: pd.DataFrame, mode: str, rule: str | Rule = "long_flat",
                 costs: Costs | None = None, instrument: str | None = None, start: str | None = None,
                 end: str | None = None, expected_move: pd.Series | None = None,
                 what: str = "forecasts") -> BacktestResult:
    """Trade `rule` on `forecasts` (date, probability, no_call[, expected_move or expected_move_pct]) over the index
    `prices` (date, open, close) with the fills of `mode`, beside buy-and-hold and always-long."""
    mode = check_mode(mode)
    rule = parse_rule(rule) if isinstance(rule, str) else rule
    costs = costs or load_costs()
    chosen = costs.instrument(instrument)
    if rule.shorts and not chosen.short_selling:
        raise ConfigError(f"Rule {rule.name} sells short, which the {chosen.name} cannot: pick another rule or"
                          " --instrument futures.")
    rows = _window(forecasts, start, end, what)
    market, keep = engine.align(engine.index_prices(prices), rows["date"])
    if not keep.any():
        raise DataError(f"None of the {len(rows)} {what} in the window is followed by a stored index session:"
                        f" {update_advice()}, or choose an earlier window.")
    rows = rows[keep].reset_index(drop=True)
    move = None
    if expected_move is not None:
        move = pd.Series(expected_move).reindex(pd.DatetimeIndex(rows["date"])).to_numpy(np.float64)
    elif "expected_move" in rows:  # a fraction
        move = rows["expected_move"].to_numpy(np.float64)
    elif "expected_move_pct" in rows:  # in percent, as a forecast serves it
        move = rows["expected_move_pct"].to_numpy(np.float64) / 100
    weights = rule.weights(rows["probability"].to_numpy(), rows["no_call"].to_numpy(bool), move)
    fills = engine.CLOSE_FILLS if mode != PREOPEN else engine.OPEN_FILLS
    ledgers = {
        "strategy": engine.trade(market, weights, chosen, costs.capital, fills, "strategy"),
        "buy_and_hold": engine.buy_and_hold(market, chosen, costs.capital, fills),
        "always_long": engine.trade(market, np.ones(len(market)), chosen, costs.capital, fills, "always_long"),
    }
    gap = engine.gap_line(market, weights, costs.capital) if mode == PREOPEN else None
    result = BacktestResult(mode, fills, rule, costs, chosen.key, market, rows, ledgers, gap, int((~keep).sum()))
    result.summary = summarize(result)
    return result


def summarize(result: BacktestResult) -> dict:
    chosen = result.costs.instrument(result.instrument)
    m = result.market
    out = {
        "mode": result.mode, "fills": result.fills,
        "fills_description": ("decided after the close of t, traded at that close (market-on-close), held to the"
                              " close of t + 1" if result.fills == engine.CLOSE_FILLS else
                              "decided before the open of t + 1, traded at that open, closed at its close"),
        "rule": result.rule.name, "rule_description": result.rule.describe(),
        "instrument": {"key": chosen.key, "name": chosen.name, "kind": chosen.kind},
        "capital": result.costs.capital,
        "costs_file": result.costs.file, "costs_sha256": result.costs.sha256, "zero_costs": result.costs.zero,
        "window": {"start": str(pd.Timestamp(m.date[0]).date()), "end": str(pd.Timestamp(m.date[-1]).date()),
                   "first_session": str(pd.Timestamp(m.target[0]).date()),
                   "last_session": str(pd.Timestamp(m.target[-1]).date()), "sessions": len(m),
                   "forecasts_without_prices": result.dropped},
        "no_call_share": float(np.mean(result.forecasts["no_call"].to_numpy(bool))),
        **{name: statistics.ledger_statistics(ledger) for name, ledger in result.ledgers.items()},
        "sharpe_difference": statistics.sharpe_difference(result.ledgers["strategy"].returns,
                                                          result.ledgers["buy_and_hold"].returns),
    }
    out["sharpe_difference"]["against"] = "buy_and_hold"
    if result.gap is not None:
        out["gap_not_tradable"] = statistics.gap_statistics(result.gap)
    return out


def index_prices(settings: Settings, index_symbol: str) -> pd.DataFrame:
    """The stored index rows as the panel sees them (repaired the same way), without building features."""
    from sensex.data import store
    from sensex.features.dataset import repair

    return repair(store.read(settings.store_dir, symbols=[index_symbol]), index_symbol)


def backtest(settings: Settings, mode: str = "close", start: str | None = None, end: str | None = None,
             rule: str = "long_flat", costs_file: str | None = None, walk_forward: bool = False,
             refit_months: int | None = None, version: str | None = None, instrument: str | None = None,
             zero_costs: bool = False, log_run: bool = True) -> dict:
    """`sensex backtest`: the walk-forward's stored forecasts (the default) or a registered version's."""
    from sensex.market.universe import load_universe

    mode = check_mode(mode)
    if version is not None and (walk_forward or refit_months is not None):
        raise ConfigError("Choose one source of forecasts: --walk-forward [--refit-months N] or --version N, not both.")
    if start and end and pd.Timestamp(start) > pd.Timestamp(end):
        raise ConfigError(f"--start {start} comes after --end {end}: give the window's first session first.")
    rule_spec = parse_rule(rule)  # bad input is refused before anything is read
    costs = load_costs(costs_file)
    costs.instrument(instrument)
    if zero_costs:
        costs = costs.without_costs()
    universe = load_universe(settings.universe)
    if version is not None:
        forecasts, source = version_forecasts(settings, universe, mode, version, start, end)
        what = f"forecasts of version {version} after its validation window"
    else:
        forecasts, source = read_walk_forward(settings, universe.key, mode, refit_months)
        what = f"stored {mode}-mode walk-forward forecasts"
    result = run_backtest(forecasts, index_prices(settings, universe.index_symbol), mode, rule_spec, costs,
                          instrument, start, end, what=what)
    out = {**result.summary, "source": _source_summary(source), "universe": universe.key}
    if log_run:
        out["run_id"] = log_backtest_run(settings, result, out, source)
    return out


def _source_summary(source: dict) -> dict:
    keys = ("source", "file", "run_id", "model", "preset", "refit_months", "start", "end", "version", "model_name",
            "content_hash", "written_at", "conformal_half_width")
    return {k: source[k] for k in keys if source.get(k) is not None}


def flat_metrics(summary: dict) -> dict[str, float]:
    """`strategy_sharpe`, `buy_and_hold_costs_rupees`, `sharpe_difference_low`, ... (finite numbers only)."""
    out: dict[str, float] = {}
    for name in (*SERIES, "gap_not_tradable"):
        for key, value in (summary.get(name) or {}).items():
            if key == "costs":
                out.update({f"{name}_costs_{k}": v for k, v in value.items()})
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[f"{name}_{key}"] = value
    difference = summary["sharpe_difference"]
    out["sharpe_difference"] = difference["value"]
    out["sharpe_difference_low"], out["sharpe_difference_high"] = difference["interval"]
    out["no_call_share"] = summary["no_call_share"]
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(float(v))}


def plot_equity(result: BacktestResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    labels = {"strategy": f"strategy ({result.rule.name})", "buy_and_hold": "buy and hold",
              "always_long": "always long (same fills)"}
    for name, ledger in result.ledgers.items():
        curve = ledger.curve() / 1e5
        top.plot(curve.index, curve.to_numpy(), label=labels[name], linewidth=1.2 if name == "strategy" else 0.9)
        running = np.maximum.accumulate(curve.to_numpy())
        bottom.plot(curve.index, curve.to_numpy() / running - 1, linewidth=0.8, label=labels[name])
    if result.gap is not None:
        curve = result.gap.curve() / 1e5
        top.plot(curve.index, curve.to_numpy(), linestyle="--", color="grey", linewidth=0.9,
                 label="opening gap, NOT TRADABLE (no costs)")
    top.set_yscale("log")
    top.set_ylabel("equity, ₹ lakh (log scale)")
    s = result.summary
    top.set_title(f"Backtest {result.mode} mode ({result.fills} fills), {s['window']['first_session']}.."
                  f"{s['window']['last_session']}, {s['instrument']['name']}"
                  f"{', zero costs' if result.costs.zero else ''}", fontsize=10)
    top.legend(fontsize=8, loc="upper left")
    bottom.set_ylabel("drawdown")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def log_backtest_run(settings: Settings, result: BacktestResult, summary: dict, source: dict) -> str:
    """The backtest as its own MLflow run (tag evaluation=backtest), linked to where its forecasts came from."""
    import mlflow

    from sensex.core.processes import current_owner, scratch_dir
    from sensex.registry import tracking

    experiment_id = tracking.configure(settings)
    window = summary["window"]
    params = {"rule": result.rule.name, "mode": result.mode, "fills": result.fills, "instrument": result.instrument,
              "costs_file": Path(result.costs.file).name if not result.costs.zero else result.costs.file,
              "costs_sha256": result.costs.sha256, "zero_costs": result.costs.zero, "capital_rupees": result.costs.capital,
              "window_start": window["start"], "window_end": window["end"], "sessions": window["sessions"],
              "source": source.get("source"), "model": source.get("model")}
    tags = {"evaluation": "backtest", tracking.MODE_TAG: result.mode, "git_commit": tracking.git_commit() or "unknown",
            "forecast_source": source.get("source", "")}
    model_id = None
    if source.get("source") == SOURCE_VERSION:
        params.update({"model_version": source.get("version"), "model_name": source.get("model_name")})
        tags.update({"model_name": source.get("model_name") or "", "model_version": source.get("version") or "",
                     "model_run_id": source.get("run_id") or ""})
        model_uri = mlflow.get_run(source["run_id"]).data.tags.get(tracking.MODEL_URI_TAG, "") if source.get("run_id") else ""
        model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    else:
        params.update({"refit_months": source.get("refit_months"), "walk_forward_preset": source.get("preset")})
        tags.update({"walk_forward_run_id": source.get("run_id") or "", "forecasts_file": source.get("file", "")})
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"backtest-{result.mode}-{result.rule.name}",
                          tags={**current_owner().tags(), **tags}) as run:
        mlflow.log_params({k: v for k, v in params.items() if v is not None})
        mlflow.log_metrics(flat_metrics(summary), model_id=model_id)
        with scratch_dir(settings.home, "backtest") as tmp:
            result.curve_frame().to_csv(Path(tmp) / CURVE_CSV, index=False)
            plot_equity(result, Path(tmp) / CURVE_PLOT)
            (Path(tmp) / RESULT_JSON).write_text(json.dumps({**summary, "source": _source_summary(source)}, indent=1,
                                                            default=str))
            for name in (CURVE_CSV, CURVE_PLOT, RESULT_JSON):
                mlflow.log_artifact(str(Path(tmp) / name))
        return run.info.run_id


def _cell(value, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{value:+.1%}"
    if kind == "ratio":
        return f"{value:+.2f}"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "rupees":
        return f"{value / 1e5:,.1f}L"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def text_report(summary: dict) -> str:
    """The backtest as a table: each way of trading on the same sessions, then the Sharpe
    difference and, pre-open, the gap line that no one acting at the open can trade."""
    window, instrument = summary["window"], summary["instrument"]
    source = summary.get("source", {})
    origin = (f"version {source['version']} of {source.get('model_name')}" if source.get("source") == SOURCE_VERSION
              else f"walk-forward {source.get('model', '?')}, refit every {source.get('refit_months', '?')} months"
              if source else "given forecasts")
    lines = [
        f"Backtest, {summary['mode']} mode: {summary['fills_description']}.",
        f"Rule {summary['rule']} ({summary['rule_description']}); {instrument['name']};"
        f" {'ZERO costs' if summary['zero_costs'] else 'costs ' + Path(summary['costs_file']).name};"
        f" ₹{summary['capital'] / 1e5:,.0f} lakh; forecasts: {origin}.",
        f"Sessions {window['first_session']}..{window['last_session']} (n={window['sessions']},"
        f" no-call share {summary['no_call_share']:.0%}). L = ₹ lakh.",
        "",
        f"{'':<24}{'CAGR':>8}{'Sharpe':>8}{'Sortino':>8}{'MaxDD':>8}{'Calmar':>8}{'Hit':>6}{'Expo':>6}"
        f"{'Turn/yr':>8}{'Trades':>7}{'Costs':>9}{'Cost/gross':>11}{'Final':>9}",
    ]
    labels = {"strategy": "strategy", "buy_and_hold": "buy and hold", "always_long": "always long"}
    for name, label in labels.items():
        s = summary[name]
        lines.append(
            f"{label:<24}{_cell(s['cagr'], 'pct'):>8}{_cell(s['sharpe'], 'ratio'):>8}{_cell(s['sortino'], 'ratio'):>8}"
            f"{_cell(s['max_drawdown'], 'pct'):>8}{_cell(s['calmar'], 'ratio'):>8}{_cell(s['hit_rate'], 'share'):>6}"
            f"{_cell(s['exposure'], 'share'):>6}{_cell(s['turnover'], 'n'):>8}{s['trades']:>7}"
            f"{_cell(s['costs']['rupees'], 'rupees'):>9}{_cell(s['costs']['share_of_gross_profit'], 'share'):>11}"
            f"{_cell(s['final_equity'], 'rupees'):>9}")
    gap = summary.get("gap_not_tradable")
    if gap:
        lines.append(f"{'gap: NOT TRADABLE':<24}{_cell(gap['cagr'], 'pct'):>8}{_cell(gap['sharpe'], 'ratio'):>8}"
                     f"{_cell(gap['sortino'], 'ratio'):>8}{_cell(gap['max_drawdown'], 'pct'):>8}"
                     f"{_cell(gap['calmar'], 'ratio'):>8}{_cell(gap['hit_rate'], 'share'):>6}   (the rule's positions"
                     " over close t -> open t+1; no costs)")
    d = summary["sharpe_difference"]
    low, high = d["interval"]
    interval = f"[{low:+.2f}, {high:+.2f}]" if low is not None else "[n/a]"
    lines += ["", f"Sharpe, strategy minus buy and hold: {_cell(d['value'], 'ratio')}, {d['level']:.0%} block-bootstrap"
                  f" interval {interval} ({d['block']}-session blocks, {d['resamples']} resamples)."]
    dd = summary["strategy"]["max_drawdown_dates"]
    if dd["peak"]:
        lines.append(f"Strategy's deepest drawdown: peak {dd['peak']}, trough {dd['trough']},"
                     f" {'recovered ' + dd['recovered'] if dd['recovered'] else 'not recovered'}.")
    return "\n".join(lines)
