"""Member and sector benchmark: the baselines a member forecast must beat, out of sample.

Train ..2017-12-31 (the pooled logistic regression and its scaler see only that), test
2019-01-01..2021-12-31 (2018 is left as the validation year a model would use), on:

- real SENSEX members (../shared/data/sensex-real, imported into a temporary SENSEX_HOME; skipped,
  saying so, without it), and
- the SYNTHETIC market for `sensex` and `nifty50` (2010-2021).

Rows: the model (`sensex train`'s ConvLSTM with member outputs, `--preset`, default quick: train
..2017-12-31, validate 2018, test as the baselines; the served member forecast is its member head
or its pooled linear model, whichever had the higher validation AUC), short-term reversal
(-ret_1), 20-session momentum, pooled logistic regression on each member's own indicators. Columns: pooled AUC, median per-member AUC, members with AUC > 0.5, daily
cross-sectional rank IC (mean, t-statistic, 90% moving-block bootstrap interval) and the AUC of
sectors derived from members (equal-weighted next-session return > 0). Writes
bench/results/members.json.

    .venv/bin/python bench/members.py [--preset quick|full] [--no-model]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from sensex.config import load_config
from sensex.features.dataset import load_panel
from sensex.ingest import update_store
from sensex.models.members import evaluate_baselines
from sensex.settings import load_settings
from sensex.universe import load_universe

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "sensex-real"
RESULTS = REPO / "bench" / "results"
TRAIN_END, TEST_START, TEST_END = "2017-12-31", "2019-01-01", "2021-12-31"
VALID_END = "2018-12-31"


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
    return rows | baseline_rows(panel, sectors)


def ic_verdict(rows: dict) -> str | None:
    """The model's daily rank IC against the best baseline's, plainly: is the model's 90% interval
    above the baseline's mean, and do the two intervals overlap? None without a model row."""
    model = rows.get("model")
    baselines = {name: r for name, r in rows.items() if name not in ("model", "model_selection")}
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
        if name == "model_selection":
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
