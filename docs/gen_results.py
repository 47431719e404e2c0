"""The generated parts of the documentation, so that no figure or reference is copied by hand.

- Result and benchmark tables come from `bench/results/*.json`, the files the bench scripts
  write; a table is never typed in, so a figure and the run that measured it cannot disagree.
  When a file is absent the page says which command writes it.
- The CLI reference comes from the typer app, the REST reference from the API's OpenAPI schema,
  the Python API from the classes themselves, the preset table from the config models, and the
  layer diagram and module map from pyproject.toml's import-linter contract and the module
  docstrings.

As an MkDocs hook (`hooks:` in mkdocs.yml) every line `<!-- generated: NAME -->` of a page is
replaced by section NAME while the site builds, so `mkdocs build` always shows the files as
they are now. A section that cannot be made is a warning, which fails `mkdocs build --strict`.

Run directly:

    .venv/bin/python docs/gen_results.py                    # list the sections
    .venv/bin/python docs/gen_results.py results-close      # print sections
    .venv/bin/python docs/gen_results.py --all --out DIR    # write every section to DIR/NAME.md
    .venv/bin/python docs/gen_results.py --readme           # README's results table from the JSON
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import logging
import math
import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Under mkdocs' own logger, so the build counts these warnings (and --strict fails on them).
log = logging.getLogger("mkdocs.hooks.gen_results")

MARKER = re.compile(r"^<!-- generated: ([a-z0-9-]+) -->[ \t]*$", re.MULTILINE)
README_START, README_END = "<!-- results-summary:start -->", "<!-- results-summary:end -->"


# -- formatting ---------------------------------------------------------------------------------

def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value, digits: int = 3) -> str:
    if _missing(value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}f}"


def signed(value, digits: int = 3) -> str:
    return "-" if _missing(value) else f"{float(value):+.{digits}f}"


def cell(value, interval=None, digits: int = 3) -> str:
    """`0.562 [0.533, 0.599]`; a missing or degenerate interval (a constant forecast) is left out."""
    text = num(value, digits)
    if interval and len(interval) == 2 and not any(_missing(x) for x in interval) and interval[0] != interval[1]:
        text += f" [{float(interval[0]):.{digits}f}, {float(interval[1]):.{digits}f}]"
    return text


def difference(triple, digits: int = 3) -> str:
    """A paired difference `[value, low, high]` as `+0.003 [-0.002, +0.010]`."""
    if not triple or len(triple) != 3:
        return "-"
    value, low, high = triple
    return f"{signed(value, digits)} [{signed(low, digits)}, {signed(high, digits)}]"


def text_cell(text) -> str:
    """Text in a Markdown table cell: one line, pipes escaped outside code spans (inside one a pipe
    is not a cell border, and a backslash would show)."""
    parts = " ".join(str(text).split()).split("`")
    return "`".join(part if inside % 2 else part.replace("|", "\\|") for inside, part in enumerate(parts))


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def percent(share) -> str:
    return "-" if _missing(share) else f"{float(share):.0%}"


def ms(seconds) -> str:
    """Seconds as milliseconds, with the digits the size calls for."""
    if _missing(seconds):
        return "-"
    value = float(seconds) * 1000
    if value < 0.01:
        return "< 0.01 ms"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def where(text) -> str:
    """A data description without the measuring machine's directories (`.../sensex-real` -> `sensex-real`)."""
    return re.sub(r"(?<![\w.])/(?:[^\s/]+/)*([^\s/]+)", r"\1", str(text))


MODEL_LABELS = {
    "convlstm": "ConvLSTM (the ensemble's first seed)",
    "lstm": "LSTM (control without the convolution)",
    "gbm": "gbm (gradient boosting, baseline)",
    "logreg": "logreg (logistic regression, baseline)",
    "always_up": "always UP",
    "prev_day": "previous day",
    "sp500_rule": "`sp500_rule` (UP when the S&P 500 rose)",
}


SHORT_LABELS = {"convlstm": "ConvLSTM", "lstm": "LSTM", "ensemble": "ensemble", "always_up": "always UP",
                "prev_day": "previous day", "sp500_rule": "`sp500_rule`"}


def model_label(name: str, seeds=None) -> str:
    if name == "ensemble":
        return f"ensemble ({seeds} ConvLSTM seeds + logreg + gbm)" if seeds else "ensemble (ConvLSTM seeds + logreg + gbm)"
    return MODEL_LABELS.get(name, name)


# -- result files -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where a section's figures come from: result files (the first that holds `key` wins) and
    the command that writes the first of them."""

    files: tuple[str, ...]
    command: str
    key: tuple[str, ...] = ()
    needs: str = ""

    def absent(self, results: Path) -> str:
        first = self.files[0]
        found = [name for name in self.files if (results / name).is_file()]
        needs = f" ({self.needs})" if self.needs else ""
        if found:  # a file is there but holds another part of the benchmark
            return (f"*Not measured yet: `bench/results/{found[0]}` holds no `{'.'.join(self.key)}`. "
                    f"Run `{self.command}` to produce it{needs}.*")
        return f"*Not measured yet: `bench/results/{first}` is absent. Run `{self.command}` to produce it{needs}.*"


def load(results: Path, source: Source):
    """(file name, the part of it at `source.key`) for the first file that holds it, else None."""
    for name in source.files:
        path = results / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        part = data
        for key in source.key:
            if not isinstance(part, dict) or key not in part:
                part = None
                break
            part = part[key]
        if part not in (None, {}, []):  # an empty part: the run skipped it (`--skip-walk-forward`)
            return name, data, part
    return None


REAL_DATA = "reads the real SENSEX files; about 20 minutes on 2 cores"
RISK_DATA = "reads the real SENSEX files and the S&P 500; under a minute"
MODEL_QUALITY = "model_quality.json", "model_quality_close_preopen.json"
SOURCES = {
    "close": Source(MODEL_QUALITY, ".venv/bin/python bench/model_quality.py", ("fixed_split", "close"), REAL_DATA),
    "quick-check": Source(MODEL_QUALITY, ".venv/bin/python bench/model_quality.py", ("quick_check",), REAL_DATA),
    "close-members": Source(MODEL_QUALITY, ".venv/bin/python bench/model_quality.py", ("members",), REAL_DATA),
    "close-walk-forward": Source(("model_quality.json", "model_quality_walk_forward.json", "model_quality_close_preopen.json"),
                                 ".venv/bin/python bench/model_quality.py", ("walk_forward",), REAL_DATA),
    "preopen": Source(("model_quality_preopen.json", "model_quality_close_preopen.json"),
                      ".venv/bin/python bench/model_quality.py --mode preopen --skip-walk-forward",
                      ("fixed_split", "preopen"), "reads the real SENSEX files and the S&P 500; about 6 minutes"),
    "preopen-walk-forward": Source(("model_quality_preopen_walk_forward.json", "model_quality_preopen.json",
                                    "model_quality_close_preopen.json"),
                                   ".venv/bin/python bench/model_quality.py --mode preopen --skip-fixed-split",
                                   ("walk_forward_preopen",), "reads the real files; about 20 minutes"),
    "preopen-signal": Source(("preopen.json",), ".venv/bin/python bench/preopen.py", (),
                             "reads the real SENSEX index and S&P 500 files; about 20 seconds"),
    "members": Source(("members.json",), ".venv/bin/python bench/members.py", (),
                      "`--no-model` for the baselines alone"),
    "data": Source(("data.json",), ".venv/bin/python bench/data.py"),
    "serving": Source(("serving.json",), ".venv/bin/python bench/serving.py"),
    "load": Source(("load.json",), ".venv/bin/python bench/load.py --requests 2400 --concurrency 48"),
    "app": Source(("app.json",), ".venv/bin/python bench/app.py --repeats 3", (), "needs Debian's chromium"),
    "training": Source(("training.json",), ".venv/bin/python bench/training.py", (),
                       "reads the real files; about an hour"),
    "range-close": Source(("risk.json",), ".venv/bin/python bench/risk.py", ("fixed_split", "close"), RISK_DATA),
    "range-preopen": Source(("risk.json",), ".venv/bin/python bench/risk.py", ("fixed_split", "preopen"), RISK_DATA),
    "range-walk-forward": Source(("risk.json",), ".venv/bin/python bench/risk.py", ("walk_forward",), RISK_DATA),
    "range-cost": Source(("range_cost.json",), ".venv/bin/python bench/range_cost.py", (),
                         "trains the quick preset on the synthetic market 6 times; about 20 minutes"),
    "backtest-close": Source(("backtest.json",), ".venv/bin/python bench/backtest.py --mode close", ("close",),
                             "runs the close-mode walk-forward 2012-2021 on the real files; about 20 minutes"),
    "backtest-preopen": Source(("backtest.json",), ".venv/bin/python bench/backtest.py --mode preopen", ("preopen",),
                               "runs the pre-open walk-forward 2012-2021 on the real files; about 20 minutes"),
}


def smoke_note(data: dict) -> str:
    """A `--quick` run is a smoke test of the benchmark, not a measurement to quote: said where it shows."""
    return " (**a `--quick` smoke run**: quick presets and a short walk-forward, not figures to quote)" if data.get("quick") else ""


def provenance(data: dict, name: str) -> str:
    """Which data and machine a model-quality file's figures come from."""
    about = data.get("data") or {}
    machine = data.get("machine") or {}
    parts = [f"Source: `bench/results/{name}`{smoke_note(data)}"]
    if about.get("first_date"):
        parts.append(f"data {about['first_date']}..{about.get('last_date')}, content hash `{str(about.get('content_hash'))[:12]}`")
    if machine:
        parts.append(f"Python {machine.get('python')}, {machine.get('cpus')} CPUs")
    return "; ".join(parts) + "."


