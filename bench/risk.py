"""Range forecast on real data: how much the SENSEX moves next session, beside the classic baselines.

The target is ln v of the next session, v = Parkinson's range variance + the squared opening gap
(`sensex.features.ranges`). Forecasters (`sensex.models.volatility`): the project's learned one
(a ridge regression on the HAR terms, leverage, the members' median range, dispersion, days
ahead and, pre-open, the overnight S&P 500; penalty chosen on validation), and as baselines the
three-term HAR regression, RiskMetrics EWMA (0.94), GARCH(1,1) (`arch`), the 5- and 22-session
means and yesterday's value; pre-open also HAR + the S&P 500 terms. Every one is fit on the
training window (each with an intercept: its QLIKE-optimal constant), the learned one is chosen
and every 80% / 90% interval of the absolute move is conformal, calibrated as served forecasts are:
on the forecaster's scores of the last 250 settled sessions after training (validation first);
the validation year alone, the method that replaced, is printed beside it.

(a) Fixed split, both modes: train 2005-2017, validate 2018, test 2019-2021 (the full preset's
    segments, as bench/model_quality.py sets them). Then the pre-open model against the close
    model on the sessions both score.
(b) Walk-forward 2012-2021: for each year, train up to two years before it, validate on the
    year before, test the year; the ten test years pooled.

Metrics on the same rows for every forecaster: QLIKE, MSE of ln v, Mincer-Zarnowitz R^2, the AUC
of a big-move session (absolute return above the training median) and the intervals' coverage,
each with a 90% moving-block bootstrap interval (block 10), and the model's paired gain over each
baseline (positive: the model is better). Targets: the model beats EWMA and GARCH on QLIKE with
a paired interval above zero and is at least level with HAR; 80% coverage within 0.77-0.83; the
pre-open model beats the close model on QLIKE.

Reads SENSEX_REAL_DATA/sensex-real (30 members and BSESN.csv, through the project's CSV source into
a temporary SENSEX_HOME) and SENSEX_REAL_DATA/global/GSPC.csv (linked beside them, nothing copied);
without them, says so and stops. Writes bench/results/risk.json.

    .venv/bin/python bench/risk.py                     # both modes, fixed split and walk-forward
    .venv/bin/python bench/risk.py --mode close --skip-walk-forward
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from real_data import GLOBAL, REAL, shown

from sensex.core.settings import load_settings
from sensex.data import store
from sensex.data.ingest import update_store
from sensex.features.dataset import load_panel, prepare, repair
from sensex.features.ranges import ESTIMATOR, RangeData, range_data
from sensex.market import context
from sensex.market.modes import CLOSE, PREOPEN, check_mode
from sensex.market.universe import load_universe
from sensex.models.volatility import (
    BLOCK,
    BOOT,
    MODEL,
    block_indices,
    coverage,
    date_rows,
    evaluate_range,
    fit_range,
    forecastable,
    move_bounds,
    qlike,
    raw_log_forecast,
    score_forecasts,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TRAIN_START = "2005-01-01"
SEGMENTS = {"train_end": "2017-12-31", "valid_end": "2018-12-31", "test_end": "2021-12-31"}
WALK_FORWARD_YEARS = (2012, 2021)
LOOK_AHEAD_DAYS = ("2019-06-28", "2020-03-23", "2021-12-30")  # test sessions rebuilt from the rows known then
COVERAGE_TARGET = (0.77, 0.83)
SUSPICIOUS_QLIKE = 0.35  # far below this on 2019-2021 deserves a look-ahead check
COLUMNS = (("qlike", "QLIKE", 3), ("mse_log", "MSE ln v", 3), ("r2", "MZ R^2", 3), ("big_move_auc", "big-move AUC", 3),
           ("coverage_80", "cover 80%", 3), ("coverage_90", "cover 90%", 3))


def csv_folder(data: Path, global_data: Path, work: Path) -> Path:
    """The member files and GSPC.csv side by side, as the CSV source expects them (links)."""
    folder = work / "csv"
    folder.mkdir()
    for path in sorted(data.iterdir()):
        if path.is_file():
            (folder / path.name).symlink_to(path.resolve())
    (folder / "GSPC.csv").symlink_to((global_data / "GSPC.csv").resolve())
    return folder


def _cell(record: dict, key: str, digits: int) -> str:
    value = record.get(key)
    if value is None or not np.isfinite(value):
        return "-"
    low, high = record.get("intervals", {}).get(key, [np.nan, np.nan])
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def print_table(title: str, scored: dict) -> None:
    print(f"\n{title}")
    header = f"{'forecaster':<11}" + "".join(f"{name:>23}" for _, name, _ in COLUMNS) + f"{'QLIKE gain of model':>30}"
    print(header)
    print("-" * len(header))
    rows = [(MODEL, scored["metrics"])] + list(scored["baselines"].items())
    for name, record in rows:
        gain = record.get("model_gain", {}).get("qlike")
        gain_text = "-" if gain is None else f"{gain[0]:+.3f} [{gain[1]:+.3f}, {gain[2]:+.3f}]"
        print(f"{name:<11}" + "".join(f"{_cell(record, key, digits):>23}" for key, _, digits in COLUMNS)
              + f"{gain_text:>30}")


def targets(scored: dict, fixed: bool = True) -> dict:
    base = scored["baselines"]
    gain = {name: base[name]["model_gain"]["qlike"] for name in ("ewma", "garch", "har") if name in base}
    coverage_80 = scored["coverage_80"]
    return {
        "beats_ewma_qlike": bool(gain["ewma"][1] > 0), "beats_garch_qlike": bool(gain["garch"][1] > 0),
        # "at least level": the model's QLIKE is not significantly worse than HAR's
        "level_with_har_qlike": bool(gain["har"][2] >= 0), "better_than_har_qlike_point": bool(gain["har"][0] > 0),
        "coverage_80_in_range": bool(COVERAGE_TARGET[0] <= coverage_80 <= COVERAGE_TARGET[1]),
    } | ({"qlike_below_0.35_look_ahead_checked": bool(scored["metrics"]["qlike"] < SUSPICIOUS_QLIKE)} if fixed else {})


def fixed_split(data: RangeData, train_start: str, n_boot: int) -> tuple[dict, dict]:
    train = date_rows(data, train_start, SEGMENTS["train_end"])
    valid = date_rows(data, pd.Timestamp(SEGMENTS["train_end"]) + pd.Timedelta(days=1), SEGMENTS["valid_end"])
    test = date_rows(data, pd.Timestamp(SEGMENTS["valid_end"]) + pd.Timedelta(days=1), SEGMENTS["test_end"])
    started = time.perf_counter()
    fit = fit_range(data, train, valid)
    seconds = time.perf_counter() - started
    scored = evaluate_range(data, fit, test, n_boot=n_boot)
    forecasters = fit.portable["forecasters"]
    out = {
        "segments": {name: [str(data.dates[rows[0]].date()), str(data.dates[rows[-1]].date()), int(len(rows))]
                     for name, rows in (("train", train), ("valid", valid), ("test", test))},
        "fit_seconds": round(seconds, 2),
        "chosen": fit.chosen, "validation_qlike": fit.candidates,
        "validation_qlike_har": qlike(data.label[valid], fit.forecasts(data)["har"][valid]),
        "model": forecasters[MODEL], "har": forecasters["har"], "garch": forecasters["garch"]["params"],
        "intervals_z": fit.portable["intervals"][MODEL], "big_move_threshold": fit.portable["big_move_threshold"],
        "counts": data.counts, "range": scored, "targets": targets(scored),
        "coverage_by_year": coverage_by_year(data, fit, test),
        "qlike_log_mean_intercept": log_mean_intercept_qlike(data, fit, train, test),
        "validation_calibration_comparison": validation_coverage(data, fit, test),
    }
    return out, {"fit": fit, "test": test}


def coverage_by_year(data: RangeData, fit, test: np.ndarray) -> dict:
    """The model's 80% and 90% coverage in each test year, and the share of moves below / above."""
    bounds = fit.bounds(data, fit.forecasts(data), test)[MODEL]
    move, years = data.next_abs_move[test], data.dates[test].year
    out = {}
    for year in sorted(set(years)):
        inside = years == year
        out[str(year)] = {"n": int(inside.sum())} | {
            f"{round(level * 100)}": [float(np.mean((move[inside] >= b[inside, 0]) & (move[inside] <= b[inside, 1]))),
                                      float(np.mean(move[inside] < b[inside, 0])), float(np.mean(move[inside] > b[inside, 1]))]
            for level, b in bounds.items()}
    return out


