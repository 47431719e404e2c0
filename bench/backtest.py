"""Backtest benchmark on real SENSEX data: what the walk-forward's forecasts would have made, after
costs, against just holding the index, in rupees.

For one mode at a time (`--mode close` or `--mode preopen`; each walk-forward takes ~15 minutes on 2
cores): imports ../shared/data/sensex-real (and, pre-open, ../shared/data/global/GSPC.csv, linked
beside it) into a temporary SENSEX_HOME as bench/model_quality.py does, runs the existing
walk-forward over 2012-2021 (`sensex evaluate --walk-forward`: the walkforward preset, ConvLSTM,
refit every 12 months), which stores each session's out-of-sample P(UP), no-call flag and fold under
$SENSEX_HOME/forecasts/walk_forward/, then backtests those stored forecasts: rules long_flat,
long_short, skip_no_call, threshold:0.55 and long_flat sized to 15% annualised volatility by the
range forecast's expected move (vol_target:0.15, refit on the same blocks) on SENSEX futures with
the shipped costs and with zero costs, long_flat on the index ETF, each beside buy-and-hold and
always-long on the same sessions.
Prints the tables and a verdict; merges its mode into bench/results/backtest.json.

    .venv/bin/python bench/backtest.py --mode close
    .venv/bin/python bench/backtest.py --mode preopen
    .venv/bin/python bench/backtest.py --mode close --home /tmp/bt-close   # keep the home: a rerun
                                                                            # reuses the stored forecasts
Nothing from the data folder is copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sensex.backtest.costs import load_costs
from sensex.backtest.forecasts import read_walk_forward, walk_forward_path
from sensex.backtest.run import backtest, index_prices, run_backtest, text_report
from sensex.core.settings import load_settings
from sensex.data import store
from sensex.data.ingest import update_store
from sensex.market.modes import CLOSE, PREOPEN, check_mode
from sensex.market.universe import load_universe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_data import GLOBAL, REAL, shown  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SPAN = ("2012-01-01", "2021-12-31")
REFIT_MONTHS = 12
RULES = ("long_flat", "long_short", "skip_no_call", "threshold:0.55")
# Sized by the range forecast the walk-forward refits beside the direction model (stored per
# session as expected_move): long/flat at 15% annualised volatility.
SIZED = "vol_target:0.15"
KEYS = ("cagr", "annual_volatility", "sharpe", "sortino", "max_drawdown", "max_drawdown_dates", "calmar", "hit_rate",
        "exposure", "turnover", "trades", "orders", "final_equity", "total_return", "gross_profit", "net_profit", "costs")


def csv_folder(data: Path, global_data: Path, work: Path) -> Path:
    """The member files and GSPC.csv side by side, as links in a temporary folder (nothing copied)."""
    folder = work / "csv"
    folder.mkdir()
    for path in sorted(data.iterdir()):
        if path.is_file() and path.suffix == ".csv":
            (folder / path.name).symlink_to(path.resolve())
    (folder / "GSPC.csv").symlink_to((global_data / "GSPC.csv").resolve())
    return folder


def open_quality(prices) -> dict:
    """How far the stored index opens can be trusted: a pre-open backtest trades them."""
    opens, closes = prices["open"].to_numpy(np.float64), prices["close"].to_numpy(np.float64)
    previous = np.r_[np.nan, closes[:-1]]
    gap = opens / previous - 1
    return {"sessions": len(prices), "open_missing": int(np.sum(~np.isfinite(opens))),
            "open_equals_previous_close": float(np.mean(np.isclose(opens[1:], previous[1:], rtol=0, atol=0.005))),
            "open_equals_close": float(np.mean(np.isclose(opens, closes, rtol=0, atol=0.005))),
            "gap_abs_mean": float(np.nanmean(np.abs(gap))), "gap_abs_p99": float(np.nanpercentile(np.abs(gap), 99))}


def trimmed(summary: dict) -> dict:
    out = {name: {k: summary[name][k] for k in KEYS} for name in ("strategy", "buy_and_hold", "always_long")}
    out["sharpe_difference"] = summary["sharpe_difference"]
    out["fills"] = summary["fills"]
    if "gap_not_tradable" in summary:
        out["gap_not_tradable"] = summary["gap_not_tradable"]
    out.update({k: summary[k] for k in ("rule", "instrument", "window", "no_call_share", "zero_costs")})
    return out


def compact_table(rows: list[tuple[str, dict]]) -> str:
    lines = [f"{'rule':<27}{'costs':<8}{'instr':<8}{'CAGR':>8}{'B&H':>8}{'Sharpe':>8}{'B&H':>7}{'dSharpe [90%]':>22}"
             f"{'MaxDD':>8}{'Hit':>6}{'Expo':>6}{'Trades':>7}{'Costs L':>9}{'/gross':>8}"
             + ("{:>10}".format("gap CAGR") if rows and "gap_not_tradable" in rows[0][1] else "")]
    for label, s in rows:
        st, bh, d = s["strategy"], s["buy_and_hold"], s["sharpe_difference"]
        low, high = d["interval"]
        share = st["costs"]["share_of_gross_profit"]
        difference = f"{d['value']:+.2f} [{low:+.2f},{high:+.2f}]" if low is not None else "n/a"
        line = (f"{s['rule']:<27}{label:<8}{s['instrument']['key']:<8}{st['cagr']:>+8.1%}{bh['cagr']:>+8.1%}"
                f"{st['sharpe'] if st['sharpe'] is not None else float('nan'):>+8.2f}{bh['sharpe']:>+7.2f}"
                f"{difference:>22}"
                f"{st['max_drawdown']:>+8.1%}{st['hit_rate'] if st['hit_rate'] is not None else float('nan'):>6.0%}"
                f"{st['exposure']:>6.0%}{st['trades']:>7}{st['costs']['rupees'] / 1e5:>9.1f}"
                f"{f'{share:.0%}' if share is not None else 'n/a':>8}")
        if "gap_not_tradable" in s:
            line += f"{s['gap_not_tradable']['cagr']:>+10.1%}"
        lines.append(line)
    return "\n".join(lines)


def verdict(mode: str, runs: dict) -> str:
    base, zero = runs["long_flat|default|futures"], runs["long_flat|zero|futures"]
    st, bh, d = base["strategy"], base["buy_and_hold"], base["sharpe_difference"]
    low, high = d["interval"]
    where = ("below buy-and-hold's" if high is not None and high < 0 else "above buy-and-hold's"
             if low is not None and low > 0 else "not distinguishable from buy-and-hold's")
    best = max(runs.items(), key=lambda kv: kv[1]["strategy"]["sharpe"] if kv[1]["strategy"]["sharpe"] is not None
               and not kv[1]["zero_costs"] else -np.inf)
    share = st["costs"]["share_of_gross_profit"]
    text = (f"{mode} mode, {base['window']['first_session']}..{base['window']['last_session']}"
            f" ({base['window']['sessions']} sessions), SENSEX futures, ₹1 crore: long/flat on the walk-forward's"
            f" P(UP) made a CAGR of {st['cagr']:+.1%} after costs ({zero['strategy']['cagr']:+.1%} before) against"
            f" buy-and-hold's {bh['cagr']:+.1%}; Sharpe {st['sharpe']:+.2f} vs {bh['sharpe']:+.2f}, a difference of"
            f" {d['value']:+.2f} with 90% interval [{low:+.2f}, {high:+.2f}]: {where}. Costs and slippage came to"
            f" ₹{st['costs']['rupees'] / 1e5:,.1f} lakh"
            + (f", {share:.0%} of the gross profit" if share is not None else " with no gross profit to pay them from")
            + f" (buy-and-hold paid ₹{bh['costs']['rupees'] / 1e5:,.1f} lakh, mostly monthly rolls)."
            f" Best rule after costs by Sharpe: {best[1]['rule']} on {best[1]['instrument']['key']}"
            f" ({best[1]['strategy']['sharpe']:+.2f}).")
    if mode == PREOPEN:
        gap, always = base["gap_not_tradable"], base["always_long"]
        text += (f" The skill a pre-open forecast has is the opening gap: the same positions over close(t) -> open(t+1)"
                 f" would have made a CAGR of {gap['cagr']:+.1%} (Sharpe {gap['sharpe']:+.2f}, no costs), but that"
                 f" move happens before anyone acting at the open can trade; from the open to the close, where the"
                 f" trade is, the strategy made {st['cagr']:+.1%} and always-long (buy at every open, sell at every"
                 f" close) {always['cagr']:+.1%}, against {bh['cagr']:+.1%} for holding through the nights.")
    z = zero["sharpe_difference"]
    z_low, z_high = z["interval"]
    if z_low is not None and z_low > 0:
        judged = ("it survives costs" if low is not None and low > 0 else
                  "costs eat it: after them the difference is no longer distinguishable from 0" if high is None or
                  high >= 0 else "costs turn it into a loss against holding the index")
        text += f" Before costs the difference was {z['value']:+.2f} [{z_low:+.2f}, {z_high:+.2f}], above 0: {judged}."
    elif z_high is not None and z_high < 0:
        text += (f" Even before costs the difference was {z['value']:+.2f} [{z_low:+.2f}, {z_high:+.2f}]: worse than"
                 " holding the index.")
    else:
        text += (f" Even before costs the difference was {z['value']:+.2f} [{z_low:+.2f}, {z_high:+.2f}]: no evidence"
                 " that acting on the forecast beats holding the index.")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default=CLOSE, help="close or preopen (one at a time: each walk-forward takes ~15 min)")
    parser.add_argument("--home", default=None, help="keep the SENSEX_HOME here; its stored forecasts are reused")
    parser.add_argument("--data", default=str(REAL), help="directory of real per-symbol CSV files")
    parser.add_argument("--global-data", default=str(GLOBAL), help="directory holding GSPC.csv")
    args = parser.parse_args()
    mode = check_mode(args.mode)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("sensex.models.walkforward").setLevel(logging.INFO)
    data, global_data = Path(args.data), Path(args.global_data)
    if not data.is_dir() or (mode == PREOPEN and not (global_data / "GSPC.csv").is_file()):
        print(f"backtest bench: skipped, the real data is not at {data} (and {global_data}/GSPC.csv for preopen).")
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sensex-backtest-bench-") as tmp:
        work = Path(tmp)
        home = Path(args.home) if args.home else work / "home"
        settings = load_settings({"SENSEX_HOME": str(home)})
        universe = load_universe()
        if not store.exists(settings.store_dir):
            update_store(settings, universe, "csv", csv_dir=csv_folder(data, global_data, work),
                         yahoo_reachable=lambda: False)
        meta = store.read_meta(settings.store_dir) or {}
        timings: dict[str, float] = {}
        stored = walk_forward_path(settings, universe.key, mode, REFIT_MONTHS)
        # Reused when it covers the span and carries the range forecast's expected move (older files do not).
        kept = read_walk_forward(settings, universe.key, mode, REFIT_MONTHS) if stored.is_file() else None
        reused = kept is not None and kept[1].get("start") == SPAN[0] and "expected_move" in kept[0]
        if not reused:
            from sensex.jobs import commands

            phase = time.perf_counter()
            wf = commands.walk_forward(settings, *SPAN, preset="walkforward", model="convlstm",
                                       refit_months=REFIT_MONTHS, mode=mode)
            timings["walk_forward"] = round(time.perf_counter() - phase, 1)
            print(f"Walk-forward {mode}: n={wf['n']}, AUC {wf['metrics']['auc']:.3f}, {timings['walk_forward']} s;"
                  f" forecasts stored at {wf['forecasts_file']}", file=sys.stderr)
        costs = load_costs()
        runs: dict[str, dict] = {}
        seconds: list[float] = []
        stored_forecasts = read_walk_forward(settings, universe.key, mode, REFIT_MONTHS)[0]
        sized = bool(np.isfinite(stored_forecasts.get("expected_move", np.array([np.nan]))).all())
        if not sized:
            print(f"{SIZED} left out: the stored forecasts lack an expected move for some sessions.", file=sys.stderr)
        for label, chosen in (("default", costs), ("zero", costs.without_costs())):
            for rule in (*RULES, SIZED) if sized else RULES:
                phase = time.perf_counter()  # a backtest of the stored forecasts: read, price, trade, statistics
                forecasts, source = read_walk_forward(settings, universe.key, mode, REFIT_MONTHS)
                result = run_backtest(forecasts, index_prices(settings, universe.index_symbol), mode, rule, chosen)
                seconds.append(time.perf_counter() - phase)
                runs[f"{rule}|{label}|futures"] = {**result.summary, "source": {k: source.get(k) for k in (
                    "run_id", "model", "preset", "refit_months", "start", "end")}}
        result = run_backtest(forecasts, index_prices(settings, universe.index_symbol), mode, "long_flat", costs,
                              instrument="etf")
        runs["long_flat|default|etf"] = {**result.summary, "source": runs["long_flat|default|futures"]["source"]}
        timings["backtest_from_stored_forecasts_max"] = round(max(seconds), 3)
        timings["backtest_from_stored_forecasts_median"] = round(float(np.median(seconds)), 3)
        phase = time.perf_counter()  # the command's whole path: the same backtest logged as an MLflow run
        logged = backtest(settings, mode, rule="long_flat", walk_forward=True, refit_months=REFIT_MONTHS)
        timings["backtest_command_with_mlflow_run"] = round(time.perf_counter() - phase, 1)
        quality = open_quality(index_prices(settings, universe.index_symbol))

        print(f"\n=== Backtest of the {mode}-mode walk-forward (ConvLSTM, walkforward preset, refit every"
              f" {REFIT_MONTHS} months), real data, content hash {str(meta.get('content_hash'))[:12]} ===\n")
        print(text_report({**runs["long_flat|default|futures"], "source": {"source": "walk-forward", "model": "convlstm",
                                                                            "refit_months": REFIT_MONTHS}}))
        print()
        print(text_report({**runs["long_short|default|futures"], "source": {"source": "walk-forward",
                                                                             "model": "convlstm",
                                                                             "refit_months": REFIT_MONTHS}}))
        print("\nAll rules (futures unless etf; L = ₹ lakh; dSharpe = strategy minus buy-and-hold):")
        print(compact_table([(key.split("|")[1], s) for key, s in runs.items()]))
        print(f"\nIndex opens stored: {quality['open_missing']} missing, open = previous close on"
              f" {quality['open_equals_previous_close']:.1%} of sessions, open = close on {quality['open_equals_close']:.1%};"
              f" mean |gap| {quality['gap_abs_mean']:.3%}.")
        text = verdict(mode, runs)
        print(f"\nVerdict: {text}")
        print(f"\nTimes: {timings}")
        record = {"mode": mode, "span": list(SPAN), "refit_months": REFIT_MONTHS, "preset": "walkforward",
                  "model": "convlstm", "costs_sha256": costs.sha256, "capital_rupees": costs.capital,
                  "data": {"dir": shown(data), "content_hash": meta.get("content_hash"), "last_date": meta.get("last_date")},
                  "walk_forward_run_id": runs["long_flat|default|futures"]["source"]["run_id"],
                  "mlflow_backtest_run_id": logged["run_id"], "open_quality": quality,
                  "runs": {key: trimmed(s) for key, s in runs.items()}, "verdict": text, "seconds": timings,
                  "machine": {"python": platform.python_version(), "platform": platform.platform(),
                              "cpus": os.cpu_count()}, "total_seconds": round(time.perf_counter() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "backtest.json"
    merged = json.loads(out.read_text()) if out.is_file() else {}
    merged["benchmark"] = "backtest"
    merged[mode] = record
    out.write_text(json.dumps(merged, indent=1, default=str) + "\n")
    print(f"Wrote {out} ({mode}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