def fixed_split_table(fixed: dict) -> str:
    seeds = (fixed.get("config") or {}).get("model", {}).get("ensemble_seeds")
    rows = []
    for row in fixed["rows"]:
        intervals = row.get("intervals") or {}
        after = row.get("after_open") or {}
        rows.append([model_label(row["model"], seeds), cell(row["accuracy"], intervals.get("accuracy")),
                     cell(row["auc"], intervals.get("auc")), cell(row["brier"], intervals.get("brier"), 4),
                     cell(row["ece"], intervals.get("ece")), num(after.get("auc")), num(row.get("train_seconds"), 1)])
    return table(["model", "accuracy", "AUC", "Brier", "ECE", "after the open: AUC", "train s"], rows)


def fixed_split_section(name: str, data: dict, fixed: dict) -> str:
    segments = fixed.get("segments") or {}
    first = fixed["rows"][0]
    test, train, valid = segments.get("test", ["?", "?"]), segments.get("train", ["?", "?"]), segments.get("valid", ["?", "?"])
    out = [f"`{fixed.get('preset')}` preset; train {train[0]}..{train[1]}, validate {valid[0]}..{valid[1]}, "
           f"test {test[0]}..{test[1]} (n={first.get('n')}, UP share {num(first.get('up_share'))}). "
           "90% moving-block bootstrap intervals in brackets; *after the open* scores the same probabilities "
           "against close > open of the target session.", "", fixed_split_table(fixed), ""]
    verdict = (fixed.get("verdict") or {}).get("text")
    if verdict:
        out += ["Paired differences (same rows, same resamples), as the bench states them:", ""]
        out += [f"- {line}" for line in verdict.splitlines() if line.strip()]
        out.append("")
    floor = fixed.get("ece_noise_floor")
    ensemble = next((r for r in fixed["rows"] if r["model"] == "ensemble"), None)
    if floor and ensemble:
        within = "within" if ensemble["ece"] <= floor["p95"] else "beyond"
        out.append(f"- Calibration noise: a perfectly calibrated forecaster with the ensemble's probabilities shows, on these "
                   f"{floor['n']} rows, ECE {num(floor['median'])} (90% of {floor['draws']} draws in "
                   f"{num(floor['p05'])}-{num(floor['p95'])}); the ensemble's {num(ensemble['ece'])} is {within} that range.")
    shift = fixed.get("prior_shift")
    if shift:
        out.append(f"- Prior shift (logit {signed(shift['offset'], 4)}): mean P(UP) {num(shift['with']['mean_probability'])}, "
                   f"Brier {num(shift['with']['brier'], 4)}, ECE {num(shift['with']['ece'])}; without it "
                   f"{num(shift['without']['mean_probability'])}, {num(shift['without']['brier'], 4)}, "
                   f"{num(shift['without']['ece'])}.")
    combiner = (fixed.get("ensemble") or {}).get("combiner") or {}
    uncertainty = (fixed.get("uncertainty") or {}).get("ensemble") or {}
    if combiner:
        weights = ", ".join(num(w) for w in combiner.get("weights", []))
        inputs = ", ".join((fixed.get("ensemble") or {}).get("inputs", []))
        out.append(f"- Ensemble combiner chosen on validation: {combiner.get('rule')} of {inputs} (weights {weights}).")
    if uncertainty:
        out.append(f"- 90% interval: test coverage {num(uncertainty.get('test_coverage'))}, no call on "
                   f"{num(uncertainty.get('test_no_call_share'))} of test sessions; skill {uncertainty.get('skill')} "
                   f"({uncertainty.get('skill_reason')}).")
    mode = fixed.get("mode")
    wall = (data.get("wall_seconds") or {}).get(f"fixed_split_{mode}")
    cpu = (data.get("cpu_seconds") or {}).get(f"fixed_split_{mode}")
    if wall is not None:
        out.append(f"- Cost: {num(wall, 0)} s wall, {num(cpu, 0)} s CPU (ensemble and LSTM, baselines, calibration, export).")
    out += ["", provenance(data, name)]
    return "\n".join(out)


def walk_forward_section(name: str, data: dict, wf: dict) -> str:
    rows = wf["rows"]
    first = rows[0]
    span = wf.get("span", ["?", "?"])
    seeds = (wf.get("config") or {}).get("model", {}).get("ensemble_seeds")
    body = [[model_label(r["model"], seeds), cell(r["accuracy"], (r.get("intervals") or {}).get("accuracy")),
             cell(r["auc"], (r.get("intervals") or {}).get("auc")), cell(r["brier"], (r.get("intervals") or {}).get("brier"), 4),
             num(r["ece"]), num(r.get("train_seconds"), 0)] for r in rows]
    out = [f"`{wf.get('preset')}` preset, {span[0]}..{span[1]}, refit every {wf.get('refit_months')} months on everything "
           f"before the block; pooled over blocks (n={first.get('n')}, UP share {num(first.get('up_share'))}); "
           "train s is summed over refits.", "", table(["model", "accuracy", "AUC", "Brier", "ECE", "train s"], body), ""]
    verdict = (wf.get("verdict") or {}).get("text")
    if verdict:
        out += [f"- {line}" for line in verdict.splitlines() if line.strip()]
        out.append("")
    blocks = wf.get("blocks") or []
    if blocks:
        names = list(blocks[0]["auc"])
        out += ["AUC per block:", "",
                table(["block", "n", "UP share", *[SHORT_LABELS.get(n, n) for n in names]],
                      [[f"{b['block'][0]}..{b['block'][1]}", num(b["n"]), num(b["up_share"]), *[num(b["auc"][n]) for n in names]]
                       for b in blocks]), ""]
        mean = wf.get("mean_block_auc") or {}
        if mean:
            out.append("Mean of the blocks' own AUCs: " + ", ".join(f"{SHORT_LABELS.get(n, n)} {num(v)}" for n, v in mean.items()) + ".")
            out.append("")
    if wf.get("wall_seconds") is not None:
        out.append(f"Wall time {num(wf['wall_seconds'], 0)} s with {wf.get('workers')} worker process(es). " + provenance(data, name))
    else:
        out.append(provenance(data, name))
    return "\n".join(out)


def quick_check_section(name: str, data: dict, quick: dict) -> str:
    test = quick.get("test") or {}
    seg = (quick.get("segments") or {}).get("test", ["?", "?"])
    gate = quick.get("gate") or {}
    verdict = "passes" if gate.get("passed") else "refuses: " + "; ".join(gate.get("failures") or [])
    low, high = (quick.get("probability_range") or [None, None])[:2]
    rows = [[f"{seg[0]}..{seg[1]}", num(quick.get("epochs_run")), num(quick.get("seconds"), 1),
             num(quick.get("probability_sd"), 4), f"{num(low)}-{num(high)}", cell(test.get("auc"), test.get("auc_interval")),
             num(test.get("brier"), 4), num(quick.get("always_up_test_brier"), 4), text_cell(verdict)]]
    return "\n".join([table(["test window", "epochs", "seconds", "P(UP) sd", "P(UP) range", "AUC", "Brier",
                             "always-UP Brier", "promotion gate"], rows), "", provenance(data, name)])


MEMBER_HEADER = ["forecast", "AUC pooled", "AUC median", "members > 0.5", "IC mean", "IC t", "IC 90% interval", "sector AUC"]
NOT_MEMBER_ROWS = ("model_selection", "sector_sources")


def member_rows(rows: dict, prefix: list[str] | None = None) -> list[list[str]]:
    out = []
    for forecast, r in rows.items():
        if forecast in NOT_MEMBER_ROWS or not isinstance(r, dict):
            continue
        low, high = (r.get("ic_interval") or [None, None])[:2]
        label = "**model** (served member forecast)" if forecast == "model" else forecast
        out.append([*(prefix or []), label, num(r.get("auc_pooled")), num(r.get("auc_member_median")),
                    f"{r.get('members_above_half')}/{r.get('members_scored')}", num(r.get("ic_mean"), 4),
                    num(r.get("ic_t"), 2), f"[{num(low, 4)}, {num(high, 4)}]", num(r.get("sector_auc_pooled"))])
    return out


def close_members_section(name: str, data: dict, members: dict) -> str:
    test = members.get("test", ["?", "?"])
    out = [f"Train ..{members.get('train_end')}, test {test[0]}..{test[1]}; daily cross-sectional rank IC with its "
           "t-statistic and 90% moving-block bootstrap interval.", "", table(MEMBER_HEADER, member_rows(members["rows"])), ""]
    if members.get("verdict"):
        out += [members["verdict"], ""]
    if members.get("model") is None:
        out += ["No model row: the close-mode fixed split did not run in this file, so the table has the baselines alone.", ""]
    out.append(provenance(data, name))
    return "\n".join(out)