def validation_coverage(data: RangeData, fit, test: np.ndarray) -> dict:
    """The method the rolling calibration replaced, on the same forecasts: every test session's
    quantiles from the validation year alone (`portable["intervals"]`), for comparison."""
    log_h = fit.forecasts(data)[MODEL][test]
    move, out = data.next_abs_move[test], {}
    for level, z in fit.portable["intervals"][MODEL].items():
        out[f"coverage_{round(float(level) * 100)}"] = coverage(move_bounds(log_h, z), move)
    return out


def log_mean_intercept_qlike(data: RangeData, fit, train: np.ndarray, test: np.ndarray) -> dict:
    """Test QLIKE when each forecaster's intercept is the mean log residual on the training window
    (least squares in logs, no smearing), the usual HAR convention; the served
    forecasts use the QLIKE-optimal intercept instead (`volatility.qlike_intercept`)."""
    out = {}
    for name, record in fit.portable["forecasters"].items():
        raw = raw_log_forecast(name, record, data)
        out[name] = qlike(data.label[test], raw[test] + float(np.mean(data.label[train] - raw[train])))
    return out


def look_ahead_check(rows: pd.DataFrame, universe, data: RangeData, fit, days: tuple[str, ...]) -> dict:
    """Each forecast at t rebuilt from the store rows known then (BSE rows up to t; pre-open, the
    S&P 500 rows dated before the session forecast): the largest difference from the full-data one."""
    full = fit.forecasts(data)
    out = {}
    for day in days:
        t = pd.Timestamp(day)
        target = data.target_dates[data.dates == t][0]
        keep = rows["date"] <= t
        if data.mode == PREOPEN:
            keep |= (rows["symbol"] == context.SP500.symbol) & (rows["date"] < target)
        known = rows[keep]
        cut = range_data(known, prepare(known, universe, data.mode))
        i, j = int(np.flatnonzero(data.dates == t)[0]), len(cut.dates) - 1
        assert cut.dates[j] == t
        again = fit.forecasts(cut)
        out[day] = max(float(abs(full[name][i] - again[name][j])) for name in full)
    return out


