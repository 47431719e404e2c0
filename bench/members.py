"""Member and sector benchmark: the baselines a member forecast must beat, out of sample.

Train ..2017-12-31 (the pooled logistic regression and its scaler see only that), test
2019-01-01..2021-12-31 (2018 is left as the validation year a model would use), on:

- real SENSEX members (the real SENSEX files (SENSEX_REAL_DATA/sensex-real, see real_data.py), imported into a temporary SENSEX_HOME; skipped,
  saying so, without it), and
- the SYNTHETIC market for `sensex` and `nifty50` (2010-2021).

Rows: the model (`sensex train`'s ConvLSTM with member outputs, `--preset`, default quick: train
..2017-12-31, validate 2018, test as the baselines; the served member forecast is its member head
or its pooled linear model, whichever had the higher validation AUC), short-term reversal
(-ret_1), 20-session momentum, pooled logistic regression on each member's own indicators. Columns: pooled AUC, median per-member AUC, members with AUC > 0.5, daily
cross-sectional rank IC (mean, t-statistic, 90% moving-block bootstrap interval) and the AUC of
sectors derived from members (equal-weighted next-session return > 0).

Then, for each data set, the issue's "sector forecasts derived from the members, or trained as
outputs, whichever validates better": a pooled logistic regression trained on sector labels (over
each sector's mean member indicators) against the sector forecast derived from the pooled member
logistic regression (its members' mean logit), both fit ..2017-12-31, chosen on validation (2018)
AUC, test 2019-2021 beside it. Writes bench/results/members.json.

    .venv/bin/python bench/members.py [--preset quick|full] [--no-model]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from real_data import REAL

from sensex.core.settings import load_settings
from sensex.data.ingest import update_store
from sensex.features.dataset import load_panel
from sensex.market.universe import load_universe
from sensex.models.calibrate import apply_calibration, fit_platt, logit
from sensex.models.config import load_config
from sensex.models.evaluate import paired_difference, roc_auc
from sensex.models.members import (
    BLOCK,
    baseline_scores,
    evaluate_baselines,
    member_targets,
    sector_logits,
    sector_truth,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TRAIN_END, TEST_START, TEST_END = "2017-12-31", "2019-01-01", "2021-12-31"
VALID_START, VALID_END = "2018-01-01", "2018-12-31"
NOT_ROWS = ("model_selection", "sector_sources")  # entries of a result that are not table rows


def trained_rows(report) -> tuple[dict, dict]:
    """A training report's member forecasts on its test window (the served source, calibrated on
    validation) and the validation choice between the member head and the pooled linear model."""
    members = report.evaluation["members"]
    return members["model"], {**members.get("selection", {}), "test_segment": report.segments["test"]}


def model_row(panel, sectors: list[str], preset: str, work: Path) -> tuple[dict, dict]:
    """The trained model's member forecasts on the test window, and its validation choice."""
    from sensex.models.train import train_model  # torch only when the model row is asked for

    config = load_config(preset).with_segments(train_end=TRAIN_END, valid_end=VALID_END, test_end=TEST_END)
    started = time.perf_counter()
    report = train_model(panel, config, work / "bundle", "convlstm", sectors=sectors)
    row, selection = trained_rows(report)
    return row, selection | {"seconds": round(time.perf_counter() - started, 1)}


def baseline_rows(panel, sectors: list[str], train_end: str = TRAIN_END, test_start: str = TEST_START,
                  test_end: str = TEST_END) -> dict:
    """Reversal, 20-session momentum and the pooled logistic regression (fit ..train_end), scored on
    [test_start, test_end]."""
    return evaluate_baselines(panel, sectors, train_end, test_start, test_end)


def run(name: str, universe_name: str, source: str, csv_dir: Path | None, work: Path,
        preset: str | None = None) -> dict:
    universe = load_universe(universe_name)
    settings = load_settings({"SENSEX_HOME": str(work / name)})
    update_store(settings, universe, source, csv_dir=csv_dir, start="2010-01-01" if source == "synthetic" else None,
                 end=TEST_END, yahoo_reachable=lambda: False)
    panel = load_panel(settings, universe)
    sectors = [universe.sector_of(s) for s in panel.symbols]
    rows = {}
    if preset:
        rows["model"], rows["model_selection"] = model_row(panel, sectors, preset, work / name)
    return rows | baseline_rows(panel, sectors) | {"sector_sources": sector_sources(panel, sectors)}