MEMBER_DATA = {"real_sensex": "real SENSEX members", "synthetic_sensex": "SYNTHETIC sensex", "synthetic_nifty50": "SYNTHETIC nifty50"}


def members_section(name: str, data: dict, _part) -> str:
    sets = [key for key in MEMBER_DATA if key in data]
    test = data.get("test", ["?", "?"])
    out = [f"Train ..{data.get('train_end')}, validate ..{data.get('valid_end')}, test {test[0]}..{test[1]}; "
           f"model row: preset `{data.get('preset')}`" if data.get("preset") else
           f"Train ..{data.get('train_end')}, test {test[0]}..{test[1]}; baselines only (`--no-model`).", ""]
    rows = [row for key in sets for row in member_rows(data[key], [MEMBER_DATA[key]])]
    out.append(table(["data", *MEMBER_HEADER], rows))
    chosen = []
    for key in sets:
        selection = data[key].get("model_selection")
        if selection and selection.get("chosen"):
            valid = {k: num(v["auc_pooled"], 4) for k, v in selection.items() if isinstance(v, dict) and "auc_pooled" in v}
            chosen.append(f"- {MEMBER_DATA[key]}: served member forecast `{selection['chosen']}`, chosen on validation "
                          f"(pooled AUC {', '.join(f'{k} {v}' for k, v in valid.items())}).")
    if chosen:
        out += ["", *chosen]
    sector_rows = []
    for key in sets:
        sources = data[key].get("sector_sources")
        if not sources:
            continue
        for window in ("valid", "test"):
            r = sources[window]
            span = sources["windows"][window]
            sector_rows.append([MEMBER_DATA[key], f"{window} {span[0]}..{span[1]} (n {r['n']:,})", num(r["trained_auc"]),
                                num(r["derived_auc"]), num(r["trained_brier"], 4), num(r["derived_brier"], 4),
                                difference(r["trained_minus_derived_auc"])])
    if sector_rows:
        out += ["", "Sector forecasts, trained on sector labels against derived from the members (chosen on validation "
                "AUC; trained minus derived with its 90% paired block-bootstrap interval):", "",
                table(["data", "window", "trained AUC", "derived AUC", "trained Brier", "derived Brier",
                       "trained - derived AUC"], sector_rows)]
    if data.get("seconds") is not None:
        out += ["", f"Ran in {num(data['seconds'], 0)} s. Source: `bench/results/{name}`."]
    return "\n".join(out)


PREOPEN_LABELS = {"logreg_lags": "logistic regression, lagged SENSEX returns",
                  "logreg_lags_sp500": "the same + the overnight S&P 500 features",
                  "sp500_rule": "`sp500_rule`", "always_up": "always UP"}


def preopen_signal_section(name: str, data: dict, _part) -> str:
    rows = []
    for model, scores in data["close_to_close"].items():
        after = data["after_open"].get(model, {})
        intervals, after_intervals = scores.get("intervals") or {}, after.get("intervals") or {}
        rows.append([PREOPEN_LABELS.get(model, model), cell(scores["accuracy"], intervals.get("accuracy")),
                     cell(scores["auc"], intervals.get("auc")), num(scores["brier"], 4),
                     num(after.get("accuracy")), cell(after.get("auc"), after_intervals.get("auc"))])
    for model, scores in (data.get("project_baselines") or {}).items():
        rows.append([f"{SHORT_LABELS.get(model, model)}, the project's baseline on the pre-open panel", num(scores["close_to_close"]["accuracy"]), num(scores["close_to_close"]["auc"]),
                     num(scores["close_to_close"].get("brier"), 4), num(scores["after_open"]["accuracy"]),
                     num(scores["after_open"]["auc"])])
    fit, test = data.get("fit", {}), data.get("test", {})
    out = [f"Fit {fit.get('span', ['?', '?'])[0]}..{fit.get('span', ['?', '?'])[1]} (n={fit.get('n')}), test "
           f"{test.get('span', ['?', '?'])[0]}..{test.get('span', ['?', '?'])[1]} (n={test.get('n')}); "
           f"{data.get('lags')} lagged returns, {len(data.get('features') or [])} overnight S&P 500 features.", "",
           table(["model", "accuracy", "AUC", "Brier", "after the open: accuracy", "after the open: AUC"], rows), ""]
    paired = data.get("paired_auc_vs_sp500_rule") or {}
    for label, triple in paired.items():
        against = {"close_to_close": "against the close", "after_open": "after the open"}.get(label, label)
        out.append(f"- AUC of the regression with the S&P 500 minus the rule's, {against} (paired): {difference(triple)}.")
    out += ["", f"Source: `bench/results/{name}`."]
    return "\n".join(out)


def data_bench_section(name: str, data: dict, _part) -> str:
    rows = [[text_cell(r["benchmark"]), ms(r["median_s"]), ms(r["target_s"]), "yes" if r.get("meets_target") else "**no**",
             text_cell(r.get("baseline", "")), ms(r.get("baseline_s")),
             "-" if _missing(r.get("speedup_vs_baseline")) else f"{r['speedup_vs_baseline']:.1f}x"] for r in data["rows"]]
    return "\n".join([f"Data: {text_cell(where(data.get('data')))}; median of {data.get('repeats')} repeats.", "",
                      table(["what", "median", "target", "met", "baseline", "baseline median", "speed-up"], rows), "",
                      f"Source: `bench/results/{name}`."])


def serving_section(name: str, data: dict, _part) -> str:
    api, cli, theirs = data["api"], data.get("predict_cli") or {}, data.get("mlflow_models_serve") or {}

    def ratio(a, b) -> str:
        return "-" if _missing(a) or _missing(b) or not b else f"{a / b:.1f}x"

    cached, uncached, invocations = api.get("cached_ms") or [None, None], api.get("uncached_ms") or [None, None], \
        theirs.get("invocations_ms") or [None, None]
    rows = [
        ["process start to first 200 (`/health`; mlflow: `/ping`)", f"{num(api.get('start_to_health_s'), 2)} s",
         f"{num(theirs.get('start_to_ping_s'), 2)} s", ratio(theirs.get("start_to_ping_s"), api.get("start_to_health_s"))],
        ["process start to first forecast (`POST /predict`)", f"{num(api.get('start_to_forecast_s'), 2)} s", "-", "-"],
        [f"resident memory after load and {api.get('forecasts')} forecasts", f"{num(api.get('rss_after_cached_mb'), 0)} MB",
         f"{num(theirs.get('rss_mb'), 0)} MB", ratio(theirs.get("rss_mb"), api.get("rss_after_cached_mb"))],
        [f"resident memory after {api.get('uncached_n')} more, uncached", f"{num(api.get('rss_after_uncached_mb'), 0)} MB", "-", "-"],
        ["`POST /predict`, cached, p50 / p99", f"{num(cached[0], 1)} / {num(cached[1], 1)} ms", "-", "-"],
        ["`POST /predict`, uncached (distinct `as_of`), p50 / p99", f"{num(uncached[0], 0)} / {num(uncached[1], 0)} ms",
         f"{num(invocations[0], 0)} / {num(invocations[1], 0)} ms, one window on `/invocations`",
         ratio(invocations[0], uncached[0])],
        ["`sensex predict --json`, whole process (peak memory)",
         f"{num(cli.get('wall_s'), 2)} s ({num(cli.get('peak_rss_mb'), 0)} MB)", "-", "-"],
    ]
    return "\n".join([f"Model version {data.get('version')}, one run on one home.", "",
                      table(["figure", "`sensex serve`", "`mlflow models serve` (same version)", "mlflow / sensex"], rows), "",
                      f"Source: `bench/results/{name}`."])


def load_section(name: str, data: dict, _part) -> str:
    """The mixed load alone, then with the heavy-page loops beside it, and the comparison."""
    replicas = data.get("replicas", 1)
    offered = (f"offered at {num(data['rate_offered'], 0)} requests/s (an open loop: each request's latency counts"
               " from when it was due)" if data.get("rate_offered") else f"at concurrency {data.get('concurrency')}")
    out = [f"{num(data.get('requests_per_run'))} requests per run {offered} to {replicas}"
           f" API process(es){' sharing Redis' if data.get('redis') else ''} on {data.get('cpus')} CPUs;"
           f" {percent(data.get('uncached_share_of_forecasts'))} of the forecasts ask for a date never asked before,"
           f" {percent(data.get('other_share'))} of all requests go to `/health` and `/predictions`. The first run is"
           f" the load alone; the next ones have {data.get('heavy_loops')} more connections asking in turn for"
           " `/drift`, `/drift/history`, `/explain` and `/market`.", ""]
    for number, run in enumerate(data.get("runs") or []):
        label = "alone" if not run.get("heavy_loops") else f"with {run['heavy_loops']} heavy loops"
        rows = [[g["name"], num(g["count"]), num(g["5xx"]), num(g["timeouts"]), num(g["errors"]), num(g["other_status"]),
                 num(g.get("p50_ms"), 1), num(g.get("p99_ms"), 1)] for g in run["groups"]]
        out += [f"Run {number + 1}, {label}: {num(run.get('wall_seconds'), 1)} s,"
                f" {num(run.get('throughput_rps'), 1)} requests/s; resident memory after it"
                f" {', '.join(num(m, 0) for m in run.get('rss_mb_after', []))} MB"
                + (f" (its worker processes: {', '.join(num(m, 0) for m in run['workers_rss_mb_after'])} MB)."
                   if run.get("workers_rss_mb_after") else "."), "",
                table(["requests", "count", "5xx", "timeouts", "errors", "other 4xx", "p50 ms", "p99 ms"], rows), ""]
    comparison = data.get("comparison") or {}
    rows = [[what, num(c.get("p99_ms_alone"), 1), num(c.get("p99_ms_with_heavy"), 1), num(c.get("target_ms"), 0),
             "yes" if (c.get("p99_ms_with_heavy") or 0) <= (c.get("target_ms") or 0) else "**no**"]
            for what, c in comparison.items() if what != "memory"]
    if rows:
        out += [table(["p99 of", "alone ms", "with heavy loops ms", "target ms", "met"], rows), ""]
    memory = comparison.get("memory")
    if memory:
        out += [f"Memory after the first heavy run {', '.join(num(m, 0) for m in memory['first_heavy_run_mb'])} MB,"
                f" after the last {', '.join(num(m, 0) for m in memory['last_heavy_run_mb'])} MB"
                f" ({', '.join(num(r, 3) for r in memory['ratio'])}x; flat is within 1.05x); before any load"
                f" {', '.join(num(m, 0) for m in data.get('rss_mb_before', []))} MB.", ""]
    return "\n".join([*out, f"Source: `bench/results/{name}` (each run overwrites it: this is the last one)."])