def walk_forward(data: RangeData, train_start: str, years: tuple[int, int], n_boot: int) -> dict:
    """Yearly refits: train up to the end of Y-2, validate on Y-1, test Y; the years pooled."""
    labels, moves, thresholds, chosen = [], [], [], {}
    forecasts: dict[str, list] = {}
    bounds: dict[str, dict[float, list]] = {}
    per_year = {}
    for year in range(years[0], years[1] + 1):
        train = date_rows(data, train_start, f"{year - 2}-12-31")
        valid = date_rows(data, f"{year - 1}-01-01", f"{year - 1}-12-31")
        test = date_rows(data, f"{year}-01-01", f"{year}-12-31")
        if len(test) == 0:
            continue
        fit = fit_range(data, train, valid)
        log_h = fit.forecasts(data)
        year_bounds = fit.bounds(data, log_h, test)
        chosen[str(year)] = fit.chosen
        labels.append(data.label[test])
        moves.append(data.next_abs_move[test])
        thresholds.append(np.full(len(test), fit.portable["big_move_threshold"]))
        for name, values in log_h.items():
            forecasts.setdefault(name, []).append(values[test])
            for level, b in year_bounds[name].items():
                bounds.setdefault(name, {}).setdefault(level, []).append(b)
        per_year[str(year)] = {name: qlike(data.label[test], values[test]) for name, values in log_h.items()}
        per_year[str(year)]["n"] = int(len(test))
    scored = score_forecasts(np.concatenate(labels), np.concatenate(moves), np.concatenate(thresholds),
                             {name: np.concatenate(parts) for name, parts in forecasts.items()},
                             {name: {level: np.concatenate(parts) for level, parts in levels.items()}
                              for name, levels in bounds.items()}, n_boot=n_boot)
    return {"years": list(years), "chosen": chosen, "qlike_by_year": per_year, "range": scored,
            "targets": targets(scored, fixed=False)}


