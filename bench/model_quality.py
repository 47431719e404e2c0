"""Model-quality benchmark on real SENSEX data: every model beside every baseline, out of sample.

(a) Fixed split: train on windows ending up to 2017-12-31, validate (early stopping, calibration,
    the ensemble's combiner and the conformal interval) on 2018, test on 2019-2021.
(b) Walk-forward over 2012-2021: refit every 12 months on everything before the block (its last
    250 windows validate), predict the block, pool the ten blocks.
(c) The quick preset `make run` trains, on the real files with its own default segments (test =
    the last 250 sessions): is its P(UP) collapsed, and does the promotion gate take it?

Rows: ensemble (ConvLSTM seeds + logreg + gbm, combined on validation), ConvLSTM (the ensemble's
first seed, which is exactly `--model convlstm`: same config, same seed), LSTM, gbm, logreg,
always_up, prev_day. Columns: accuracy, AUC, Brier, ECE, each with a 90% moving-block bootstrap
interval, and training seconds; then each model's paired differences against the best baseline,
and the interval's coverage on the test window. Prints the tables and writes
bench/results/model_quality.json (model_quality_quick.json with --quick). Needs
../shared/data/sensex-real (imported into a temporary SENSEX_HOME); without it, says so and stops.

    .venv/bin/python bench/model_quality.py                 # full preset + walk-forward preset
    .venv/bin/python bench/model_quality.py --quick         # smoke run: quick preset, two short blocks
    .venv/bin/python bench/model_quality.py --preset full --walk-forward-preset walkforward
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

from sensex import store
from sensex.config import PromotionConfig, load_config
from sensex.features.dataset import load_panel
from sensex.ingest import update_store
from sensex.models.bundle import load_bundle
from sensex.models.evaluate import paired_difference
from sensex.models.train import train_model
from sensex.models.walkforward import walk_forward
from sensex.serving.gate import judge
from sensex.settings import load_settings
from sensex.universe import load_universe

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "sensex-real"
RESULTS = REPO / "bench" / "results"
SEGMENTS = {"train_end": "2017-12-31", "valid_end": "2018-12-31", "test_end": "2021-12-31"}
WALK_FORWARD = ("2012-01-01", "2021-12-31")
QUICK_WALK_FORWARD = ("2020-01-01", "2021-12-31")
ROWS = ("ensemble", "convlstm", "lstm", "gbm", "logreg", "always_up", "prev_day")
MODELS = ("ensemble", "convlstm", "lstm")
LABELS = {"convlstm": "ConvLSTM", "lstm": "LSTM", "ensemble": "ensemble"}
COLUMNS = ("accuracy", "auc", "brier", "ece")
BASELINES = ("gbm", "logreg", "always_up", "prev_day")


def _row(name: str, report: dict, seconds: float | None) -> dict:
    return {"model": name, **{k: report[k] for k in COLUMNS + ("n", "up_share")},
            "intervals": {k: report.get("intervals", {}).get(k) for k in COLUMNS},
            "train_seconds": None if seconds is None else round(seconds, 2)}


def _cell(value: float, interval: list[float] | None, digits: int) -> str:
    if interval is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    header = f"{'model':<10}" + "".join(f"{c:>24}" for c in ("accuracy", "AUC", "Brier", "ECE")) + f"{'train s':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = [_cell(row[c], row["intervals"][c], 4 if c == "brier" else 3) for c in COLUMNS]
        seconds = "-" if row["train_seconds"] is None else f"{row['train_seconds']:.1f}"
        print(f"{LABELS.get(row['model'], row['model']):<10}" + "".join(f"{c:>24}" for c in cells) + f"{seconds:>10}")


def _describe(differences: dict, metric: str) -> str:
    diff, low, high = differences[metric]
    better = (low > 0) if metric == "auc" else (high < 0)
    worse = (high < 0) if metric == "auc" else (low > 0)
    judgement = "significantly better" if better else "significantly worse" if worse else "within noise"
    digits = 3 if metric == "auc" else 4
    return f"{diff:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}] ({judgement})"


def verdict(rows: list[dict], y: np.ndarray, probabilities: dict[str, np.ndarray]) -> dict:
    """Does each model beat the best baseline on AUC (higher) and Brier (lower)? Plainly stated,
    with paired block-bootstrap intervals of the differences (same rows, same resamples)."""
    by_name = {r["model"]: r for r in rows}
    baselines = [by_name[b] for b in BASELINES if b in by_name]
    best_auc = max(baselines, key=lambda r: r["auc"])
    best_brier = min(baselines, key=lambda r: r["brier"])
    out: dict = {"best_baseline_auc": best_auc["model"], "best_baseline_brier": best_brier["model"], "models": {}}
    lines = []
    for model in (m for m in MODELS if m in by_name):
        row = by_name[model]
        against = {name: paired_difference(y, probabilities[model], probabilities[name])
                   for name in {best_auc["model"], best_brier["model"], "always_up"}}
        auc_text, brier_text = _describe(against[best_auc["model"]], "auc"), _describe(against[best_brier["model"]], "brier")
        out["models"][model] = {
            "beats_best_baseline_auc": row["auc"] > best_auc["auc"], "beats_best_baseline_brier": row["brier"] < best_brier["brier"],
            "minus": against, "text_auc": auc_text, "text_brier": brier_text,
        }
        lines.append(f"{LABELS[model]}: AUC {row['auc']:.3f} vs best baseline {best_auc['model']} {best_auc['auc']:.3f},"
                     f" difference {auc_text}; Brier {row['brier']:.4f} vs best baseline {best_brier['model']}"
                     f" {best_brier['brier']:.4f}, difference {brier_text}; Brier minus always-UP"
                     f" {_describe(against['always_up'], 'brier')}.")
    if "convlstm" in by_name and "lstm" in by_name:
        control = paired_difference(y, probabilities["convlstm"], probabilities["lstm"])
        out["convlstm_minus_lstm"] = control
        lines.append(f"ConvLSTM minus LSTM control: AUC {_describe(control, 'auc')}, Brier {_describe(control, 'brier')}.")
    suspicious = [r["model"] for r in rows if r["accuracy"] > 0.60]
    if suspicious:
        lines.append(f"Accuracy above 60% for {suspicious}: treat as a leak until proven otherwise.")
    out["suspicious_accuracy"] = suspicious
    out["text"] = "\n".join(lines)
    return out


def _uncertainty_summary(report) -> dict:
    u = report.uncertainty or {}
    return {k: u.get(k) for k in ("method", "half_width", "test_coverage", "test_no_call_share", "test_probability_sd")} | {
        "skill": u.get("skill", {}).get("skill"), "skill_reason": u.get("skill", {}).get("reason")}


def fixed_split(panel, preset: str, work: Path) -> dict:
    """The ensemble (whose first seed is the ConvLSTM row) and the LSTM, trained once each."""
    config = load_config(preset).with_segments(**SEGMENTS)
    reports, wall = {}, {}
    for kind in ("ensemble", "lstm"):
        started = time.perf_counter()
        reports[kind] = train_model(panel, config, work / f"bundle-{kind}", kind)
        wall[kind] = time.perf_counter() - started
        extra = f", seeds {reports[kind].seed_seconds} s" if reports[kind].seed_seconds else ""
        print(f"  fixed split: {kind} trained in {reports[kind].fit_seconds:.1f} s ({reports[kind].epochs_run} epochs{extra};"
              f" {wall[kind]:.1f} s with baselines, calibration and ONNX export)", file=sys.stderr)
    ensemble = reports["ensemble"]
    first_seed = next(iter(ensemble.evaluation["seeds"]))
    test = ensemble.predictions["test"]
    probabilities = {"ensemble": test["probability"], "convlstm": test["seeds"][first_seed],
                     "lstm": reports["lstm"].predictions["test"]["probability"], **test["baselines"]}
    rows = [_row("ensemble", ensemble.evaluation["model"]["test"], ensemble.fit_seconds),
            _row("convlstm", ensemble.evaluation["seeds"][first_seed]["test"], ensemble.seed_seconds[0]),
            _row("lstm", reports["lstm"].evaluation["model"]["test"], reports["lstm"].fit_seconds)]
    rows += [_row(name, ensemble.evaluation["baselines"][name]["test"], ensemble.baseline_seconds[name]) for name in BASELINES]
    validation = {"ensemble": ensemble.evaluation["model"]["valid"], "convlstm": ensemble.evaluation["seeds"][first_seed]["valid"],
                  "lstm": reports["lstm"].evaluation["model"]["valid"]}
    return {
        "preset": config.name, "config": config.to_dict(), "segments": ensemble.segments,
        "rows": rows, "verdict": verdict(rows, test["label"], probabilities),
        "validation": {kind: {k: v[k] for k in COLUMNS} for kind, v in validation.items()},
        "ensemble": {**ensemble.ensemble, "seed_epochs": ensemble.seed_epochs, "seed_seconds": ensemble.seed_seconds,
                     "seed_test": {k: {m: v["test"][m] for m in COLUMNS} for k, v in ensemble.evaluation["seeds"].items()}},
        "uncertainty": {"ensemble": _uncertainty_summary(ensemble), "lstm": _uncertainty_summary(reports["lstm"])},
        "epochs_run": {kind: reports[kind].epochs_run for kind in reports},
        "wall_seconds": {kind: round(wall[kind], 1) for kind in reports},
        "onnx_parity_max_abs": {kind: reports[kind].onnx_parity_max_abs for kind in reports},
    }


def quick_check(panel, work: Path) -> dict:
    """The quick preset as `make run` trains it (its own default segments) on the real files:
    collapsed or not, and what the shipped promotion gate says about it."""
    config = load_config("quick")
    started = time.perf_counter()
    report = train_model(panel, config, work / "bundle-quick", "convlstm")
    seconds = time.perf_counter() - started
    gate = judge(load_bundle(work / "bundle-quick"), panel, PromotionConfig())
    test = report.evaluation["model"]["test"]
    p = report.predictions["test"]["probability"]
    return {"preset": "quick", "segments": report.segments, "seconds": round(seconds, 1), "epochs_run": report.epochs_run,
            "calibration": load_bundle(work / "bundle-quick").meta.calibration.to_dict(),
            "test": {k: test[k] for k in COLUMNS} | {"auc_interval": test["intervals"].get("auc")},
            "always_up_test_brier": report.evaluation["baselines"]["always_up"]["test"]["brier"],
            "probability_sd": float(np.std(p)), "probability_range": [float(p.min()), float(p.max())],
            "collapsed": bool(np.std(p) < 0.01), "uncertainty": _uncertainty_summary(report),
            "gate": {"passed": gate.passed, "failures": gate.failures}}


def walk_forward_run(panel, preset: str, span: tuple[str, str]) -> dict:
    config = load_config(preset)
    started = time.perf_counter()
    result = walk_forward(panel, config, *span, kinds=("convlstm", "lstm", "ensemble"))
    wall = time.perf_counter() - started
    rows = [_row(name, result["pooled"][name], result["seconds"].get(name)) for name in ROWS]
    blocks = [{"block": b["block"], "n": b["n"], "up_share": b["up_share"],
               "auc": {name: b["metrics"][name]["auc"] for name in ROWS},
               "brier": {name: b["metrics"][name]["brier"] for name in ROWS},
               "epochs_run": {k: f.get("epochs_run", f.get("seed_epochs")) for k, f in b["fits"].items()}}
              for b in result["blocks"]]
    return {"preset": config.name, "config": config.to_dict(), "span": list(span),
            "refit_months": result["refit_months"], "rows": rows,
            "verdict": verdict(rows, result["predictions"]["label"], result["predictions"]),
            "blocks": blocks, "wall_seconds": round(wall, 1),
            "mean_block_auc": {n: float(np.mean([b["auc"][n] for b in blocks])) for n in ROWS}}


def print_blocks(blocks: list[dict]) -> None:
    # Pooled AUC also ranks rows across blocks, so a per-block constant (always_up) need not score
    # 0.5 pooled; the mean of the blocks' own AUCs does not mix blocks.
    mean_auc = {n: float(np.mean([b["auc"][n] for b in blocks])) for n in ROWS}
    print("\nMean of per-block AUCs: " + ", ".join(f"{LABELS.get(n, n)} {v:.3f}" for n, v in mean_auc.items()))
    print("\nWalk-forward AUC by block")
    print(f"{'block':<24}{'n':>5}{'UP':>7}" + "".join(f"{LABELS.get(n, n):>10}" for n in ROWS))
    for b in blocks:
        print(f"{b['block'][0] + '..' + b['block'][1]:<24}{b['n']:>5}{b['up_share']:>7.3f}"
              + "".join(f"{b['auc'][n]:>10.3f}" for n in ROWS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=None, help="preset for the fixed split (default: full; quick with --quick)")
    parser.add_argument("--walk-forward-preset", default=None,
                        help="preset for the walk-forward (default: walkforward; quick with --quick)")
    parser.add_argument("--quick", action="store_true", help="fast smoke run: quick presets, walk-forward 2020-2021 only")
    parser.add_argument("--skip-walk-forward", action="store_true")
    parser.add_argument("--skip-quick-check", action="store_true")
    parser.add_argument("--data", default=str(REAL), help="directory of real per-symbol CSV files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("sensex.models.walkforward").setLevel(logging.INFO)  # one line per block
    data = Path(args.data)
    if not data.is_dir():
        print(f"model_quality: skipped, real data not found at {data} (the benchmark runs on real prices only).")
        return 0
    preset = args.preset or ("quick" if args.quick else "full")
    wf_preset = args.walk_forward_preset or ("quick" if args.quick else "walkforward")
    span = QUICK_WALK_FORWARD if args.quick else WALK_FORWARD
    universe = load_universe()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sensex-model-bench-") as tmp:
        work = Path(tmp)
        settings = load_settings({"SENSEX_HOME": str(work / "home")})
        imported = update_store(settings, universe, "csv", csv_dir=data, yahoo_reachable=lambda: False)
        panel = load_panel(settings, universe)
        meta = store.read_meta(settings.store_dir) or {}
        print(f"Imported {imported['rows_added']} rows from {data} (quality {imported['quality']['status']},"
              f" last session {imported['last_date']}, content hash {str(meta.get('content_hash'))[:12]}).",
              file=sys.stderr)
        result: dict = {
            "benchmark": "model_quality", "quick": args.quick,
            "data": {"dir": str(data), "content_hash": meta.get("content_hash"),
                     "first_date": meta.get("first_date"), "last_date": meta.get("last_date")},
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count()},
        }
        result["fixed_split"] = fixed_split(panel, preset, work)
        fixed = result["fixed_split"]
        test = fixed["segments"]["test"]
        print_table(f"Fixed split ({fixed['preset']} preset): train ..{SEGMENTS['train_end']}, valid 2018,"
                    f" test {test[0]}..{test[1]} (n={fixed['rows'][0]['n']},"
                    f" UP share {fixed['rows'][0]['up_share']:.3f}); 90% block-bootstrap intervals", fixed["rows"])
        print(fixed["verdict"]["text"])
        u = fixed["uncertainty"]["ensemble"]
        print(f"Ensemble ({fixed['ensemble']['combiner']['rule']} of {', '.join(fixed['ensemble']['inputs'])},"
              f" weights {[round(w, 3) for w in fixed['ensemble']['combiner']['weights']]}, chosen on 2018 by cross-fitted"
              f" log-loss {fixed['ensemble']['combiner']['validation_log_loss']}): 90% interval half-width {u['half_width']:.3f},"
              f" test coverage {u['test_coverage']:.3f}, no-call share {u['test_no_call_share']:.3f}, skill {u['skill']}"
              f" ({u['skill_reason']}).")
        ensemble_row = next(r for r in fixed["rows"] if r["model"] == "ensemble")
        always_up = next(r for r in fixed["rows"] if r["model"] == "always_up")
        result["targets"] = {"ensemble_brier_below_always_up": ensemble_row["brier"] < always_up["brier"],
                             "ensemble_ece_at_most_0.03": ensemble_row["ece"] <= 0.03}
        if not args.skip_quick_check:
            quick = result["quick_check"] = quick_check(panel, work)
            result["targets"]["quick_not_collapsed"] = not quick["collapsed"]
            print(f"\nQuick preset on the real files (test {quick['segments']['test'][0]}..{quick['segments']['test'][1]},"
                  f" {quick['epochs_run']} epochs, {quick['seconds']} s): P(UP) sd {quick['probability_sd']:.4f}"
                  f" (range {quick['probability_range'][0]:.3f}-{quick['probability_range'][1]:.3f}),"
                  f" {'COLLAPSED' if quick['collapsed'] else 'not collapsed'}; test AUC {quick['test']['auc']:.3f},"
                  f" Brier {quick['test']['brier']:.4f} vs always-UP {quick['always_up_test_brier']:.4f};"
                  f" gate {'passes' if quick['gate']['passed'] else 'refuses: ' + '; '.join(quick['gate']['failures'])}")
        print(f"Targets: {result['targets']}")
        if not args.skip_walk_forward:
            result["walk_forward"] = walk_forward_run(panel, wf_preset, span)
            wf = result["walk_forward"]
            print_table(f"Walk-forward ({wf['preset']} preset): {span[0]}..{span[1]}, refit every"
                        f" {wf['refit_months']} months (n={wf['rows'][0]['n']}, UP share {wf['rows'][0]['up_share']:.3f});"
                        f" pooled over blocks, train s summed over refits", wf["rows"])
            print(wf["verdict"]["text"])
            print_blocks(wf["blocks"])
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("model_quality_quick.json" if args.quick else "model_quality.json")
    out.write_text(json.dumps(result, indent=1, default=lambda x: x.item() if isinstance(x, np.generic) else str(x)))
    print(f"\nTotal {result['total_seconds']} s; wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