def app_section(name: str, data: dict, _part) -> str:
    rows = [[r["what"], f"{num(r['median'], 2)} {r['unit']}", f"{num(r['worst'], 2)} {r['unit']}",
             f"{num(r['target'], 1)} {r['unit']}", "yes" if r.get("met") else "**no**"] for r in data["rows"]]
    load_average = data.get("load_average") or [None]
    return "\n".join([f"{len(data.get('runs') or [])} dashboard processes; load average {num(load_average[0], 1)} at the end.",
                      "", table(["what", "median", "worst", "target", "met"], rows), "", f"Source: `bench/results/{name}`."])


def _median(values: list[float]):
    ordered = sorted(v for v in values if not _missing(v))
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def training_section(name: str, data: dict, _part) -> str:
    runs = data.get("runs") or {}
    baseline, pool = data.get("baseline"), data.get("pool")  # `pool`: the fan-out Ray replaced, when measured
    rows = []
    for key, measured in runs.items():
        mode, setting = key.split("|", 1)
        wall = _median([m["wall_s"] for m in measured])
        base = _median([m["wall_s"] for m in runs.get(f"{mode}|{baseline}", [])])
        row = [mode, setting, num(wall, 0), num(_median([m["cpu_s"] for m in measured]), 0),
               num(_median([m["peak_rss_mb"] for m in measured]), 0), num(measured[0].get("test_auc")),
               "-" if not wall or base is None else f"{base / wall:.2f}x"]
        if pool:
            pooled = _median([m["wall_s"] for m in runs.get(f"{mode}|{pool}", [])])
            row.append("-" if not wall or pooled is None else f"{pooled / wall:.2f}x")
        rows.append(row)
    header = ["mode", "setting", "wall s", "CPU s", "peak MB", "test AUC", "baseline wall / this"]
    lines = [f"`sensex train --preset {data.get('preset')} --model {data.get('model')}` as a whole process, "
             f"{data.get('cpus')} CPUs; medians over runs; the baseline setting is `{baseline}`.", "",
             table(header + ([f"{pool} wall / this"] if pool else []), rows)]
    tune = data.get("tune")
    if tune:
        lines += ["", f"`sensex tune --trials 4 --preset quick`: {num(tune.get('wall_s'), 0)} s wall,"
                      f" {num(tune.get('cpu_s'), 0)} s CPU; best trial's validation log-loss"
                      f" {num((tune.get('best') or {}).get('valid_log_loss'), 4)} against the quick preset's"
                      f" {num(tune.get('preset_valid_log_loss'), 4)}."]
    return "\n".join([*lines, "", f"Source: `bench/results/{name}`."])


# -- the range forecast (bench/risk.py, bench/range_cost.py) -------------------------------------

RANGE_LABELS = {
    "model": "**range model** (ridge on HAR, leverage, member and calendar terms)",
    "har": "HAR (1, 5, 22 sessions)",
    "har_sp500": "HAR + overnight S&P 500",
    "ewma": "EWMA (RiskMetrics)",
    "garch": "GARCH(1,1)",
    "mean5": "mean of the last 5 sessions",
    "mean22": "mean of the last 22 sessions",
    "yesterday": "yesterday's value",
}
RANGE_SHORT = {"model": "model", "har": "HAR", "har_sp500": "HAR + S&P 500", "ewma": "EWMA", "garch": "GARCH",
               "mean5": "mean 5", "mean22": "mean 22", "yesterday": "yesterday"}
RANGE_MODES = {"close": "close", "preopen": "pre-open"}
RANGE_HEADER = ["forecaster", "QLIKE [90%]", "MSE ln v", "MZ R²", "big-move AUC", "coverage 80%", "coverage 90%",
                "model's QLIKE gain [90%]"]


def range_rows(scored: dict, chosen: str | None = None) -> list[list[str]]:
    """The model and every baseline on the same rows; the last column is the model's paired QLIKE
    gain over that baseline (positive: the model is better)."""
    metrics = scored["metrics"]
    label = RANGE_LABELS["model"] + (f", `{chosen}`" if chosen else "")
    rows = [[label, cell(metrics.get("qlike"), (metrics.get("intervals") or {}).get("qlike")), num(metrics.get("mse_log")),
             num(metrics.get("r2")), num(metrics.get("big_move_auc")), num(metrics.get("coverage_80")),
             num(metrics.get("coverage_90")), "-"]]
    for name, b in (scored.get("baselines") or {}).items():
        rows.append([RANGE_LABELS.get(name, name), cell(b.get("qlike"), (b.get("intervals") or {}).get("qlike")),
                     num(b.get("mse_log")), num(b.get("r2")), num(b.get("big_move_auc")), num(b.get("coverage_80")),
                     num(b.get("coverage_90")), difference((b.get("model_gain") or {}).get("qlike"))])
    return rows


def range_provenance(data: dict, name: str) -> str:
    about = data.get("data") or {}
    boot = data.get("bootstrap") or {}
    parts = [f"Source: `bench/results/{name}`"]
    if about.get("first_date"):
        parts.append(f"data {about['first_date']}..{about.get('last_date')}, content hash `{str(about.get('content_hash'))[:12]}`")
    if boot:
        parts.append(f"{num(boot.get('resamples'))} moving-block resamples, blocks of {boot.get('block')} sessions")
    return "; ".join(parts) + "."


TARGET_WORDS = {
    "beats_ewma_qlike": "beats EWMA on QLIKE (paired interval above 0)",
    "beats_garch_qlike": "beats GARCH(1,1) on QLIKE (paired interval above 0)",
    "level_with_har_qlike": "at least level with HAR (paired interval reaches 0 or above)",
    "better_than_har_qlike_point": "better than HAR on the point estimate",
    "coverage_80_in_range": "80% coverage inside the bench's target band",
}


def range_targets(targets: dict) -> str:
    said = [f"{TARGET_WORDS[key]}: **{'yes' if value else 'no'}**" for key, value in targets.items() if key in TARGET_WORDS]
    return ("- The bench's own checks: " + "; ".join(said) + ".") if said else ""


def range_fixed_section(name: str, data: dict, fixed: dict) -> str:
    seg = fixed.get("segments") or {}
    train, valid, test = (seg.get(k, ["?", "?", "?"]) for k in ("train", "valid", "test"))
    scored = fixed["range"]
    out = [f"Train {train[0]}..{train[1]} (n={train[2]}), validate {valid[0]}..{valid[1]} (n={valid[2]}), test "
           f"{test[0]}..{test[1]} (n={scored.get('n')}); every forecaster on the same rows, 90% moving-block bootstrap "
           "interval on QLIKE, and the model's paired QLIKE gain over each baseline (positive: the model is better). "
           "Lower QLIKE and MSE are better; the coverage columns are the share of sessions whose absolute move fell "
           "inside the 80% and 90% intervals, calibrated as served forecasts are: on each forecaster's scores of the "
           "last 250 settled sessions after training (validation first).", "", table(RANGE_HEADER, range_rows(scored, fixed.get("chosen"))), ""]
    candidates = fixed.get("validation_qlike") or {}
    if candidates:
        listed = ", ".join(f"`{k}` {num(v)}" for k, v in candidates.items())
        out.append(f"- Chosen on validation: `{fixed.get('chosen')}` (validation QLIKE {listed}; HAR "
                   f"{num(fixed.get('validation_qlike_har'))}).")
    threshold = fixed.get("big_move_threshold")
    if threshold is not None:
        out.append(f"- A big move is an absolute close-to-close move above the training window's median, "
                   f"{num(threshold)}%; {percent(scored.get('big_move_share'))} of the test sessions had one.")
    by_year = fixed.get("coverage_by_year") or {}
    if by_year:
        years = "; ".join(f"{year} {num(c['80'][0])} ({percent(c['80'][1])} below, {percent(c['80'][2])} above)"
                          for year, c in by_year.items() if "80" in c)
        out.append(f"- The model's 80% interval by test year, inside (below it, above it): {years}.")
    fixed_year = fixed.get("validation_calibration_comparison")
    if fixed_year:
        out.append(f"- The method the rolling calibration replaced, quantiles from the validation year alone, covered "
                   f"{num(fixed_year.get('coverage_80'))} (80%) and {num(fixed_year.get('coverage_90'))} (90%) of the "
                   "same sessions.")
    counts = fixed.get("counts") or {}
    if counts:
        out.append(f"- Sessions without a range (high equal to low): {num(counts.get('no_range_sessions'))} of "
                   f"{num(counts.get('sessions'))}.")
    look = fixed.get("look_ahead_max_difference") or {}
    if look:
        out.append(f"- Look-ahead check: forecasts rebuilt from the rows known at the time on {', '.join(look)} differ "
                   f"from the full-data ones by at most {max(look.values()):.1e}.")
    versus = data.get("preopen_vs_close")
    if versus and fixed is (data.get("fixed_split") or {}).get("preopen"):
        out.append(f"- Pre-open against close on the same {versus.get('n')} test sessions: QLIKE "
                   f"{num(versus.get('qlike_preopen'))} against {num(versus.get('qlike_close'))}, the pre-open model's "
                   f"gain {difference(versus.get('qlike_gain_of_preopen'))}.")
    targets = range_targets(fixed.get("targets") or {})
    if targets:
        out.append(targets)
    out += ["", range_provenance(data, name)]
    return "\n".join(out)


