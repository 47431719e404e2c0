"""Model-quality benchmark on real SENSEX data: every model beside every baseline, out of sample.

(a) Fixed split: train on windows ending up to 2017-12-31, validate (early stopping, calibration,
    the ensemble's combiner and the conformal interval) on 2018, test on 2019-2021.
(b) Walk-forward over 2012-2021: refit every 12 months on everything before the block (its last
    250 windows validate), predict the block, pool the ten blocks. The blocks (and in (a) the
    ensemble's seeds) run as Ray tasks on a local instance of `--workers` CPUs (default 2) at one
    torch thread each; the results are those of one process at `--threads 1`.
(c) The quick preset `make run` trains, on the real files with its own default segments (test =
    the last 250 sessions): is its P(UP) collapsed, and does the promotion gate take it?

Rows: ensemble (ConvLSTM seeds + logreg + gbm, combined on validation), ConvLSTM (the ensemble's
first seed, which is exactly `--model convlstm`: same config, same seed), LSTM, gbm, logreg,
always_up, prev_day, and in pre-open mode sp500_rule ("UP when the S&P 500 rose on its last
session"). Columns: accuracy, AUC, Brier, ECE, each with a 90% moving-block bootstrap interval,
and training seconds; then the same probabilities scored after the open (close > open of the
target session, `metrics_after_open`), each model's paired differences against the best baseline
(and, pre-open, against sp500_rule), and the interval's coverage on the test window. Prints the
tables and writes bench/results/model_quality[_preopen|_close_preopen][_quick][_walk_forward].json
(the last with --skip-fixed-split).

(d) Members and sectors (close mode, `--skip-members` leaves it out), as bench/members.py scores
    them and with its code: the ensemble's member forecasts from (a) beside short-term reversal,
    20-session momentum and a pooled logistic regression on the same 2019-2021 rows: pooled AUC,
    median member AUC, daily cross-sectional rank IC (mean, t, 90% block-bootstrap interval) and
    the AUC of sectors derived from their members.

`--mode preopen` (or `--mode close,preopen`) also imports the real S&P 500 (SENSEX_REAL_DATA/global/GSPC.csv), linked
beside the member files in a temporary folder (nothing is copied into the repository), builds the
pre-open panel and trains pre-open models, and (b) walks forward in each mode asked for; (c) and
(d) run in close mode only. Needs the real SENSEX files (SENSEX_REAL_DATA/sensex-real, see real_data.py) (imported into a temporary
SENSEX_HOME); without it, says so and stops.

    .venv/bin/python bench/model_quality.py                 # close: full preset + walk-forward preset
    .venv/bin/python bench/model_quality.py --quick         # smoke run: quick preset, two short blocks
    .venv/bin/python bench/model_quality.py --mode preopen --skip-walk-forward   # pre-open fixed split
    .venv/bin/python bench/model_quality.py --mode preopen --skip-fixed-split     # pre-open walk-forward
    .venv/bin/python bench/model_quality.py --skip-fixed-split --skip-quick-check \
        --walk-forward-models convlstm,lstm                # walk-forward alone, without the ensemble
    .venv/bin/python bench/model_quality.py --skip-fixed-split --skip-quick-check \
        --walk-forward-span 2021-01-01,2021-12-31          # one block: what a refit costs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from real_data import GLOBAL, REAL, shown

from sensex.core.settings import load_settings
from sensex.data import store
from sensex.data.ingest import update_store
from sensex.features.dataset import load_panel
from sensex.features.labels import after_open_label
from sensex.market import context
from sensex.market.modes import CLOSE, PREOPEN, check_mode
from sensex.market.universe import load_universe
from sensex.models.bundle import load_bundle
from sensex.models.calibrate import shift_probabilities
from sensex.models.config import PromotionConfig, load_config
from sensex.models.evaluate import (
    classification_metrics,
    expected_calibration_error,
    metrics_after_open,
    paired_difference,
)
from sensex.models.reliability import reliability_table
from sensex.models.segments import split_segments
from sensex.models.train import train_model
from sensex.models.walkforward import walk_forward
from sensex.registry.gate import judge

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SEGMENTS = {"train_end": "2017-12-31", "valid_end": "2018-12-31", "test_end": "2021-12-31"}
WALK_FORWARD = ("2012-01-01", "2021-12-31")
QUICK_WALK_FORWARD = ("2020-01-01", "2021-12-31")
MODELS = ("ensemble", "convlstm", "lstm")
LABELS = {"convlstm": "ConvLSTM", "lstm": "LSTM", "ensemble": "ensemble"}
COLUMNS = ("accuracy", "auc", "brier", "ece")
AFTER_OPEN = ("accuracy", "auc", "brier")
BASELINES = ("gbm", "logreg", "always_up", "prev_day", "sp500_rule")  # sp500_rule: pre-open panels only
PREOPEN_AUC_TARGET = 0.63


def _member_bench():
    """bench/members.py, whose member and sector rows, verdict and table this benchmark reuses."""
    spec = importlib.util.spec_from_file_location("members_bench", Path(__file__).resolve().with_name("members.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MEMBER_BENCH = _member_bench()
assert MEMBER_BENCH.TRAIN_END == SEGMENTS["train_end"] and MEMBER_BENCH.TEST_END == SEGMENTS["test_end"]


def _row(name: str, report: dict, seconds: float | None, after_open: dict | None = None) -> dict:
    row = {"model": name, **{k: report[k] for k in COLUMNS + ("n", "up_share")},
           "intervals": {k: report.get("intervals", {}).get(k) for k in COLUMNS},
           "train_seconds": None if seconds is None else round(seconds, 2)}
    if after_open is not None:
        row["after_open"] = {k: after_open[k] for k in (*AFTER_OPEN, "n", "up_share")} | {
            "intervals": {k: after_open.get("intervals", {}).get(k) for k in AFTER_OPEN}}
    return row


def _cell(value: float, interval: list[float] | None, digits: int) -> str:
    if interval is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    header = f"{'model':<11}" + "".join(f"{c:>24}" for c in ("accuracy", "AUC", "Brier", "ECE")) + f"{'train s':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = [_cell(row[c], row["intervals"][c], 4 if c == "brier" else 3) for c in COLUMNS]
        seconds = "-" if row["train_seconds"] is None else f"{row['train_seconds']:.1f}"
        print(f"{LABELS.get(row['model'], row['model']):<11}" + "".join(f"{c:>24}" for c in cells) + f"{seconds:>10}")


def print_after_open(rows: list[dict]) -> None:
    first = rows[0]["after_open"]
    print(f"\nThe same test probabilities against the move after the open, close > open of the target session"
          f" (n={first['n']}, UP share {first['up_share']:.3f})")
    header = f"{'model':<11}" + "".join(f"{c:>24}" for c in ("accuracy", "AUC", "Brier"))
    print(header)
    print("-" * len(header))
    for row in rows:
        scored = row["after_open"]
        print(f"{LABELS.get(row['model'], row['model']):<11}" + "".join(
            f"{_cell(scored[c], scored['intervals'][c], 4 if c == 'brier' else 3):>24}" for c in AFTER_OPEN))


def _describe(differences: dict, metric: str) -> str:
    diff, low, high = differences[metric]
    better = (low > 0) if metric == "auc" else (high < 0)
    worse = (high < 0) if metric == "auc" else (low > 0)
    judgement = "significantly better" if better else "significantly worse" if worse else "within noise"
    digits = 3 if metric == "auc" else 4
    return f"{diff:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}] ({judgement})"


def verdict(rows: list[dict], y: np.ndarray, probabilities: dict[str, np.ndarray], mode: str = CLOSE) -> dict:
    """Does each model beat the best baseline on AUC (higher) and Brier (lower)? Plainly stated,
    with paired block-bootstrap intervals of the differences (same rows, same resamples). Pre-open
    models are also set against the S&P 500 rule, the one-line forecast they must beat."""
    by_name = {r["model"]: r for r in rows}
    baselines = [by_name[b] for b in BASELINES if b in by_name]
    best_auc = max(baselines, key=lambda r: r["auc"])
    best_brier = min(baselines, key=lambda r: r["brier"])
    out: dict = {"best_baseline_auc": best_auc["model"], "best_baseline_brier": best_brier["model"], "models": {}}
    lines = []
    for model in (m for m in MODELS if m in by_name):
        row = by_name[model]
        against = {name: paired_difference(y, probabilities[model], probabilities[name])
                   for name in {best_auc["model"], best_brier["model"], "always_up"} | ({"sp500_rule"} & set(by_name))}
        auc_text, brier_text = _describe(against[best_auc["model"]], "auc"), _describe(against[best_brier["model"]], "brier")
        out["models"][model] = {
            "beats_best_baseline_auc": row["auc"] > best_auc["auc"], "beats_best_baseline_brier": row["brier"] < best_brier["brier"],
            "minus": against, "text_auc": auc_text, "text_brier": brier_text,
        }
        line = (f"{LABELS[model]}: AUC {row['auc']:.3f} vs best baseline {best_auc['model']} {best_auc['auc']:.3f},"
                f" difference {auc_text}; Brier {row['brier']:.4f} vs best baseline {best_brier['model']}"
                f" {best_brier['brier']:.4f}, difference {brier_text}; Brier minus always-UP"
                f" {_describe(against['always_up'], 'brier')}")
        if "sp500_rule" in against:
            line += f"; AUC minus sp500_rule {_describe(against['sp500_rule'], 'auc')}"
        lines.append(line + ".")
    if "convlstm" in by_name and "lstm" in by_name:
        control = paired_difference(y, probabilities["convlstm"], probabilities["lstm"])
        out["convlstm_minus_lstm"] = control
        lines.append(f"ConvLSTM minus LSTM control: AUC {_describe(control, 'auc')}, Brier {_describe(control, 'brier')}.")
    # The honesty rule's alarm: close-mode accuracy above 60%, or a pre-open AUC of 0.75 or more.
    if mode == PREOPEN:
        suspicious = [r["model"] for r in rows if r["auc"] >= 0.75]
        alarm = "AUC of 0.75 or more"
    else:
        suspicious = [r["model"] for r in rows if r["accuracy"] > 0.60]
        alarm = "Accuracy above 60%"
    if suspicious:
        lines.append(f"{alarm} for {suspicious}: treat as a leak until proven otherwise.")
    out["suspicious"] = suspicious
    out["text"] = "\n".join(lines)
    return out


def _uncertainty_summary(report) -> dict:
    u = report.uncertainty or {}
    return {k: u.get(k) for k in ("method", "half_width", "test_coverage", "test_no_call_share", "test_probability_sd")} | {
        "skill": u.get("skill", {}).get("skill"), "skill_reason": u.get("skill", {}).get("reason")}


def _config(preset: str, threads: int | None, workers: int | None = None):
    """The preset, with torch's thread count and the worker processes (`train.workers`: the
    ensemble's seeds, the walk-forward's blocks) overridden when asked: under `nice` on a shared
    machine two threads wait on each other (a training step measured 3-50 s with 2 threads
    against 0.7-1 s with 1 here)."""
    config = load_config(preset)
    update = {k: v for k, v in (("threads", threads), ("workers", workers)) if v is not None}
    return config.with_train(**update)


def fixed_split(panel, preset: str, work: Path, threads: int | None = None, sectors: list[str] | None = None,
                workers: int | None = None) -> dict:
    """The ensemble (whose first seed is the ConvLSTM row) and the LSTM, trained once each, on
    `panel` (close or pre-open: train_model adds sp500_rule to a pre-open panel's baselines).
    `sectors` (one per member) name the sectors of the member forecasts the ensemble also makes."""
    config = _config(preset, threads, workers).with_segments(**SEGMENTS)
    reports, wall = {}, {}
    for kind in ("ensemble", "lstm"):
        started = time.perf_counter()
        reports[kind] = train_model(panel, config, work / f"bundle-{panel.mode}-{kind}", kind, sectors=sectors)
        wall[kind] = time.perf_counter() - started
        extra = f", seeds {reports[kind].seed_seconds} s" if reports[kind].seed_seconds else ""
        print(f"  fixed split ({panel.mode}): {kind} trained in {reports[kind].fit_seconds:.1f} s ({reports[kind].epochs_run}"
              f" epochs{extra}; {wall[kind]:.1f} s with baselines, calibration and ONNX export)", file=sys.stderr)
    ensemble, lstm = reports["ensemble"], reports["lstm"]
    first_seed = next(iter(ensemble.evaluation["seeds"]))
    test = ensemble.predictions["test"]
    probabilities = {"ensemble": test["probability"], "convlstm": test["seeds"][first_seed],
                     "lstm": lstm.predictions["test"]["probability"], **test["baselines"]}
    # After the open: train_model scores the model and the baselines; the first seed is scored here.
    after_open = ensemble.evaluation["after_open"]
    seed_after_open = metrics_after_open(after_open_label(panel.index_open, panel.index_close),
                                         split_segments(panel, config).test, probabilities["convlstm"], None, config.train.seed)
    rows = [_row("ensemble", ensemble.evaluation["model"]["test"], ensemble.fit_seconds, after_open["model"]["test"]),
            _row("convlstm", ensemble.evaluation["seeds"][first_seed]["test"], ensemble.seed_seconds[0], seed_after_open),
            _row("lstm", lstm.evaluation["model"]["test"], lstm.fit_seconds, lstm.evaluation["after_open"]["model"]["test"])]
    rows += [_row(name, ensemble.evaluation["baselines"][name]["test"], ensemble.baseline_seconds.get(name),
                  after_open["baselines"][name]["test"])
             for name in BASELINES if name in ensemble.evaluation["baselines"]]
    members = None
    if "members" in ensemble.evaluation:  # the member forecasts served beside the ensemble's index forecast
        row, selection = MEMBER_BENCH.trained_rows(ensemble)
        members = {"model": row, "model_selection": selection}
    validation = {"ensemble": ensemble.evaluation["model"]["valid"], "convlstm": ensemble.evaluation["seeds"][first_seed]["valid"],
                  "lstm": lstm.evaluation["model"]["valid"]}
    return {
        "mode": panel.mode, "preset": config.name, "config": config.to_dict(), "segments": ensemble.segments,
        "rows": rows, "verdict": verdict(rows, test["label"], probabilities, panel.mode),
        "validation": {kind: {k: v[k] for k in COLUMNS} for kind, v in validation.items()},
        "ensemble": {**ensemble.ensemble, "seed_epochs": ensemble.seed_epochs, "seed_seconds": ensemble.seed_seconds,
                     "seed_test": {k: {m: v["test"][m] for m in COLUMNS} for k, v in ensemble.evaluation["seeds"].items()}},
        "uncertainty": {"ensemble": _uncertainty_summary(ensemble), "lstm": _uncertainty_summary(lstm)},
        "epochs_run": {kind: reports[kind].epochs_run for kind in reports},
        "wall_seconds": {kind: round(wall[kind], 1) for kind in reports},
        "onnx_parity_max_abs": {kind: reports[kind].onnx_parity_max_abs for kind in reports},
        "members": members,
        "ece_noise_floor": ece_noise_floor(probabilities["ensemble"]),
        "reliability": reliability_table(test["label"], probabilities["ensemble"], bins=5),
        "prior_shift": prior_shift_effect(test["label"], probabilities["ensemble"],
                                          ensemble.ensemble["combiner"].get("prior_offset", 0.0)),
    }


def prior_shift_effect(y: np.ndarray, p: np.ndarray, offset: float) -> dict:
    """The ensemble's test Brier and ECE with its calibration's prior shift (the long-run share of
    UP days, `sensex.models.calibrate.prior_shift`) and without it (the validation year's share):
    the same probabilities, the offset taken back out of their logit."""
    def scored(q: np.ndarray) -> dict:
        metrics = classification_metrics(y, q)
        return {"brier": metrics["brier"], "ece": metrics["ece"], "mean_probability": float(np.mean(q))}

    return {"offset": offset, "with": scored(p), "without": scored(shift_probabilities(p, -offset))}


def ece_noise_floor(p: np.ndarray, draws: int = 2000, seed: int = 0) -> dict:
    """The ECE a perfectly calibrated forecaster with these probabilities shows on this many rows:
    labels drawn as Bernoulli(p), ECE computed as for the models (10 bins). With few rows ECE is
    mostly sampling noise: an observed ECE inside this range is what calibration noise alone gives."""
    rng = np.random.default_rng(seed)
    p = np.asarray(p, dtype=np.float64)
    values = np.array([expected_calibration_error((rng.random(len(p)) < p).astype(np.float64), p)
                       for _ in range(draws)])
    return {"median": float(np.median(values)), "p05": float(np.quantile(values, 0.05)),
            "p95": float(np.quantile(values, 0.95)), "draws": draws, "n": int(len(p))}


def member_results(panel, universe, fixed: dict | None) -> dict:
    """Member and sector forecasts on the fixed split's test window, as bench/members.py scores them:
    the ensemble's member forecasts (when the close-mode fixed split ran) beside short-term reversal,
    20-session momentum and the pooled logistic regression (fit ..2017-12-31) on the same window."""
    sectors = [universe.sector_of(symbol) for symbol in panel.symbols]
    rows = dict((fixed or {}).get("members") or {})
    rows |= MEMBER_BENCH.baseline_rows(panel, sectors)
    return {"train_end": MEMBER_BENCH.TRAIN_END, "test": [MEMBER_BENCH.TEST_START, MEMBER_BENCH.TEST_END],
            "rows": rows, "verdict": MEMBER_BENCH.ic_verdict(rows),
            "model": "ensemble" if "model" in rows else None}


def print_members(members: dict) -> None:
    test = members["test"]
    MEMBER_BENCH.print_table(f"Members and sectors, close mode: train ..{members['train_end']}, test {test[0]}..{test[1]};"
                             " pooled AUC, daily rank IC (mean, t, 90% block-bootstrap interval), derived-sector AUC",
                             members["rows"])
    if members["model"] is None:
        print("(no model row: the close-mode fixed split did not run; baselines only)")


def targets(fixed: dict) -> dict:
    """The issue's targets on the fixed split's test window (2019-2021), plainly true or false."""
    by_name = {r["model"]: r for r in fixed["rows"]}
    ensemble = by_name["ensemble"]
    if fixed["mode"] == CLOSE:
        return {"ensemble_brier_below_always_up": ensemble["brier"] < by_name["always_up"]["brier"],
                "ensemble_ece_at_most_0.03": ensemble["ece"] <= 0.03,
                "ensemble_ece_within_calibration_noise": ensemble["ece"] <= fixed["ece_noise_floor"]["p95"]}
    out = {}
    for model in ("ensemble", "convlstm"):
        low = fixed["verdict"]["models"][model]["minus"]["sp500_rule"]["auc"][1]
        out[f"{model}_auc_at_least_{PREOPEN_AUC_TARGET}"] = by_name[model]["auc"] >= PREOPEN_AUC_TARGET
        out[f"{model}_auc_above_sp500_rule_paired_interval_above_0"] = low > 0
    return out


def print_fixed(fixed: dict) -> None:
    test = fixed["segments"]["test"]
    print_table(f"Fixed split, {fixed['mode']} mode ({fixed['preset']} preset): train ..{SEGMENTS['train_end']}, valid 2018,"
                f" test {test[0]}..{test[1]} (n={fixed['rows'][0]['n']}, UP share {fixed['rows'][0]['up_share']:.3f});"
                f" 90% block-bootstrap intervals", fixed["rows"])
    print_after_open(fixed["rows"])
    print(fixed["verdict"]["text"])
    floor, ece = fixed["ece_noise_floor"], next(r["ece"] for r in fixed["rows"] if r["model"] == "ensemble")
    print(f"Ensemble ECE {ece:.3f}; a perfectly calibrated forecaster with the same probabilities on these"
          f" {floor['n']} rows shows ECE {floor['median']:.3f} (90% of {floor['draws']} label draws in"
          f" {floor['p05']:.3f}-{floor['p95']:.3f}): {'within' if ece <= floor['p95'] else 'beyond'} calibration noise.")
    print("Ensemble reliability on the test window (five equal-count bins): "
          + "; ".join(f"P(UP) {r['low']:.2f}-{r['high']:.2f}: mean {r['mean_probability']:.3f},"
                      f" UP {r['observed_up_rate']:.3f} (n={r['n']})" for r in fixed["reliability"]))
    shift = fixed["prior_shift"]
    print(f"Prior shift (logit {shift['offset']:+.4f}: the long-run share of UP days, not 2018's): mean P(UP)"
          f" {shift['with']['mean_probability']:.3f}, Brier {shift['with']['brier']:.4f}, ECE {shift['with']['ece']:.3f};"
          f" without it {shift['without']['mean_probability']:.3f}, {shift['without']['brier']:.4f},"
          f" {shift['without']['ece']:.3f} (test UP share {fixed['rows'][0]['up_share']:.3f}).")
    u = fixed["uncertainty"]["ensemble"]
    combiner = fixed["ensemble"]["combiner"]
    print(f"Ensemble ({combiner['rule']} of {', '.join(fixed['ensemble']['inputs'])},"
          f" weights {[round(w, 3) for w in combiner['weights']]}, chosen on 2018 by cross-fitted"
          f" log-loss {combiner['validation_log_loss']}): 90% interval half-width {u['half_width']:.3f},"
          f" test coverage {u['test_coverage']:.3f}, no-call share {u['test_no_call_share']:.3f}, skill {u['skill']}"
          f" ({u['skill_reason']}).")


def quick_check(panel, work: Path, threads: int | None = None) -> dict:
    """The quick preset as `make run` trains it (its own default segments) on the real files:
    collapsed or not, and what the shipped promotion gate says about it."""
    config = _config("quick", threads)
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


def walk_forward_run(panel, preset: str, span: tuple[str, str], kinds: tuple[str, ...], threads: int | None = None,
                     workers: int = 1) -> dict:
    config = _config(preset, threads, workers)
    started = time.perf_counter()
    result = walk_forward(panel, config, *span, kinds=kinds, workers=workers)
    wall = time.perf_counter() - started
    names = [*kinds, *(b for b in BASELINES if b in result["pooled"])]
    rows = [_row(name, result["pooled"][name], result["seconds"].get(name)) for name in names]
    blocks = [{"block": b["block"], "n": b["n"], "up_share": b["up_share"],
               "auc": {name: b["metrics"][name]["auc"] for name in names},
               "brier": {name: b["metrics"][name]["brier"] for name in names},
               "epochs_run": {k: f.get("epochs_run", f.get("seed_epochs")) for k, f in b["fits"].items()},
               "seconds": {k: f.get("seconds") for k, f in b["fits"].items()}}
              for b in result["blocks"]]
    return {"preset": config.name, "config": config.to_dict(), "span": list(span), "kinds": list(kinds),
            "refit_months": result["refit_months"], "workers": workers, "rows": rows,
            "mode": panel.mode, "verdict": verdict(rows, result["predictions"]["label"], result["predictions"], panel.mode),
            "blocks": blocks, "wall_seconds": round(wall, 1),
            "mean_block_auc": {n: float(np.mean([b["auc"][n] for b in blocks])) for n in names}}


def walk_forward_key(mode: str) -> str:
    """Where a mode's walk-forward goes in the JSON: `walk_forward` (close, as before the
    pre-open mode had one), `walk_forward_preopen`."""
    return "walk_forward" if mode == CLOSE else f"walk_forward_{mode}"


def print_blocks(blocks: list[dict]) -> None:
    # Pooled AUC also ranks rows across blocks, so a per-block constant (always_up) need not score
    # 0.5 pooled; the mean of the blocks' own AUCs does not mix blocks.
    names = list(blocks[0]["auc"])
    mean_auc = {n: float(np.mean([b["auc"][n] for b in blocks])) for n in names}
    print("\nMean of per-block AUCs: " + ", ".join(f"{LABELS.get(n, n)} {v:.3f}" for n, v in mean_auc.items()))
    print("\nWalk-forward AUC by block")
    widths = {n: max(10, len(LABELS.get(n, n)) + 2) for n in names}  # "sp500_rule" needs more than 10
    print(f"{'block':<24}{'n':>5}{'UP':>7}" + "".join(f"{LABELS.get(n, n):>{widths[n]}}" for n in names))
    for b in blocks:
        print(f"{b['block'][0] + '..' + b['block'][1]:<24}{b['n']:>5}{b['up_share']:>7.3f}"
              + "".join(f"{b['auc'][n]:>{widths[n]}.3f}" for n in names))


def csv_folder(data: Path, global_data: Path, work: Path) -> Path:
    """The member files and GSPC.csv side by side, as the CSV source expects them: links in a
    temporary folder, so the real files are neither copied nor moved."""
    folder = work / "csv"
    folder.mkdir()
    for path in sorted(data.iterdir()):
        if path.is_file():
            (folder / path.name).symlink_to(path.resolve())
    (folder / "GSPC.csv").symlink_to((global_data / "GSPC.csv").resolve())
    return folder


def _cpu_seconds() -> float:
    """CPU of this process and of its finished children. Ray's workers (--workers > 1) are not
    children this process waits for: their CPU is not in it (bench/training.py samples the tree)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _list(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [item for item in items if item not in allowed]
    if not items or unknown:
        raise SystemExit(f"model_quality: unknown {what} {unknown or text!r}: use {', '.join(allowed)} (comma-separated).")
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default=CLOSE,
                        help="close, preopen or close,preopen: the fixed split of each (default close)")
    parser.add_argument("--preset", default=None, help="preset for the fixed split (default: full; quick with --quick)")
    parser.add_argument("--walk-forward-preset", default=None,
                        help="preset for the walk-forward (default: walkforward; quick with --quick)")
    parser.add_argument("--walk-forward-models", default="convlstm,lstm,ensemble",
                        help="networks refit in the walk-forward (default convlstm,lstm,ensemble; the ensemble"
                             " costs its extra seeds in every block)")
    parser.add_argument("--walk-forward-span", default=None,
                        help="START,END of the walk-forward (default 2012-01-01,2021-12-31; 2020-2021 with --quick)")
    parser.add_argument("--workers", type=int, default=2,
                        help="CPUs of the local Ray instance the ensemble's seeds and the walk-forward's blocks run"
                             " on, one torch thread each (default 2, one per core here; 1: one process with --threads)")
    parser.add_argument("--quick", action="store_true", help="fast smoke run: quick presets, walk-forward 2020-2021 only")
    parser.add_argument("--skip-fixed-split", action="store_true")
    parser.add_argument("--skip-walk-forward", action="store_true")
    parser.add_argument("--skip-quick-check", action="store_true")
    parser.add_argument("--skip-members", action="store_true",
                        help="leave out the member and sector table (close mode; its model row is the fixed split's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: the preset's train.threads, 2); 1 on a shared machine under nice")
    parser.add_argument("--out", default=None,
                        help="JSON file to write (default bench/results/model_quality[_modes][_quick].json); lets two"
                             " runs of different sections go side by side")
    parser.add_argument("--data", default=str(REAL), help="directory of real per-symbol CSV files")
    parser.add_argument("--global-data", default=str(GLOBAL), help="directory holding GSPC.csv (pre-open mode)")
    args = parser.parse_args()
    modes = tuple(check_mode(m) for m in _list(args.mode, (CLOSE, PREOPEN), "mode"))
    if args.workers < 1:
        raise SystemExit(f"model_quality: --workers takes 1 or more processes, not {args.workers}.")
    wf_kinds = _list(args.walk_forward_models, MODELS, "walk-forward model")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("sensex.models.walkforward").setLevel(logging.INFO)  # one line per block
    data, global_data = Path(args.data), Path(args.global_data)
    if not data.is_dir():
        print(f"model_quality: skipped, real data not found at {data} (the benchmark runs on real prices only).")
        return 0
    if PREOPEN in modes and not (global_data / "GSPC.csv").is_file():
        print(f"model_quality: skipped, the pre-open mode needs {global_data}/GSPC.csv (the real S&P 500) and it is absent.")
        return 0
    preset = args.preset or ("quick" if args.quick else "full")
    wf_preset = args.walk_forward_preset or ("quick" if args.quick else "walkforward")
    span = QUICK_WALK_FORWARD if args.quick else WALK_FORWARD
    if args.walk_forward_span:
        span = tuple(part.strip() for part in args.walk_forward_span.split(","))
        if len(span) != 2:
            raise SystemExit(f"model_quality: --walk-forward-span takes START,END, not {args.walk_forward_span!r}.")
    universe = load_universe()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sensex-model-bench-") as tmp:
        work = Path(tmp)
        settings = load_settings({"SENSEX_HOME": str(work / "home")})
        csv_dir = csv_folder(data, global_data, work) if PREOPEN in modes else data
        imported = update_store(settings, universe, "csv", csv_dir=csv_dir, yahoo_reachable=lambda: False)
        meta = store.read_meta(settings.store_dir) or {}
        print(f"Imported {imported['rows_added']} rows from {csv_dir} (quality {imported['quality']['status']},"
              f" last session {imported['last_date']}, content hash {str(meta.get('content_hash'))[:12]}).",
              file=sys.stderr)
        result: dict = {
            "benchmark": "model_quality", "quick": args.quick, "modes": list(modes),
            "data": {"dir": shown(data), "content_hash": meta.get("content_hash"),
                     "first_date": meta.get("first_date"), "last_date": meta.get("last_date"),
                     "sp500": str(global_data / "GSPC.csv") if PREOPEN in modes else None,
                     "context_symbols": sorted(set(store.read(settings.store_dir)["symbol"])
                                               & {s.symbol for s in context.CONTEXT_SERIES})},
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count()},
            "threads": args.threads, "fixed_split": {}, "targets": {}, "wall_seconds": {}, "cpu_seconds": {},
        }
        panels = {mode: load_panel(settings, universe, mode=mode) for mode in modes}
        close_panel = panels.get(CLOSE)  # the quick check and the member table run in close mode only
        for mode in modes if not args.skip_fixed_split else ():
            phase, cpu = time.perf_counter(), _cpu_seconds()
            fixed = result["fixed_split"][mode] = fixed_split(panels[mode], preset, work, args.threads,
                                                                [universe.sector_of(s) for s in panels[mode].symbols],
                                                                args.workers)
            result["wall_seconds"][f"fixed_split_{mode}"] = round(time.perf_counter() - phase, 1)
            result["cpu_seconds"][f"fixed_split_{mode}"] = round(_cpu_seconds() - cpu, 1)
            result["targets"][mode] = targets(fixed)
            print_fixed(fixed)
        if CLOSE in modes and not args.skip_quick_check:
            cpu = _cpu_seconds()
            quick = result["quick_check"] = quick_check(close_panel, work, args.threads)
            result["wall_seconds"]["quick_check"] = quick["seconds"]
            result["cpu_seconds"]["quick_check"] = round(_cpu_seconds() - cpu, 1)
            result["targets"].setdefault(CLOSE, {})["quick_not_collapsed"] = not quick["collapsed"]
            print(f"\nQuick preset on the real files (test {quick['segments']['test'][0]}..{quick['segments']['test'][1]},"
                  f" {quick['epochs_run']} epochs, {quick['seconds']} s): P(UP) sd {quick['probability_sd']:.4f}"
                  f" (range {quick['probability_range'][0]:.3f}-{quick['probability_range'][1]:.3f}),"
                  f" {'COLLAPSED' if quick['collapsed'] else 'not collapsed'}; test AUC {quick['test']['auc']:.3f},"
                  f" Brier {quick['test']['brier']:.4f} vs always-UP {quick['always_up_test_brier']:.4f};"
                  f" gate {'passes' if quick['gate']['passed'] else 'refuses: ' + '; '.join(quick['gate']['failures'])}")
        if CLOSE in modes and not args.skip_members:
            phase = time.perf_counter()
            result["members"] = member_results(close_panel, universe, result["fixed_split"].get(CLOSE))
            result["wall_seconds"]["members"] = round(time.perf_counter() - phase, 1)
            print_members(result["members"])
        print(f"Targets: {result['targets']}")
        for mode in modes if not args.skip_walk_forward else ():
            cpu, key = _cpu_seconds(), walk_forward_key(mode)
            wf = result[key] = walk_forward_run(panels[mode], wf_preset, span, wf_kinds, args.threads, args.workers)
            result["wall_seconds"][key] = wf["wall_seconds"]
            result["cpu_seconds"][key] = round(_cpu_seconds() - cpu, 1)
            print_table(f"Walk-forward, {mode} mode ({wf['preset']} preset, {', '.join(wf_kinds)}): {span[0]}..{span[1]},"
                        f" refit every {wf['refit_months']} months (n={wf['rows'][0]['n']}, UP share"
                        f" {wf['rows'][0]['up_share']:.3f}); pooled over blocks, train s summed over refits", wf["rows"])
            print(wf["verdict"]["text"])
            print_blocks(wf["blocks"])
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    result["total_cpu_seconds"] = round(_cpu_seconds(), 1)  # the whole process and its workers, imports included
    name = "model_quality" + ("" if modes == (CLOSE,) else "_" + "_".join(modes)) + ("_quick" if args.quick else "")
    if args.skip_fixed_split and not args.skip_walk_forward:  # the walk-forward alone: not over a fixed split's file
        name += "_walk_forward"
    out = Path(args.out).resolve() if args.out else RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=lambda x: x.item() if isinstance(x, np.generic) else str(x)))
    print(f"\nWall seconds {result['wall_seconds']}, CPU seconds {result['cpu_seconds']}; total {result['total_seconds']} s"
          f" wall, {result['total_cpu_seconds']} s CPU; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