def preopen_against_close(datas: dict[str, RangeData], fits: dict[str, dict], n_boot: int) -> dict:
    """QLIKE of the close model minus the pre-open model on the test sessions both score, with a
    paired block-bootstrap interval (positive: the pre-open forecast is better)."""
    close, pre = datas[CLOSE], datas[PREOPEN]
    shared = np.intersect1d(close.dates[fits[CLOSE]["test"]], pre.dates[fits[PREOPEN]["test"]])
    rows = {mode: np.flatnonzero(datas[mode].dates.isin(shared) & forecastable(datas[mode])) for mode in (CLOSE, PREOPEN)}
    label = close.label[rows[CLOSE]]
    assert np.allclose(label, pre.label[rows[PREOPEN]]), "the two modes' labels differ on the same sessions"
    log_h = {mode: fits[mode]["fit"].forecasts(datas[mode])[MODEL][rows[mode]] for mode in (CLOSE, PREOPEN)}

    def gain(idx: np.ndarray) -> float:
        return qlike(label[idx], log_h[CLOSE][idx]) - qlike(label[idx], log_h[PREOPEN][idx])

    samples = [gain(idx) for idx in block_indices(len(label), n_boot, BLOCK)]
    point = gain(np.arange(len(label)))
    interval = [float(np.quantile(samples, 0.05)), float(np.quantile(samples, 0.95))]
    return {"n": int(len(label)), "qlike_close": qlike(label, log_h[CLOSE]), "qlike_preopen": qlike(label, log_h[PREOPEN]),
            "qlike_gain_of_preopen": [float(point), *interval], "preopen_beats_close": bool(interval[0] > 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="close,preopen", help="close, preopen or close,preopen (default both)")
    parser.add_argument("--skip-walk-forward", action="store_true")
    parser.add_argument("--train-start", default=TRAIN_START, help=f"first training session (default {TRAIN_START})")
    parser.add_argument("--boot", type=int, default=BOOT, help=f"bootstrap resamples (default {BOOT})")
    parser.add_argument("--data", default=str(REAL), help="directory of the real SENSEX CSV files")
    parser.add_argument("--global-data", default=str(GLOBAL), help="directory holding GSPC.csv (pre-open mode)")
    parser.add_argument("--out", default=str(RESULTS / "risk.json"))
    args = parser.parse_args()
    modes = tuple(dict.fromkeys(check_mode(m.strip()) for m in args.mode.split(",") if m.strip()))
    data_dir, global_dir = Path(args.data), Path(args.global_data)
    if not (data_dir / "BSESN.csv").is_file():
        print(f"risk: skipped, the real SENSEX files are not at {data_dir} (this benchmark runs on real prices only).")
        return 0
    if PREOPEN in modes and not (global_dir / "GSPC.csv").is_file():
        print(f"risk: skipped, the pre-open mode needs {global_dir}/GSPC.csv (the real S&P 500) and it is absent.")
        return 0
    universe = load_universe()
    started = time.perf_counter()
    result: dict = {"benchmark": "risk", "modes": list(modes), "estimator": ESTIMATOR, "train_start": args.train_start,
                    "segments": SEGMENTS, "bootstrap": {"resamples": args.boot, "block": BLOCK, "level": 0.9},
                    "machine": {"python": platform.python_version(), "platform": platform.platform()},
                    "fixed_split": {}, "walk_forward": {}}
    datas, fits = {}, {}
    with tempfile.TemporaryDirectory(prefix="sensex-risk-bench-") as tmp:
        work = Path(tmp)
        settings = load_settings({"SENSEX_HOME": str(work / "home")})
        csv_dir = csv_folder(data_dir, global_dir, work) if PREOPEN in modes else data_dir
        imported = update_store(settings, universe, "csv", csv_dir=csv_dir, yahoo_reachable=lambda: False)
        meta = store.read_meta(settings.store_dir) or {}
        result["data"] = {"dir": shown(data_dir), "content_hash": meta.get("content_hash"), "first_date": meta.get("first_date"),
                          "last_date": meta.get("last_date"), "rows_added": imported["rows_added"]}
        rows = repair(store.read(settings.store_dir), universe.index_symbol)
        for mode in modes:
            datas[mode] = range_data(rows, load_panel(settings, universe, mode=mode))
    for mode in modes:
        fixed, fits[mode] = fixed_split(datas[mode], args.train_start, args.boot)
        fixed["look_ahead_max_difference"] = look_ahead_check(rows, universe, datas[mode], fits[mode]["fit"], LOOK_AHEAD_DAYS)
        result["fixed_split"][mode] = fixed
        seg = fixed["segments"]
        print_table(f"Fixed split, {mode} mode: train {seg['train'][0]}..{seg['train'][1]} (n={seg['train'][2]}),"
                    f" validate {seg['valid'][0]}..{seg['valid'][1]} (n={seg['valid'][2]}), test"
                    f" {seg['test'][0]}..{seg['test'][1]} (n={fixed['range']['n']}); model = {fixed['chosen']}"
                    f" (validation QLIKE {fixed['validation_qlike'][fixed['chosen']]:.3f}, HAR"
                    f" {fixed['validation_qlike_har']:.3f}); 90% block-bootstrap intervals", fixed["range"])
        print(f"Targets: {fixed['targets']}; sessions without a range: {fixed['counts']['no_range_sessions']}")
        print("Model coverage by test year (80%: inside / below / above): " + ", ".join(
            f"{year} {c['80'][0]:.3f} / {c['80'][1]:.3f} / {c['80'][2]:.3f}" for year, c in fixed["coverage_by_year"].items()))
        fixed_year = fixed["validation_calibration_comparison"]
        print(f"Coverage 80% / 90%: rolling calibration (served) {fixed['range']['coverage_80']:.3f} /"
              f" {fixed['range']['coverage_90']:.3f}; the validation year alone (the method it replaced)"
              f" {fixed_year['coverage_80']:.3f} / {fixed_year['coverage_90']:.3f}")
        print("Test QLIKE with the intercept as the mean log residual on training (the usual HAR convention): " + ", ".join(
            f"{name} {value:.3f}" for name, value in fixed["qlike_log_mean_intercept"].items()))
        print("Look-ahead check, forecasts rebuilt from the rows known at t, largest difference: " + ", ".join(
            f"{day} {diff:.1e}" for day, diff in fixed["look_ahead_max_difference"].items()))
    if CLOSE in modes and PREOPEN in modes:
        versus = result["preopen_vs_close"] = preopen_against_close(datas, fits, args.boot)
        gain = versus["qlike_gain_of_preopen"]
        print(f"\nPre-open against close on the same {versus['n']} test sessions: QLIKE {versus['qlike_preopen']:.3f} vs"
              f" {versus['qlike_close']:.3f}, gain {gain[0]:+.3f} [{gain[1]:+.3f}, {gain[2]:+.3f}]")
    for mode in modes if not args.skip_walk_forward else ():
        wf = result["walk_forward"][mode] = walk_forward(datas[mode], args.train_start, WALK_FORWARD_YEARS, args.boot)
        print_table(f"Walk-forward, {mode} mode: {WALK_FORWARD_YEARS[0]}-{WALK_FORWARD_YEARS[1]}, yearly refits"
                    f" (train to Y-2, validate Y-1, test Y), pooled n={wf['range']['n']}", wf["range"])
        print(f"Chosen by year: {wf['chosen']}; targets: {wf['targets']}")
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nWrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