def range_walk_forward_section(name: str, data: dict, walk: dict) -> str:
    out = []
    for mode, wf in walk.items():
        scored = wf.get("range") or {}
        if "metrics" not in scored:
            continue
        years = wf.get("years") or ["?", "?"]
        chosen = wf.get("chosen") or {}
        out += [f"**{RANGE_MODES.get(mode, mode).capitalize()} mode**, {years[0]}-{years[-1]}: each year refit on every "
                f"session up to two years before it, validated on the year before, tested on the year; the "
                f"{len(wf.get('qlike_by_year') or chosen)} test years pooled (n={scored.get('n')}).", "",
                table(RANGE_HEADER, range_rows(scored)), ""]
        if chosen:
            out.append("- Chosen on each validation year: " + ", ".join(f"{year} `{c}`" for year, c in chosen.items()) + ".")
        targets = range_targets(wf.get("targets") or {})
        if targets:
            out.append(targets)
        out.append("")
    per_year = {mode: wf.get("qlike_by_year") or {} for mode, wf in walk.items()}
    years = sorted({year for table_ in per_year.values() for year in table_})
    if years:
        rows = []
        for year in years:
            row = [year]
            for mode in per_year:
                scores = per_year[mode].get(year) or {}
                others = {k: v for k, v in scores.items() if k not in ("model", "n") and not _missing(v)}
                best = min(others, key=others.get) if others else None
                row += [num(scores.get("model")), f"{num(others[best])} ({RANGE_SHORT.get(best, best)})" if best else "-"]
            rows.append(row)
        header = ["year"] + [f"{RANGE_MODES.get(m, m)}: {what}" for m in per_year for what in ("model", "best baseline")]
        out += ["QLIKE of each test year, the model beside the best baseline of that year:", "", table(header, rows), ""]
    out.append(range_provenance(data, name))
    return "\n".join(out)


GAIN_OVER = ("har", "ewma", "garch")


def range_summary(results: Path) -> str:
    """The model's paired QLIKE gain over HAR, EWMA and GARCH, in every split and mode measured."""
    columns = []
    for part, split in (("fixed_split", "fixed split"), ("walk_forward", "walk-forward")):
        hit = load(results, Source(("risk.json",), "", (part,)))
        for mode, record in (hit[2] if hit else {}).items():
            if "metrics" in (record.get("range") or {}):
                columns.append((f"{RANGE_MODES.get(mode, mode)}, {split}", record["range"]))
    if not columns:
        return SOURCES["range-close"].absent(results)
    rows = [["model's QLIKE", *[num(scored["metrics"].get("qlike")) for _, scored in columns]]]
    for name in GAIN_OVER:
        rows.append([f"gain over {RANGE_SHORT[name]}",
                     *[difference(((scored["baselines"].get(name) or {}).get("model_gain") or {}).get("qlike"))
                       for _, scored in columns]])
    rows.append(["80% / 90% coverage", *[f"{num(s.get('coverage_80'))} / {num(s.get('coverage_90'))}" for _, s in columns]])
    return "\n".join([table(["", *[label for label, _ in columns]], rows), "",
                      "QLIKE gain: the baseline's QLIKE minus the model's on the same sessions, with its 90% paired "
                      "block-bootstrap interval; above 0, the model is better. Generated from `bench/results/risk.json`."])


def range_cost_section(name: str, data: dict, _part) -> str:
    runs = data.get("runs") or {}
    median = data.get("median") or {}
    loads = any("load_before" in r for measured in runs.values() for r in measured)
    rows = []
    for setting, measured in runs.items():
        parts = [r["range_s"] for r in measured if not _missing(r.get("range_s"))]
        row = [setting, num((median.get(setting) or {}).get("wall_s"), 0), num((median.get(setting) or {}).get("cpu_s"), 0),
               ", ".join(num(r.get("wall_s"), 0) for r in measured), num(_median(parts), 1) if parts else "-",
               num(measured[0].get("test_auc")) if measured else "-"]
        if loads:
            row.append(", ".join(num(r.get("load_before"), 1) for r in measured))
        rows.append(row)
    header = ["setting", "median wall s", "median CPU s", "each run, wall s", "range part s", "test AUC"]
    out = [f"`sensex train --preset {data.get('preset')}` as a whole process, {data.get('cpus')} CPUs, "
           f"{data.get('repeats')} runs per setting, alternating (data: {data.get('data')}); *range part* is the "
           "command's own count of the seconds spent building the range data, fitting every forecaster and scoring "
           "them.", "", table(header + (["load before each run"] if loads else []), rows), ""]
    overhead = data.get("overhead") or {}
    if overhead:
        line = (f"- The range part: {num(overhead.get('range_part_s'), 1)} s, "
                f"{percent(overhead.get('range_part_share_of_on'))} of the median run with it")
        if overhead.get("within_run") is not None:
            line += f"; {float(overhead['within_run']):+.1%} over the rest of the same run"
        line += (f". The A/B medians differ by {float(overhead['wall']):+.0%} of wall time"
                 if overhead.get("wall") is not None else "")
        out.append(line + " (runs of one setting spread as the column above shows: on a shared machine the A/B "
                          "figure follows the neighbours' load).")
        if "within_budget" in overhead:
            basis = "the within-run figure" if overhead.get("within_run") is not None else "the A/B wall medians"
            out.append(f"- The bench's budget verdict, judged on {basis}: "
                       f"**{'within' if overhead['within_budget'] else 'over'}**.")
    out += ["", f"Source: `bench/results/{name}`."]
    return "\n".join(out)


# -- the backtest (bench/backtest.py) ------------------------------------------------------------

BACKTEST_HEADER = ["rule", "instrument", "costs", "CAGR", "Sharpe", "Sortino", "max drawdown", "Calmar", "hit rate",
                   "in market", "turnover / yr", "trades", "costs ₹ lakh (of gross profit)",
                   "Sharpe − buy-and-hold [90%]"]


def pct(value, digits: int = 1) -> str:
    return "-" if _missing(value) else f"{float(value):+.{digits}%}"


def lakh(costs: dict | None) -> str:
    costs = costs or {}
    rupees = costs.get("rupees")
    if _missing(rupees):
        return "-"
    if not rupees:
        return "0"
    share = costs.get("share_of_gross_profit")
    return f"{rupees / 1e5:,.1f} ({'no gross profit' if _missing(share) else f'{float(share):.0%}'})"


def statistics_row(label: str, instrument: str, costs: str, s: dict, difference_cell: str) -> list[str]:
    return [label, instrument, costs, pct(s.get("cagr")), signed(s.get("sharpe"), 2), signed(s.get("sortino"), 2),
            pct(s.get("max_drawdown")), signed(s.get("calmar"), 2), percent(s.get("hit_rate")), percent(s.get("exposure")),
            num(s.get("turnover"), 1), num(s.get("trades")), lakh(s.get("costs")), difference_cell]


def _sharpe_difference(run: dict) -> str:
    d = run.get("sharpe_difference") or {}
    interval = d.get("interval") or [None, None]
    return difference([d.get("value"), *interval], 2)