def sector_features(panel, sectors: list[str]) -> tuple[list[str], np.ndarray]:
    """(D, G, F): each sector's equal-weighted mean of its available members' indicators (NaN on a
    session without any), the inputs of a sector model trained on sector labels."""
    names = sorted(set(sectors))
    finite = panel.available & np.isfinite(panel.stock).all(axis=2)  # (D, S)
    out = np.full((len(panel.dates), len(names), panel.stock.shape[2]), np.nan)
    for g, name in enumerate(names):
        columns = [j for j, s in enumerate(sectors) if s == name]
        ok = finite[:, columns]
        total = np.where(ok[..., None], panel.stock[:, columns], 0.0).sum(axis=1)
        count = ok.sum(axis=1)
        out[count > 0, g] = total[count > 0] / count[count > 0, None]
    return names, out


def sector_sources(panel, sectors: list[str], train_end: str = TRAIN_END, valid: tuple[str, str] = (VALID_START, VALID_END),
                   test: tuple[str, str] = (TEST_START, TEST_END)) -> dict:
    """Sector forecasts derived from the members or trained as outputs: which validates better?

    Derived: the mean logit of a sector's members under the pooled member logistic regression (the
    `logreg_members` baseline), as served. Trained: a pooled logistic regression on sector labels
    (the sector's equal-weighted next-session return above zero) over the sectors' mean member
    indicators. Both fit on sessions before `train_end` only; the same (session, sector) rows are
    scored. The validation AUC chooses; the test window is reported beside it, with each source
    Platt-calibrated on validation, and the paired block-bootstrap interval of trained minus derived."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    targets = member_targets(panel)
    positions = np.arange(len(panel.dates))
    train_rows = positions[panel.dates < pd.Timestamp(train_end)]
    names, x = sector_features(panel, sectors)
    truth = sector_truth(targets, positions, sectors)  # (D, G)
    member_p = baseline_scores(panel, train_rows, targets)["logreg_members"]  # (D, S)
    member_ok = panel.available & np.isfinite(member_p)
    _, derived = sector_logits(np.where(member_ok, logit(np.nan_to_num(member_p, nan=0.5)), 0.0), member_ok, sectors)
    fit = np.zeros(truth.shape, bool)
    fit[train_rows] = True
    fit &= np.isfinite(truth) & np.isfinite(x).all(axis=2)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    model.fit(x[fit], truth[fit].astype(int))
    trained = np.full(truth.shape, np.nan)
    scorable = np.isfinite(x).all(axis=2)
    trained[scorable] = model.decision_function(x[scorable])

    def segment(start: str, end: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = positions[(panel.dates >= pd.Timestamp(start)) & (panel.dates <= pd.Timestamp(end))]
        ok = np.isfinite(truth[rows]) & np.isfinite(trained[rows]) & np.isfinite(derived[rows])
        return truth[rows][ok], trained[rows][ok], derived[rows][ok]  # session-major: blocks are sessions

    out: dict = {"sectors": names, "train_end": train_end, "windows": {"valid": list(valid), "test": list(test)}}
    calibrations = {}
    for segment_name, (start, end) in (("valid", valid), ("test", test)):
        y, t_logit, d_logit = segment(start, end)
        if segment_name == "valid":
            calibrations = {"trained": fit_platt(t_logit, y, start, end), "derived": fit_platt(d_logit, y, start, end)}
        p_trained = apply_calibration(calibrations["trained"], t_logit)
        p_derived = apply_calibration(calibrations["derived"], d_logit)
        difference = paired_difference(y, p_trained, p_derived, block=BLOCK * len(names))
        out[segment_name] = {
            "n": int(len(y)), "up_share": float(y.mean()),
            "trained_auc": roc_auc(y, p_trained), "derived_auc": roc_auc(y, p_derived),
            "trained_minus_derived_auc": difference["auc"],
            "trained_brier": float(np.mean((p_trained - y) ** 2)), "derived_brier": float(np.mean((p_derived - y) ** 2)),
        }
    out["chosen"] = "trained" if out["valid"]["trained_auc"] > out["valid"]["derived_auc"] else "derived"
    return out


def print_sector_sources(result: dict) -> None:
    windows = result["windows"]
    print(f"Sector forecasts ({len(result['sectors'])} sectors, fit ..{result['train_end']}): trained on sector labels"
          " against derived from the members; AUC, Brier after Platt calibration on validation, and trained minus"
          " derived AUC with its 90% paired block-bootstrap interval")
    for name in ("valid", "test"):
        r = result[name]
        diff, low, high = r["trained_minus_derived_auc"]
        print(f"  {name:<5} {windows[name][0]}..{windows[name][1]} (n={r['n']}): trained AUC {r['trained_auc']:.3f}"
              f" Brier {r['trained_brier']:.4f}; derived AUC {r['derived_auc']:.3f} Brier {r['derived_brier']:.4f};"
              f" trained - derived AUC {diff:+.3f} [{low:+.3f}, {high:+.3f}]")
    print(f"  chosen on validation AUC: {result['chosen']}")




def ic_verdict(rows: dict) -> str | None:
    """The model's daily rank IC against the best baseline's, plainly: is the model's 90% interval
    above the baseline's mean, and do the two intervals overlap? None without a model row."""
    model = rows.get("model")
    baselines = {name: r for name, r in rows.items() if name not in ("model", *NOT_ROWS)}
    if model is None or not baselines:
        return None
    best_name, best = max(baselines.items(), key=lambda item: item[1]["ic_mean"])
    low, high = model["ic_interval"]
    b_low, b_high = best["ic_interval"]
    if low > b_high:
        judgement = "the intervals do not overlap: reliably above it"
    elif model["ic_mean"] > best["ic_mean"]:
        judgement = "higher, but the intervals overlap: not a reliable improvement"
    else:
        judgement = "not above it"
    return (f"Daily rank IC: model {model['ic_mean']:.4f} [{low:.4f}, {high:.4f}] against the best baseline"
            f" {best_name} {best['ic_mean']:.4f} [{b_low:.4f}, {b_high:.4f}]: {judgement}. Sector AUC: model"
            f" {model['sector_auc_pooled']:.3f}, best baseline"
            f" {max(r['sector_auc_pooled'] for r in baselines.values()):.3f}.")


