"""Pre-open signal on real data: what the overnight S&P 500 adds, and where it shows.

Logistic regressions fit 2005-2018 and scored on 2019-2021 (label: the SENSEX closes above the
previous close), beside the one-line rule "UP when the S&P 500 rose on its last session known
before the open" and always-UP. Every row is also scored against the move after the open
(close vs open of the same target session), which is what a trader could still act on at 09:15.
Each metric has a 90% moving-block bootstrap interval; the last table is the paired AUC
difference of the logistic regression with the S&P 500 minus the rule.

Reads the real SENSEX files (SENSEX_REAL_DATA/sensex-real, see real_data.py)/BSESN.csv (through the project's CSV source) and
the real S&P 500 (SENSEX_REAL_DATA/global/GSPC.csv); without them, says so and stops. Writes bench/results/preopen.json.

    .venv/bin/python bench/preopen.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from real_data import GLOBAL, REAL
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sensex.data.sources.csvfiles import load_directory
from sensex.features.build import build_panel
from sensex.features.dataset import repair
from sensex.features.labels import after_open_label
from sensex.features.overnight import OVERNIGHT_FEATURE_NAMES, add_overnight, overnight_features
from sensex.market import context
from sensex.market.universe import load_universe
from sensex.models.baselines import baseline_predictions, sp500_rule_predictions
from sensex.models.evaluate import metrics_after_open, paired_difference, report

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
FIT = ("2005-01-01", "2018-12-31")
TEST = ("2019-01-01", "2021-12-31")
LAGS = 10


def _stored_rows(real_dir: Path) -> pd.DataFrame:
    """Members and index through the project's CSV source and repair (what the store would hold)."""
    universe = load_universe()
    return repair(load_directory(real_dir, universe).frame, universe.index_symbol)


def _index_rows(rows: pd.DataFrame) -> pd.DataFrame:
    index_symbol = load_universe().index_symbol
    return rows[rows["symbol"] == index_symbol].sort_values("date").reset_index(drop=True)


def _sp500_rows(global_dir: Path) -> pd.DataFrame:
    raw = pd.read_csv(global_dir / "GSPC.csv")
    frame = pd.DataFrame({"date": pd.to_datetime(raw["Date"]), "symbol": context.SP500.symbol, "close": raw["Close"]})
    return frame


def _lagged_returns(close: np.ndarray) -> np.ndarray:
    """(D, LAGS) index log returns of sessions t, t-1, ..., t-9."""
    ret = np.concatenate([[np.nan], np.diff(np.log(close))])
    return np.column_stack([np.concatenate([np.full(k, np.nan), ret[: len(ret) - k]]) for k in range(LAGS)])


def _logreg(design: np.ndarray, label: np.ndarray, fit: np.ndarray, test: np.ndarray) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(design[fit], label[fit].astype(int))
    return model.predict_proba(design[test])[:, 1]


def _brief(metrics: dict) -> dict:
    keys = ("n", "up_share", "accuracy", "auc", "brier")
    return {**{k: metrics[k] for k in keys}, "intervals": {k: metrics["intervals"].get(k) for k in ("accuracy", "auc", "brier")}}


def _cell(metrics: dict, key: str) -> str:
    low, high = metrics["intervals"][key] or (float("nan"), float("nan"))
    return f"{metrics[key]:.3f} [{low:.3f}, {high:.3f}]"