def backtest_section(name: str, data: dict, record: dict) -> str:
    runs = record.get("runs") or {}
    groups: dict[tuple, list[dict]] = {}
    for run in runs.values():
        groups.setdefault((bool(run.get("zero_costs")), (run.get("instrument") or {}).get("key", "?")), []).append(run)
    rows = []
    always = "always long (buy at every open, sell at that close)" if record.get("mode") == "preopen" else \
        "always long (same fills)"
    for (zero, instrument), members in groups.items():
        costs = "zero" if zero else "shipped"
        for run in members:
            rows.append(statistics_row(f"`{run.get('rule')}`", instrument, costs, run.get("strategy") or {},
                                       _sharpe_difference(run)))
        first = members[0]
        rows.append(statistics_row("*buy and hold*", instrument, costs, first.get("buy_and_hold") or {}, "-"))
        rows.append(statistics_row(f"*{always}*", instrument, costs, first.get("always_long") or {}, "-"))
    first = next(iter(runs.values()), {})
    window = first.get("window") or {}
    fills = ("traded at the close of the forecast's session and held to the next close (market-on-close)"
             if first.get("fills") == "close" else
             "bought or sold at the next session's open and closed at its close: the opening gap is never earned")
    span = record.get("span") or ["?", "?"]
    capital = record.get("capital_rupees")
    out = [f"The walk-forward's out-of-sample P(UP) over {span[0]}..{span[1]} (`{record.get('preset')}` preset, "
           f"{record.get('model')}, refit every {record.get('refit_months')} months), sessions "
           f"{window.get('first_session')}..{window.get('last_session')} (n={window.get('sessions')}, no-call share "
           f"{percent(first.get('no_call_share'))}); {fills}. "
           + (f"₹{capital / 1e7:g} crore to start. " if not _missing(capital) else "")
           + "Sharpe − buy-and-hold is the strategy's Sharpe minus buy-and-hold's on the same sessions, with its 90% "
           "paired moving-block bootstrap interval.", "", table(BACKTEST_HEADER, rows), ""]
    gaps: dict[str, dict] = {}
    for run in runs.values():
        if run.get("gap_not_tradable"):
            gaps.setdefault(run.get("rule"), run["gap_not_tradable"])
    if gaps:
        label = str(next(iter(gaps.values())).get("label") or "the rule's positions over the opening gap")
        label = re.sub(r"^not tradable:\s*", "", label, flags=re.IGNORECASE)
        out += [f"**NOT TRADABLE**: {label}.", "",
                table(["rule's positions over the gap (not tradable)", "CAGR", "Sharpe", "Sortino", "max drawdown",
                       "hit rate"],
                      [[f"`{rule}`", pct(g.get("cagr")), signed(g.get("sharpe"), 2), signed(g.get("sortino"), 2),
                        pct(g.get("max_drawdown")), percent(g.get("hit_rate"))] for rule, g in gaps.items()]), ""]
    if record.get("verdict"):
        out += ["The bench's verdict, as it states it:", "", f"> {' '.join(str(record['verdict']).split())}", ""]
    quality = record.get("open_quality") or {}
    notes = []
    if quality:
        notes.append(f"Index opens: {num(quality.get('open_missing'))} missing, equal to the previous close on "
                     f"{pct(quality.get('open_equals_previous_close')).lstrip('+')} of sessions, mean absolute gap "
                     f"{num(100 * quality['gap_abs_mean'] if not _missing(quality.get('gap_abs_mean')) else None)}%.")
    about = record.get("data") or {}
    ids = [f"costs file SHA-256 `{str(record.get('costs_sha256'))[:12]}`" if record.get("costs_sha256") else "",
           f"data content hash `{str(about.get('content_hash'))[:12]}`" if about.get("content_hash") else "",
           f"MLflow walk-forward run `{record.get('walk_forward_run_id')}`" if record.get("walk_forward_run_id") else "",
           f"backtest run `{record.get('mlflow_backtest_run_id')}`" if record.get("mlflow_backtest_run_id") else ""]
    notes.append(f"Source: `bench/results/{name}`" + "".join(f"; {part}" for part in ids if part) + ".")
    out.append("\n\n".join(notes))
    return "\n".join(out)


def backtest_verdicts(results: Path) -> str:
    """Each mode's verdict, in the bench's own words (its figures come from the same run's JSON)."""
    out = []
    for mode in ("close", "preopen"):
        hit = load(results, SOURCES[f"backtest-{mode}"])
        if hit is None:
            out.append(f"- {RANGE_MODES[mode].capitalize()}: {SOURCES[f'backtest-{mode}'].absent(results)}")
        elif hit[2].get("verdict"):
            out.append(f"- **{RANGE_MODES[mode].capitalize()}**: {' '.join(str(hit[2]['verdict']).split())}")
        else:
            out.append(f"- {RANGE_MODES[mode].capitalize()}: `bench/results/{hit[0]}` carries no verdict text; the "
                       "backtest tables on the Results page hold its figures.")
    return "\n".join([*out, "", "Generated from `bench/results/backtest.json`."])


def backtest_cost(results: Path) -> str:
    rows = []
    for mode in ("close", "preopen"):
        hit = load(results, SOURCES[f"backtest-{mode}"])
        if hit is None:
            continue
        record = hit[2]
        seconds = record.get("seconds") or {}
        machine = record.get("machine") or {}
        rows.append([RANGE_MODES[mode], num(seconds.get("walk_forward"), 0),
                     f"{ms(seconds.get('backtest_from_stored_forecasts_median'))} / "
                     f"{ms(seconds.get('backtest_from_stored_forecasts_max'))}",
                     num(seconds.get("backtest_command_with_mlflow_run"), 1), num(record.get("total_seconds"), 0),
                     num(machine.get("cpus"))])
    if not rows:
        return SOURCES["backtest-close"].absent(results)
    return "\n".join([table(["mode", "walk-forward s", "one backtest of the stored forecasts, median / worst",
                             "`sensex backtest` with its MLflow run, s", "whole bench s", "CPUs"], rows), "",
                      "Source: `bench/results/backtest.json`."])


COSTS_FILE = Path("sensex") / "backtest" / "costs.yaml"


def _cost_value(figure: str, value) -> str:
    if figure.endswith("_pct"):
        return f"{value:g}%"
    if figure.endswith("_rupees"):
        return f"₹{value:g}"
    if figure.endswith("_bps"):
        return f"{value:g} bp"
    if figure == "price_ratio":
        return f"{value:g} × the index"
    if figure == "lot_size":
        return f"{value:g} unit{'' if value == 1 else 's'}"
    return f"{value}"


def backtest_costs(repo: Path) -> str:
    """The shipped costs file as tables: every dated figure with its source, as `sensex backtest` reads it."""
    import yaml

    path = repo / COSTS_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    capital = data.get("capital_rupees")
    out = [f"From `{COSTS_FILE.as_posix()}`: starting capital ₹{capital:,.0f}"
           + (f" (₹{capital / 1e7:g} crore)" if capital and capital >= 1e7 else "")
           + f"; default instrument `{data.get('default_instrument')}`. Each figure is in force from its date until "
             "the next entry's.", ""]
    for key, block in (data.get("instruments") or {}).items():
        rows = []
        for name, entries in block.items():
            if name in ("name", "kind", "short_selling"):
                continue
            # An ETF's charges come per trade style (`delivery:`, `intraday:`), a future's once for both.
            figures = [(name, style, schedule) for style, schedule in entries.items()] \
                if isinstance(entries, dict) and "from" not in entries else [("", name, entries)]
            for style, figure, schedule in figures:
                for entry in (schedule if isinstance(schedule, list) else [schedule]):
                    rows.append([f"`{figure}`", style or "-", str(entry.get("from")),
                                 _cost_value(figure, entry.get("value")), text_cell(entry.get("source", ""))])
        shorts = "can be sold short" if block.get("short_selling") else "cannot be sold short"
        out += [f"**`{key}`**: {block.get('name', key)} ({block.get('kind')}; {shorts}).", "",
                table(["figure", "trade style", "from", "value", "source"], rows), ""]
    return "\n".join(out)


COST_FILES = ("model_quality.json", "model_quality_preopen.json", "model_quality_preopen_walk_forward.json",
              "model_quality_close_preopen.json")


def model_quality_cost(results: Path) -> str:
    rows = []
    for name in COST_FILES:
        path = results / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        cpu = data.get("cpu_seconds") or {}
        label = f"`{name}`" + (" (`--quick` smoke run)" if data.get("quick") else "")
        for phase, wall in (data.get("wall_seconds") or {}).items():
            rows.append([label, phase.replace("_", " "), num(wall, 0), num(cpu.get(phase), 0)])
        rows.append([label, "**whole process**", num(data.get("total_seconds"), 0), num(data.get("total_cpu_seconds"), 0)])
    if not rows:
        return SOURCES["close"].absent(results)
    return table(["file", "part", "wall s", "CPU s"], rows)


def bench_scripts(repo: Path) -> str:
    """Every benchmark script with the first line of its docstring, and the result files present."""
    results = repo / "bench" / "results"
    rows = []
    for path in sorted((repo / "bench").glob("*.py")):
        doc = _first_paragraph(path)
        if not doc or path.name in ("timing.py", "real_data.py"):  # helpers the scripts share
            continue
        rows.append([f"`.venv/bin/python bench/{path.name}`", text_cell(doc)])
    present = sorted(p.name for p in results.glob("*.json")) if results.is_dir() else []
    stored = ", ".join(f"`{name}`" for name in present) if present else "none yet"
    return "\n".join([table(["command", "what it measures"], rows), "", f"Result files in `bench/results/`: {stored}."])


SUMMARY_MODELS = ("ensemble", "convlstm", "lstm", "gbm", "logreg", "sp500_rule", "always_up", "prev_day")