def print_table(title: str, rows: dict) -> None:
    print(f"\n{title}")
    print(f"{'baseline':<16}{'AUC pooled':>11}{'AUC median':>11}{'>0.5':>7}{'IC mean':>9}{'IC t':>7}"
          f"{'IC 90% interval':>19}{'days':>6}{'sector AUC':>11}")
    for name, r in rows.items():
        if name in NOT_ROWS:
            continue
        low, high = r["ic_interval"]
        print(f"{name:<16}{r['auc_pooled']:>11.3f}{r['auc_member_median']:>11.3f}"
              f"{str(r['members_above_half']) + '/' + str(r['members_scored']):>7}{r['ic_mean']:>9.4f}{r['ic_t']:>7.2f}"
              f"{f'[{low:.4f}, {high:.4f}]':>19}{r['ic_days']:>6}{r['sector_auc_pooled']:>11.3f}")
    chosen = rows.get("model_selection")
    if chosen:
        valid = {k: round(v["auc_pooled"], 4) for k, v in chosen.items() if isinstance(v, dict) and "auc_pooled" in v}
        seconds = f"; trained in {chosen['seconds']} s" if "seconds" in chosen else ""
        print(f"model: served member forecast '{chosen['chosen']}' (validation pooled AUC {valid}){seconds}")
    verdict = ic_verdict(rows)
    if verdict:
        print(verdict)
    if "sector_sources" in rows:
        print_sector_sources(rows["sector_sources"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", help="training preset of the model row (quick, full)")
    parser.add_argument("--no-model", action="store_true", help="baselines only (20 s)")
    args = parser.parse_args()
    preset = None if args.no_model else args.preset
    started = time.perf_counter()
    results: dict = {"benchmark": "members", "train_end": TRAIN_END, "valid_end": VALID_END,
                     "test": [TEST_START, TEST_END], "preset": preset}
    with tempfile.TemporaryDirectory(prefix="sensex-members-bench-") as tmp:
        work = Path(tmp)
        if REAL.is_dir():
            results["real_sensex"] = run("real", "sensex", "csv", REAL, work, preset)
            print_table(f"Real SENSEX members ({REAL}), test {TEST_START}..{TEST_END}", results["real_sensex"])
        else:
            print(f"members: real data not found at {REAL}; synthetic only.", file=sys.stderr)
        for universe in ("sensex", "nifty50"):
            key = f"synthetic_{universe}"
            results[key] = run(key, universe, "synthetic", None, work, preset)
            print_table(f"SYNTHETIC {universe} members, test {TEST_START}..{TEST_END}", results[key])
    results["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "members.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"\nWrote {RESULTS / 'members.json'} in {results['seconds']} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