def _project_baselines(stored: pd.DataFrame, sp500: pd.DataFrame) -> dict:
    """`baseline_predictions` on the pre-open panel (gbm then sees the overnight features too)."""
    universe = load_universe()
    frame = pd.concat([stored, sp500.assign(open=np.nan, high=np.nan, low=np.nan, adj_close=np.nan, volume=np.nan)])
    panel = add_overnight(build_panel(stored, universe), frame)
    after_open = after_open_label(panel.index_open, panel.index_close)
    positions = np.arange(len(panel.dates))
    labelled = np.isfinite(panel.label)
    fit = positions[labelled & (panel.dates >= FIT[0]) & (panel.dates <= FIT[1])]
    test = positions[labelled & (panel.dates >= TEST[0]) & (panel.dates <= TEST[1])]
    out = {}
    for name, segments in baseline_predictions(panel, fit, {"test": test}).items():
        p, decision = segments["test"]
        out[name] = {
            "close_to_close": _brief(report(panel.label[test].astype(int), p, decision)),
            "after_open": _brief(metrics_after_open(after_open, test, p, decision)),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REAL), help="directory of the real SENSEX CSV files")
    parser.add_argument("--global-data", default=str(GLOBAL), help="directory holding GSPC.csv")
    args = parser.parse_args()
    real_dir, global_dir = Path(args.data), Path(args.global_data)
    if not (real_dir / "BSESN.csv").is_file() or not (global_dir / "GSPC.csv").is_file():
        print(f"Needs {real_dir}/BSESN.csv and {global_dir}/GSPC.csv: they are absent, nothing measured.")
        return 1

    stored = _stored_rows(real_dir)
    index = _index_rows(stored)
    sp500 = _sp500_rows(global_dir)
    dates = pd.DatetimeIndex(index["date"])
    close, open_ = index["close"].to_numpy(np.float64), index["open"].to_numpy(np.float64)
    label = np.full(len(close), np.nan)
    label[:-1] = (close[1:] > close[:-1]).astype(np.float64)
    after_open = after_open_label(open_, close)
    overnight = overnight_features(sp500, dates)
    lags = _lagged_returns(close)
    with_sp500 = np.column_stack([lags, overnight[OVERNIGHT_FEATURE_NAMES].to_numpy()])

    def rows(span: tuple[str, str]) -> np.ndarray:
        inside = (dates >= span[0]) & (dates <= span[1])
        usable = np.isfinite(with_sp500).all(axis=1) & np.isfinite(label) & overnight["sp500_complete"].to_numpy()
        return np.flatnonzero(inside & usable)

    fit, test = rows(FIT), rows(TEST)
    up_share = float(label[fit].mean())
    rule = sp500_rule_predictions(overnight["sp500_last_ret"].to_numpy(), label, fit, {"test": test})["test"]
    predictions = {
        "logreg_lags": (_logreg(lags, label, fit, test), None),
        "logreg_lags_sp500": (_logreg(with_sp500, label, fit, test), None),
        "sp500_rule": rule,
        "always_up": (np.full(len(test), up_share), np.ones(len(test), dtype=int)),
    }
    result: dict = {
        "fit": {"span": FIT, "n": len(fit)}, "test": {"span": TEST, "n": len(test)},
        "features": OVERNIGHT_FEATURE_NAMES, "lags": LAGS,
        "incomplete_test_rows_dropped": int(((dates >= TEST[0]) & (dates <= TEST[1]) & ~overnight["sp500_complete"].to_numpy()).sum()),
        "close_to_close": {}, "after_open": {},
    }
    for name, (p, decision) in predictions.items():
        result["close_to_close"][name] = _brief(report(label[test].astype(int), p, decision))
        result["after_open"][name] = _brief(metrics_after_open(after_open, test, p, decision))
    known_after = np.isfinite(after_open[test])
    result["paired_auc_vs_sp500_rule"] = {
        "close_to_close": paired_difference(label[test], predictions["logreg_lags_sp500"][0], rule[0])["auc"],
        "after_open": paired_difference(
            after_open[test][known_after], predictions["logreg_lags_sp500"][0][known_after], rule[0][known_after]
        )["auc"],
    }

    print(f"Fit {FIT[0]}..{FIT[1]} ({len(fit)} sessions), test {TEST[0]}..{TEST[1]} ({len(test)} sessions);"
          f" 90% block-bootstrap intervals")
    for label_name, title in (("close_to_close", "close(t+1) > close(t)"), ("after_open", "close(t+1) > open(t+1)")):
        print(f"\nLabel {title}:")
        print(f"{'model':<20} {'accuracy':<24} {'AUC':<24} {'Brier':<24}")
        for name, metrics in result[label_name].items():
            print(f"{name:<20} {_cell(metrics, 'accuracy'):<24} {_cell(metrics, 'auc'):<24} {_cell(metrics, 'brier'):<24}")
    for label_name, (diff, low, high) in result["paired_auc_vs_sp500_rule"].items():
        print(f"AUC(logreg_lags_sp500) - AUC(sp500_rule), {label_name}: {diff:+.3f} [{low:+.3f}, {high:+.3f}]")
    result["project_baselines"] = _project_baselines(stored, sp500)
    print("\nThe project's baselines on the pre-open panel (members' indicators + market context +"
          " overnight S&P 500), test AUC: close-to-close / after the open")
    for name, scores in result["project_baselines"].items():
        print(f"{name:<20} {scores['close_to_close']['auc']:.3f} / {scores['after_open']['auc']:.3f}"
              f"   (accuracy {scores['close_to_close']['accuracy']:.3f} / {scores['after_open']['accuracy']:.3f})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "preopen.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nWrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