def results_summary(results: Path) -> str:
    """Model against baselines, close and pre-open, on the fixed split's test window: AUC and Brier."""
    found = {mode: load(results, SOURCES[mode]) for mode in ("close", "preopen")}
    if not any(found.values()):
        return "\n\n".join(SOURCES[mode].absent(results) for mode in ("close", "preopen"))
    by_mode = {mode: {r["model"]: r for r in hit[2]["rows"]} if hit else {} for mode, hit in found.items()}
    seeds = next(((hit[2].get("config") or {}).get("model", {}).get("ensemble_seeds") for hit in found.values() if hit), None)
    rows = []
    for model in SUMMARY_MODELS:
        if not any(model in rows_of for rows_of in by_mode.values()):
            continue
        line = [model_label(model, seeds)]
        for mode in ("close", "preopen"):
            row = by_mode[mode].get(model)
            line += ([cell(row["auc"], (row.get("intervals") or {}).get("auc")), num(row["brier"], 4)] if row else ["-", "-"])
        rows.append(line)
    notes = []
    for mode, hit in found.items():
        label = "Close" if mode == "close" else "Pre-open"
        if hit:
            name, data, fixed = hit
            test = (fixed.get("segments") or {}).get("test", ["?", "?"])
            notes.append(f"- {label}: `{fixed.get('preset')}` preset, test {test[0]}..{test[1]} "
                         f"(n={fixed['rows'][0].get('n')}), generated from `bench/results/{name}`{smoke_note(data)}.")
        else:
            notes.append(f"- {label}: {SOURCES[mode].absent(results)}")
    return "\n".join([table(["model", "close: AUC [90%]", "close: Brier", "pre-open: AUC [90%]", "pre-open: Brier"], rows),
                      "", *notes])


def result_section(key: str, render: Callable[[str, dict, object], str]) -> Callable[[Path], str]:
    def section(results: Path) -> str:
        hit = load(results, SOURCES[key])
        if hit is None:
            return SOURCES[key].absent(results)
        name, data, part = hit
        return render(name, data, part)
    return section


# -- references from the code -------------------------------------------------------------------

def _option_type(param) -> str:
    """The value an option takes, from typer's parameter (its vendored click has moved before)."""
    if getattr(param, "is_flag", False):
        return ""
    kind = getattr(param, "type", None)
    name = getattr(kind, "name", None)
    if name is None:
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        name = getattr(annotation, "__name__", None) or (str(annotation) if annotation else "")
    return {"str": "TEXT", "string": "TEXT", "int": "INTEGER", "integer": "INTEGER", "float": "NUMBER",
            "path": "PATH"}.get(str(name).lower(), str(name).upper())


def cli_reference() -> str:
    import typer.main

    from sensex.interfaces.cli import app

    root = typer.main.get_command(app)
    sections, summary = [], []

    def usage(path: list[str], command) -> str:
        arguments = [p.name.upper() for p in command.params if getattr(p, "param_type_name", "") == "argument"]
        tail = " COMMAND" if getattr(command, "commands", None) else ""
        return " ".join([*path, "[OPTIONS]", *arguments]) + tail

    def options(command) -> str:
        rows = []
        for param in command.params:
            if getattr(param, "hidden", False) or getattr(param, "param_type_name", "") != "option":
                continue
            kind = _option_type(param)
            names = ", ".join(f"`{opt}`" for opt in [*param.opts, *getattr(param, "secondary_opts", [])])
            default = param.default
            shown = "required" if param.required else ("-" if default in (None, False, "") else f"`{default}`")
            rows.append([names + (f" {kind}" if kind else ""), shown, text_cell(getattr(param, "help", None) or "")])
        for param in command.params:
            if getattr(param, "param_type_name", "") == "argument":
                rows.insert(0, [param.name.upper(), "required" if param.required else "-", "positional argument"])
        return table(["option", "default", "description"], rows) if rows else "No options."

    def walk(command, path: list[str], depth: int) -> None:
        subcommands = {name: sub for name, sub in (getattr(command, "commands", None) or {}).items()
                       if not getattr(sub, "hidden", False)}
        if depth > 0:
            help_text = inspect.cleandoc(command.help or "").replace("\b\n", "")
            first = help_text.split("\n\n")[0].replace("\n", " ")
            summary.append([f"[`{' '.join(path)}`](#{'-'.join(path)})", text_cell(first)])
            sections.append("\n".join([f"{'#' * min(depth + 2, 5)} `{' '.join(path)}`", "", help_text, "",
                                       "```text", usage(path, command), "```", "", options(command), ""]))
        for name, sub in subcommands.items():
            walk(sub, [*path, name], depth + 1)

    walk(root, ["sensex"], 0)
    top = options(root)
    return "\n".join([table(["command", "what it does"], summary), "", "Options of `sensex` itself:", "", top, "",
                      *sections])


def _schema_type(schema: dict, components: dict) -> str:
    if "$ref" in schema:
        return f"[{schema['$ref'].rsplit('/', 1)[-1]}](#{schema['$ref'].rsplit('/', 1)[-1].lower()})"
    if "anyOf" in schema:
        return " or ".join(_schema_type(option, components) for option in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_schema_type(schema.get('items', {}), components)}"
    if "enum" in schema:
        return " or ".join(f"`{value}`" for value in schema["enum"])
    if schema.get("format"):
        kind += f" ({schema['format']})"
    if "minimum" in schema and "maximum" in schema:
        return f"{kind}, {schema['minimum']} to {schema['maximum']}"
    if "minimum" in schema or "maximum" in schema:
        return f"{kind}, >= {schema['minimum']}" if "minimum" in schema else f"{kind}, <= {schema['maximum']}"
    return kind


def _openapi() -> dict:
    import tempfile

    from sensex.core.settings import load_settings
    from sensex.interfaces.api import create_app

    # The schema needs no state: a throwaway home, so the build never reads or creates ~/.sensex.
    with tempfile.TemporaryDirectory(prefix="sensex-docs-") as home:
        return create_app(load_settings({"SENSEX_HOME": home})).openapi()


def rest_reference() -> str:
    spec = _openapi()
    components = spec.get("components", {}).get("schemas", {})
    sections = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            title = f"{method.upper()} {path}"
            anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            # FastAPI's summary is the function's name in words ("Data Status"): only a docstring says more.
            description = inspect.cleandoc(operation.get("description") or "")
            part = [f"### `{title}` {{#{anchor}}}", "", description, ""] if description else [f"### `{title}` {{#{anchor}}}", ""]
            parameters = operation.get("parameters") or []
            if parameters:
                rows = []
                for parameter in parameters:
                    schema = parameter.get("schema", {})
                    default = schema.get("default")
                    rows.append([f"`{parameter['name']}`", parameter.get("in", ""), _schema_type(schema, components),
                                 "-" if default is None else f"`{default}`",
                                 text_cell(parameter.get("description") or schema.get("description") or "")])
                part += [table(["parameter", "in", "type", "default", "description"], rows), ""]
            body = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                part += [f"Request body (JSON, optional): {_schema_type(body, components)}.", ""]
            responses = operation.get("responses") or {}
            part += ["Responses: " + "; ".join(
                f"`{status}` {text_cell(answer.get('description', ''))}" +
                (f" ({_schema_type(answer['content']['application/json']['schema'], components)})"
                 if "$ref" in (answer.get("content", {}).get("application/json", {}).get("schema") or {}) else "")
                for status, answer in responses.items()) + ".", ""]
            sections.append("\n".join(part))
    return "\n".join(sections)


def rest_schemas() -> str:
    components = _openapi().get("components", {}).get("schemas", {})
    out = []
    for name, schema in components.items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue
        required = set(schema.get("required") or [])
        rows = [[f"`{field}`", _schema_type(spec, components), "yes" if field in required else "no",
                 text_cell(spec.get("description") or "")] for field, spec in (schema.get("properties") or {}).items()]
        description = text_cell(schema.get("description") or "")
        out += [f"### {name} {{#{name.lower()}}}", "", *([description, ""] if description else []),
                table(["field", "type", "always present", "description"], rows), ""]
    return "\n".join(out)


def python_api() -> str:
    from sensex import serving

    out = []
    for name in serving.__all__:
        cls = getattr(serving, name)
        doc = inspect.getdoc(cls) or ""
        module = cls.__module__
        out += [f"### `{name}`", "", f"`from sensex.serving import {name}` (defined in `{module}`).", ""]
        if doc:
            out += [doc.split("\n\n")[0], ""]
        rows = []
        for member, value in inspect.getmembers(cls):
            if member.startswith("_"):
                continue
            static = inspect.getattr_static(cls, member)
            if isinstance(static, property):
                rows.append([f"`{member}`", "property", text_cell((inspect.getdoc(static) or "").split("\n\n")[0])])
            elif callable(value):
                # Annotations are strings under `from __future__ import annotations`: shown without quotes.
                signature = str(inspect.signature(value)).replace("(self, ", "(").replace("(self)", "()").replace("'", "")
                rows.append([f"`{member}{signature}`", "method",
                             text_cell((inspect.getdoc(value) or "").split("\n\n")[0])])
        out += [table(["member", "kind", "what it does"], rows), ""]
    return "\n".join(out)


def _constraint(field) -> str:
    parts = []
    for rule in field.metadata:
        for attribute, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "length >=")):
            if getattr(rule, attribute, None) is not None:
                parts.append(f"{sign} {getattr(rule, attribute)}")
    return ", ".join(parts)


def presets() -> str:
    from importlib import resources

    from sensex.models.config import SECTION_MODELS, load_config

    shipped = {p.name[:-5] for p in (resources.files("sensex.models") / "presets").iterdir() if p.name.endswith(".yaml")}
    names = [n for n in ("quick", "full", "walkforward") if n in shipped] + sorted(shipped - {"quick", "full", "walkforward"})
    loaded = {name: load_config(name).to_dict() for name in names}
    out = []
    for section, model in SECTION_MODELS.items():
        rows = []
        for key, field in model.model_fields.items():
            default = None if field.default_factory else field.default
            values = [loaded[name][section][key] for name in names]
            rows.append([f"`{section}.{key}`", f"`{default}`",
                         *[(f"**`{v}`**" if v != default else f"`{v}`") for v in values], _constraint(field)])
        out += [f"### `{section}`", "", table(["key", "default", *[f"`{n}`" for n in names], "allowed"], rows), ""]
    return "\n".join(out)


def _importlinter(repo: Path) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get("importlinter", {})


def _layers(repo: Path) -> list[str]:
    for contract in _importlinter(repo).get("contracts", []):
        if contract.get("type") == "layers":
            return list(contract["layers"])
    raise ValueError("pyproject.toml has no import-linter `layers` contract")


def _children(package_dir: Path) -> list[str]:
    names = [p.stem for p in sorted(package_dir.glob("*.py")) if p.name != "__init__.py"]
    names += [f"{p.name}/" for p in sorted(package_dir.iterdir()) if p.is_dir() and (p / "__init__.py").is_file()]
    return names


def _packages(layer: str) -> list[str]:
    """The packages of one layer: `a | b` (independent siblings) and `a : b` name several."""
    return [part.strip() for part in re.split(r"[|:]", layer) if part.strip()]


def layer_diagram(repo: Path) -> str:
    layers = _layers(repo)
    width = max(len(package) for layer in layers for package in _packages(layer)) + 4
    lines = []
    for number, layer in enumerate(layers):
        packages = _packages(layer)
        lines.append("+" + "-" * width + "+")
        for package in packages:
            folder = repo / Path(*package.split("."))
            contents = ", ".join(_children(folder)) if folder.is_dir() else "(no such package)"
            lines.append(f"|  {package:<{width - 2}}|  {contents}")
        if len(packages) > 1:
            note = "independent siblings: neither imports the other" if "|" in layer else "siblings of one layer"
            lines.append(f"|  {'':<{width - 2}}|  ({note})")
        lines.append("+" + "-" * width + "+")
        if number < len(layers) - 1:
            lines += [" " * (width // 2) + "|", " " * (width // 2) + "v"]
    return "```text\n" + "\n".join(lines) + "\n```"


def _first_paragraph(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        return "(does not parse)"
    return " ".join(doc.split("\n\n")[0].split())


def module_map(repo: Path) -> str:
    layers = [package for layer in _layers(repo) for package in _packages(layer)]
    package_root = repo / layers[0].split(".")[0]
    others = [f"{package_root.name}.{p.name}" for p in sorted(package_root.iterdir())
              if p.is_dir() and (p / "__init__.py").is_file() and f"{package_root.name}.{p.name}" not in layers]
    out = []
    for layer in [*layers, *others]:
        folder = repo / Path(*layer.split("."))
        rows = []
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            doc = _first_paragraph(path)
            if path.name == "__init__.py" and not doc:
                continue
            rows.append([f"`{path.relative_to(repo).as_posix()}`", text_cell(doc or "-")])
        title = f"### `{layer}`" if layer in layers else f"### `{layer}` (not in the layer contract)"
        out += [title, "", table(["module", "what it owns (its docstring)"], rows) if rows else "No modules.", ""]
    return "\n".join(out)


# -- the sections -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    repo: Path

    @property
    def results(self) -> Path:
        return self.repo / "bench" / "results"


SECTIONS: dict[str, Callable[[Context], str]] = {
    "results-summary": lambda c: results_summary(c.results),
    "results-close": lambda c: result_section("close", fixed_split_section)(c.results),
    "results-quick-check": lambda c: result_section("quick-check", quick_check_section)(c.results),
    "results-close-members": lambda c: result_section("close-members", close_members_section)(c.results),
    "results-close-walk-forward": lambda c: result_section("close-walk-forward", walk_forward_section)(c.results),
    "results-preopen": lambda c: result_section("preopen", fixed_split_section)(c.results),
    "results-preopen-walk-forward": lambda c: result_section("preopen-walk-forward", walk_forward_section)(c.results),
    "results-preopen-signal": lambda c: result_section("preopen-signal", preopen_signal_section)(c.results),
    "results-members": lambda c: result_section("members", members_section)(c.results),
    "bench-data": lambda c: result_section("data", data_bench_section)(c.results),
    "bench-serving": lambda c: result_section("serving", serving_section)(c.results),
    "bench-load": lambda c: result_section("load", load_section)(c.results),
    "bench-app": lambda c: result_section("app", app_section)(c.results),
    "bench-training": lambda c: result_section("training", training_section)(c.results),
    "bench-model-quality-cost": lambda c: model_quality_cost(c.results),
    "results-range-summary": lambda c: range_summary(c.results),
    "results-range-close": lambda c: result_section("range-close", range_fixed_section)(c.results),
    "results-range-preopen": lambda c: result_section("range-preopen", range_fixed_section)(c.results),
    "results-range-walk-forward": lambda c: result_section("range-walk-forward", range_walk_forward_section)(c.results),
    "results-backtest-close": lambda c: result_section("backtest-close", backtest_section)(c.results),
    "results-backtest-preopen": lambda c: result_section("backtest-preopen", backtest_section)(c.results),
    "results-backtest-verdict": lambda c: backtest_verdicts(c.results),
    "bench-range-cost": lambda c: result_section("range-cost", range_cost_section)(c.results),
    "bench-backtest-cost": lambda c: backtest_cost(c.results),
    "backtest-costs": lambda c: backtest_costs(c.repo),
    "bench-scripts": lambda c: bench_scripts(c.repo),
    "cli": lambda c: cli_reference(),
    "rest": lambda c: rest_reference(),
    "rest-schemas": lambda c: rest_schemas(),
    "python-api": lambda c: python_api(),
    "presets": lambda c: presets(),
    "layers": lambda c: layer_diagram(c.repo),
    "modules": lambda c: module_map(c.repo),
}


def render(name: str, context: Context) -> str:
    """Section NAME as Markdown; an unknown name or a section that fails raises."""
    if name not in SECTIONS:
        raise KeyError(f"unknown generated section {name!r}: known are {', '.join(SECTIONS)}")
    return SECTIONS[name](context).rstrip() + "\n"


def expand(markdown: str, context: Context, where: str = "a page") -> str:
    """Every `<!-- generated: NAME -->` line of `markdown` replaced by its section. A failure is
    logged as a warning (fatal under --strict) and shown in the page instead of the section."""
    def replace(match: re.Match) -> str:
        name = match.group(1)
        try:
            return _cached(name, context)
        except Exception as exc:  # noqa: BLE001 - one broken section must name itself, not kill the build
            log.warning("docs/gen_results.py: section %r of %s cannot be generated: %s: %s",
                        name, where, type(exc).__name__, exc)
            return f'!!! failure "Section {name} could not be generated"\n    {type(exc).__name__}: {text_cell(exc)}\n'
    return MARKER.sub(replace, markdown)


@functools.cache
def _cached(name: str, context: Context) -> str:
    return render(name, context)


# -- MkDocs hook --------------------------------------------------------------------------------

def on_pre_build(config) -> None:
    _cached.cache_clear()  # `mkdocs serve` rebuilds: read the result files again


def on_page_markdown(markdown: str, page, config, files) -> str:
    repo = Path(config.config_file_path).resolve().parent
    return expand(markdown, Context(repo), page.file.src_uri)


# -- command line -------------------------------------------------------------------------------

def update_readme(readme: Path, context: Context) -> bool:
    """Replace README's results table (between its markers) by the generated one, when the result
    files exist; True when the README changed."""
    if not any(load(context.results, SOURCES[mode]) for mode in ("close", "preopen")):
        print("README left as it is: no model-quality results in bench/results yet.", file=sys.stderr)
        return False
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme} lacks the markers {README_START} ... {README_END}.")
    new = text[: start + len(README_START)] + "\n" + render("results-summary", context) + text[end:]
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("sections", nargs="*", help="section names (default: list them)")
    parser.add_argument("--all", action="store_true", help="every section")
    parser.add_argument("--out", type=Path, help="write each section to OUT/NAME.md instead of printing it")
    parser.add_argument("--repo", type=Path, default=REPO, help="the repository (default: this script's)")
    parser.add_argument("--readme", action="store_true", help="rewrite README.md's results table from bench/results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    context = Context(args.repo.resolve())
    if args.readme:
        changed = update_readme(context.repo / "README.md", context)
        print("README.md updated." if changed else "README.md unchanged.")
        return 0
    names = list(SECTIONS) if args.all else args.sections
    if not names:
        print("Sections: " + ", ".join(SECTIONS))
        return 0
    for name in names:
        text = render(name, context)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}.md").write_text(text, encoding="utf-8")
        else:
            print(f"<!-- {name} -->\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
