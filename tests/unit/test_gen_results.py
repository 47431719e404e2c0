"""docs/gen_results.py: the documentation's tables come from bench/results/*.json, never by hand.

The result sections are fed small files written here; the heavier sections (CLI, REST, presets)
are exercised by `mkdocs build --strict` in `make test`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("gen_results", REPO / "docs" / "gen_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


gen = _load()


def _row(model: str, accuracy: float, auc: float, brier: float, ece: float, interval: list | None = None) -> dict:
    return {"model": model, "accuracy": accuracy, "auc": auc, "brier": brier, "ece": ece, "n": 736, "up_share": 0.552,
            "intervals": {"accuracy": None, "auc": interval, "brier": None, "ece": None}, "train_seconds": 12.34,
            "after_open": {"accuracy": 0.5, "auc": 0.551, "brier": 0.25, "n": 736, "up_share": 0.46, "intervals": {}}}


def _model_quality(mode: str = "close") -> dict:
    rows = [_row("ensemble", 0.572, 0.562, 0.24531, 0.020, [0.533, 0.599]),
            _row("gbm", 0.572, 0.559, 0.2462, 0.028, [0.529, 0.593]),
            _row("always_up", 0.552, 0.5, 0.2476, 0.017, [0.5, 0.5])]
    fixed = {"mode": mode, "preset": "full", "config": {"model": {"ensemble_seeds": 3}},
             "segments": {"train": ["2000-01-03", "2017-12-29"], "valid": ["2018-01-01", "2018-12-31"],
                          "test": ["2019-01-02", "2021-12-30"]},
             "rows": rows, "verdict": {"text": "ensemble: AUC 0.562 vs best baseline gbm 0.559 (within noise)."}}
    return {"benchmark": "model_quality", "quick": False, "modes": [mode],
            "data": {"first_date": "1991-01-02", "last_date": "2021-12-31", "content_hash": "820c288c80a0ffff"},
            "machine": {"python": "3.11.7", "cpus": 2}, "fixed_split": {mode: fixed},
            "wall_seconds": {f"fixed_split_{mode}": 252.0}, "cpu_seconds": {f"fixed_split_{mode}": 414.0},
            "total_seconds": 1199.0, "total_cpu_seconds": 1800.0}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "bench" / "results").mkdir(parents=True)
    return tmp_path


def _write(repo: Path, name: str, data: dict) -> None:
    (repo / "bench" / "results" / name).write_text(json.dumps(data), encoding="utf-8")


def test_fixed_split_table_comes_from_the_results_file(repo: Path):
    _write(repo, "model_quality.json", _model_quality())

    page = gen.render("results-close", gen.Context(repo))

    assert "| model | accuracy | AUC | Brier | ECE | after the open: AUC | train s |" in page
    assert ("| ensemble (3 ConvLSTM seeds + logreg + gbm) | 0.572 | 0.562 [0.533, 0.599] | 0.2453 | 0.020 | 0.551 | 12.3 |"
            in page)
    assert "| always UP | 0.552 | 0.500 | 0.2476 |" in page  # a constant forecast has no AUC interval
    assert "test 2019-01-02..2021-12-30 (n=736, UP share 0.552)" in page
    assert "- ensemble: AUC 0.562 vs best baseline gbm 0.559 (within noise)." in page
    assert "Source: `bench/results/model_quality.json`" in page and "`820c288c80a0`" in page


def test_an_absent_results_file_says_which_command_writes_it(repo: Path):
    page = gen.render("results-close", gen.Context(repo))

    assert "`bench/results/model_quality.json` is absent" in page
    assert "Run `.venv/bin/python bench/model_quality.py` to produce it" in page
    assert "|" not in page  # no table, no figure


@pytest.mark.parametrize("name", [n for n in gen.SECTIONS if n.startswith(("results-", "bench-")) and n != "bench-scripts"])
def test_every_result_section_without_its_file_names_a_command(repo: Path, name: str):
    page = gen.render(name, gen.Context(repo))

    assert "Not measured yet" in page and "Run `.venv/bin/python bench/" in page


def test_a_file_holding_another_part_says_what_is_missing(repo: Path):
    data = _model_quality()
    del data["fixed_split"]["close"]
    _write(repo, "model_quality.json", data)

    page = gen.render("results-close", gen.Context(repo))

    assert "`bench/results/model_quality.json` holds no `fixed_split.close`" in page


def test_summary_puts_both_modes_side_by_side(repo: Path):
    _write(repo, "model_quality.json", _model_quality("close"))
    preopen = _model_quality("preopen")
    preopen["fixed_split"]["preopen"]["rows"][0]["auc"] = 0.642
    _write(repo, "model_quality_preopen.json", preopen)

    page = gen.render("results-summary", gen.Context(repo))

    assert "| model | close: AUC [90%] | close: Brier | pre-open: AUC [90%] | pre-open: Brier |" in page
    assert "| ensemble (3 ConvLSTM seeds + logreg + gbm) | 0.562 [0.533, 0.599] | 0.2453 | 0.642 [0.533, 0.599] | 0.2453 |" in page
    assert "generated from `bench/results/model_quality_preopen.json`" in page


def test_data_benchmark_table(repo: Path):
    _write(repo, "data.json", {"data": "real CSV files", "repeats": 5, "rows": [
        {"benchmark": "incremental update with nothing new", "median_s": 0.19, "min_s": 0.18, "target_s": 0.5,
         "meets_target": True, "baseline": "rewriting the whole store", "baseline_s": 0.95, "speedup_vs_baseline": 5.0}]})

    page = gen.render("bench-data", gen.Context(repo))

    assert "| incremental update with nothing new | 190 ms | 500 ms | yes | rewriting the whole store | 950 ms | 5.0x |" in page


def test_training_and_dashboard_tables(repo: Path):
    _write(repo, "training.json", {"preset": "full", "model": "ensemble", "cpus": 2, "baseline": "workers 1, threads 2",
                                   "runs": {"close|workers 2": [{"wall_s": 222.0, "cpu_s": 351.0, "peak_rss_mb": 900.0, "test_auc": 0.562}],
                                            "close|workers 1, threads 2": [{"wall_s": 313.0, "cpu_s": 585.0, "peak_rss_mb": 800.0,
                                                                            "test_auc": 0.562}]}})
    _write(repo, "app.json", {"load_average": [0.4, 0.5, 0.6], "runs": [{}, {}, {}], "rows": [
        {"what": "click Run Prediction to forecast drawn", "median": 0.12, "worst": 0.13, "target": 1.0, "unit": "s", "met": True}]})

    training = gen.render("bench-training", gen.Context(repo))
    dashboard = gen.render("bench-app", gen.Context(repo))

    assert "| close | workers 2 | 222 | 351 | 900 | 0.562 | 1.41x |" in training
    assert "| click Run Prediction to forecast drawn | 0.12 s | 0.13 s | 1.0 s | yes |" in dashboard


def test_training_table_compares_ray_with_the_pool_it_replaced(repo: Path):
    run = {"cpu_s": 300.0, "peak_rss_mb": 2000.0, "test_auc": 0.55}
    _write(repo, "training.json", {"preset": "full", "model": "ensemble", "cpus": 2, "baseline": "one process",
                                   "pool": "pool", "runs": {"close|ray": [{"wall_s": 200.0, **run}],
                                                            "close|pool": [{"wall_s": 210.0, **run}],
                                                            "close|one process": [{"wall_s": 280.0, **run}]},
                                   "tune": {"wall_s": 150.0, "cpu_s": 280.0, "best": {"valid_log_loss": 0.6901},
                                            "preset_valid_log_loss": 0.6932}})

    training = gen.render("bench-training", gen.Context(repo))

    assert "| close | ray | 200 | 300 | 2000 | 0.550 | 1.40x | 1.05x |" in training
    assert "best trial's validation log-loss 0.6901 against the quick preset's 0.6932" in training


def _scored(qlike: float, gain_over: dict[str, list] | None = None, coverage: tuple = (0.766, 0.848)) -> dict:
    """A `volatility.score_forecasts` record: the model's metrics and each baseline's with its gain."""
    def record(value: float) -> dict:
        return {"qlike": value, "mse_log": 0.59, "r2": 0.556, "big_move_auc": 0.67, "coverage_80": coverage[0],
                "coverage_90": coverage[1], "n": 736, "intervals": {"qlike": [value - 0.05, value + 0.05]}}
    baselines = {name: {**record(qlike + gain[0]), "model_gain": {"qlike": gain}}
                 for name, gain in (gain_over or {}).items()}
    return {"n": 736, "big_move_share": 0.467, "metrics": record(qlike), "baselines": baselines,
            "coverage_80": coverage[0], "coverage_90": coverage[1]}


def _risk(modes: tuple[str, ...] = ("close", "preopen"), walk_forward: bool = True) -> dict:
    gains = {"har": [0.062, 0.033, 0.101], "ewma": [0.125, 0.082, 0.176], "garch": [0.083, 0.052, 0.12]}
    fixed = {}
    for mode in modes:
        extra = {"har_sp500": [0.044, 0.024, 0.064]} if mode == "preopen" else {}
        fixed[mode] = {"segments": {"train": ["2005-01-03", "2017-12-29", 3193], "valid": ["2018-01-01", "2018-12-31", 246],
                                    "test": ["2019-01-02", "2021-12-30", 736]},
                       "chosen": "ridge_1", "validation_qlike": {"ridge_1": 0.2748, "ridge_10": 0.2750},
                       "validation_qlike_har": 0.3208, "big_move_threshold": 0.678, "range": _scored(0.302, gains | extra),
                       "counts": {"sessions": 5424, "no_range_sessions": 0},
                       "coverage_by_year": {"2019": {"n": 241, "80": [0.776, 0.095, 0.129]}},
                       "targets": {"beats_ewma_qlike": True, "coverage_80_in_range": False}}
    walk = {mode: {"years": [2012, 2021], "chosen": {"2012": "ridge_1000", "2013": "ridge_1"},
                   "qlike_by_year": {"2012": {"model": 0.3239, "har": 0.3300, "ewma": 0.3241, "n": 244}},
                   "range": _scored(0.350, gains, (0.803, 0.898)), "targets": {"beats_garch_qlike": True}}
            for mode in modes} if walk_forward else {}
    return {"benchmark": "risk", "modes": list(modes), "bootstrap": {"resamples": 1000, "block": 10, "level": 0.9},
            "data": {"first_date": "1991-01-02", "last_date": "2021-12-31", "content_hash": "fad89141b87e9ea3"},
            "fixed_split": fixed, "walk_forward": walk,
            "preopen_vs_close": {"n": 736, "qlike_close": 0.302, "qlike_preopen": 0.283,
                                 "qlike_gain_of_preopen": [0.019, 0.006, 0.034]}}


def test_range_tables_come_from_the_risk_file(repo: Path):
    _write(repo, "risk.json", _risk())

    close = gen.render("results-range-close", gen.Context(repo))
    preopen = gen.render("results-range-preopen", gen.Context(repo))

    assert ("| forecaster | QLIKE [90%] | MSE ln v | MZ R² | big-move AUC | coverage 80% | coverage 90% |"
            " model's QLIKE gain [90%] |") in close
    assert "`ridge_1` | 0.302 [0.252, 0.352] | 0.590 | 0.556 | 0.670 | 0.766 | 0.848 | - |" in close
    assert "| EWMA (RiskMetrics) | 0.427 [0.377, 0.477] | 0.590 | 0.556 | 0.670 | 0.766 | 0.848 | +0.125 [+0.082, +0.176] |" in close
    assert "test 2019-01-02..2021-12-30 (n=736)" in close and "HAR + overnight S&P 500" not in close
    assert "Chosen on validation: `ridge_1` (validation QLIKE `ridge_1` 0.275, `ridge_10` 0.275; HAR 0.321)" in close
    assert "2019 0.776 (10% below, 13% above)" in close
    assert "beats EWMA on QLIKE (paired interval above 0): **yes**" in close and "target band: **no**" in close
    assert "Pre-open against close" not in close
    assert "| HAR + overnight S&P 500 | 0.346 [0.296, 0.396] |" in preopen
    assert "Pre-open against close on the same 736 test sessions: QLIKE 0.283 against 0.302" in preopen
    assert "gain +0.019 [+0.006, +0.034]" in preopen
    assert "Source: `bench/results/risk.json`; data 1991-01-02..2021-12-31, content hash `fad89141b87e`" in close


def test_range_walk_forward_and_summary(repo: Path):
    _write(repo, "risk.json", _risk())

    walk = gen.render("results-range-walk-forward", gen.Context(repo))
    summary = gen.render("results-range-summary", gen.Context(repo))

    assert "**Close mode**, 2012-2021" in walk and "**Pre-open mode**, 2012-2021" in walk
    assert "| GARCH(1,1) | 0.433 [0.383, 0.483] |" in walk and "coverage 80% inside" not in walk
    assert "2012 `ridge_1000`, 2013 `ridge_1`" in walk
    assert "| year | close: model | close: best baseline | pre-open: model | pre-open: best baseline |" in walk
    assert "| 2012 | 0.324 | 0.324 (EWMA) | 0.324 | 0.324 (EWMA) |" in walk
    assert "| | close, fixed split | pre-open, fixed split | close, walk-forward | pre-open, walk-forward |" in \
        summary.replace("|  |", "| |")
    assert "| gain over EWMA | +0.125 [+0.082, +0.176] | +0.125 [+0.082, +0.176] |" in summary


def test_a_risk_run_without_its_walk_forward_says_what_is_missing(repo: Path):
    _write(repo, "risk.json", _risk(("close",), walk_forward=False))

    walk = gen.render("results-range-walk-forward", gen.Context(repo))
    preopen = gen.render("results-range-preopen", gen.Context(repo))
    summary = gen.render("results-range-summary", gen.Context(repo))

    assert "`bench/results/risk.json` holds no `walk_forward`" in walk
    assert "Run `.venv/bin/python bench/risk.py` to produce it" in walk
    assert "`bench/results/risk.json` holds no `fixed_split.preopen`" in preopen
    assert "close, fixed split" in summary and "walk-forward" not in summary.split("\n")[0]


def test_absent_range_and_backtest_files_name_their_commands(repo: Path):
    context = gen.Context(repo)

    assert "`bench/results/risk.json` is absent. Run `.venv/bin/python bench/risk.py`" in gen.render("results-range-close", context)
    assert "`bench/results/risk.json` is absent" in gen.render("results-range-summary", context)
    assert ("`bench/results/backtest.json` is absent. Run `.venv/bin/python bench/backtest.py --mode preopen`"
            in gen.render("results-backtest-preopen", context))
    assert "Run `.venv/bin/python bench/backtest.py --mode close`" in gen.render("results-backtest-verdict", context)
    assert ("`bench/results/range_cost.json` is absent. Run `.venv/bin/python bench/range_cost.py`"
            in gen.render("bench-range-cost", context))
    for name in ("results-range-close", "results-backtest-close", "bench-range-cost", "bench-backtest-cost"):
        assert "|" not in gen.render(name, context)  # no table, no figure


def _statistics(cagr: float, sharpe: float, rupees: float = 1585368.0, share: float | None = 0.066) -> dict:
    return {"cagr": cagr, "sharpe": sharpe, "sortino": 1.151, "max_drawdown": -0.378, "calmar": 0.341, "hit_rate": 0.54,
            "exposure": 0.958, "turnover": 32.74, "trades": 55, "costs": {"rupees": rupees, "share_of_gross_profit": share}}


def _backtest_run(rule: str, zero: bool, fills: str, gap: bool = False) -> dict:
    run = {"strategy": _statistics(0.129, 0.821, 0.0 if zero else 1585368.0), "buy_and_hold": _statistics(0.137, 0.826),
           "always_long": _statistics(-0.246, -2.39, share=None),
           "sharpe_difference": {"value": -0.005, "interval": [-0.1251, 0.126], "level": 0.9},
           "fills": fills, "rule": rule, "instrument": {"key": "futures", "name": "SENSEX index futures (BSE)"},
           "window": {"first_session": "2012-01-04", "last_session": "2021-12-31", "sessions": 2451},
           "no_call_share": 0.87, "zero_costs": zero}
    if gap:
        run["gap_not_tradable"] = {"label": "not tradable: the rule's positions over the opening gap; no costs",
                                   "cagr": 0.553, "sharpe": 7.336, "sortino": 15.9, "max_drawdown": -0.049, "hit_rate": 0.83}
    return run


def _backtest(mode: str, verdict: str | None = "long/flat made +12.9% against buy-and-hold's +13.7%.") -> dict:
    fills = "close" if mode == "close" else "open"
    runs = {f"{rule}|{label}|futures": _backtest_run(rule, label == "zero", fills, gap=mode == "preopen")
            for label in ("default", "zero") for rule in ("long_flat", "long_short")}
    record = {"mode": mode, "span": ["2012-01-01", "2021-12-31"], "refit_months": 12, "preset": "walkforward",
              "model": "convlstm", "costs_sha256": "d939ae8dc5099c47", "capital_rupees": 10000000.0, "runs": runs,
              "open_quality": {"open_missing": 0, "open_equals_previous_close": 0.0031, "gap_abs_mean": 0.00454},
              "seconds": {"walk_forward": 1065.1, "backtest_from_stored_forecasts_median": 0.415,
                          "backtest_from_stored_forecasts_max": 1.181, "backtest_command_with_mlflow_run": 1.7},
              "machine": {"cpus": 2}, "total_seconds": 1075.5}
    if verdict:
        record["verdict"] = verdict
    return record


def test_backtest_table_per_rule_and_costs_with_the_sharpe_difference(repo: Path):
    _write(repo, "backtest.json", {"benchmark": "backtest", "close": _backtest("close")})

    page = gen.render("results-backtest-close", gen.Context(repo))

    assert ("| rule | instrument | costs | CAGR | Sharpe | Sortino | max drawdown | Calmar | hit rate | in market |"
            " turnover / yr | trades | costs ₹ lakh (of gross profit) | Sharpe − buy-and-hold [90%] |") in page
    assert ("| `long_flat` | futures | shipped | +12.9% | +0.82 | +1.15 | -37.8% | +0.34 | 54% | 96% | 32.7 | 55 |"
            " 15.9 (7%) | -0.01 [-0.13, +0.13] |") in page
    assert "| `long_short` | futures | zero | +12.9% | +0.82 |" in page and "| 0 | -0.01 [-0.13, +0.13] |" in page
    assert "| *buy and hold* | futures | shipped | +13.7% | +0.83 |" in page
    assert "| *always long (same fills)* | futures | zero | -24.6% |" in page and "(no gross profit) | - |" in page
    assert "> long/flat made +12.9% against buy-and-hold's +13.7%." in page
    assert "NOT TRADABLE" not in page and "traded at the close" in page
    assert "sessions 2012-01-04..2021-12-31 (n=2451, no-call share 87%)" in page
    assert "costs file SHA-256 `d939ae8dc509`" in page
    assert "`bench/results/backtest.json` holds no `preopen`" in gen.render("results-backtest-preopen", gen.Context(repo))


def test_preopen_backtest_shows_the_gap_as_not_tradable(repo: Path):
    _write(repo, "backtest.json", {"benchmark": "backtest", "close": _backtest("close", verdict=None),
                                   "preopen": _backtest("preopen", verdict="The skill is the opening gap.")})

    page = gen.render("results-backtest-preopen", gen.Context(repo))
    close = gen.render("results-backtest-close", gen.Context(repo))
    verdicts = gen.render("results-backtest-verdict", gen.Context(repo))
    cost = gen.render("bench-backtest-cost", gen.Context(repo))

    assert "**NOT TRADABLE**: the rule's positions over the opening gap; no costs." in page
    assert "| rule's positions over the gap (not tradable) | CAGR | Sharpe | Sortino | max drawdown | hit rate |" in page
    assert "| `long_flat` | +55.3% | +7.34 | +15.90 | -4.9% | 83% |" in page
    assert page.count("| `long_short` | +55.3%") == 1  # one gap line per rule: costs do not touch it
    assert "opening gap is never earned" in page and "*always long (buy at every open, sell at that close)*" in page
    assert "> The skill is the opening gap." in page
    assert "verdict" not in close  # the JSON carries none: nothing is made up
    assert "- **Pre-open**: The skill is the opening gap." in verdicts and "carries no verdict text" in verdicts
    assert "| close | 1065 | 415 ms / 1.18 s | 1.7 | 1076 | 2 |" in cost


def test_range_cost_table(repo: Path):
    on = [{"wall_s": 290.0, "cpu_s": 165.0, "range_s": 3.7, "test_auc": 0.625, "command_s": 280.0},
          {"wall_s": 240.0, "cpu_s": 138.0, "range_s": 2.8, "test_auc": 0.625, "command_s": 230.0}]
    off = [{"wall_s": 160.0, "cpu_s": 110.0, "range_s": None, "test_auc": 0.625, "command_s": 150.0}]
    _write(repo, "range_cost.json", {"preset": "quick", "cpus": 2, "repeats": 2, "data": "synthetic",
                                     "runs": {"range on": on, "range off": off},
                                     "median": {"range on": {"wall_s": 265.0, "cpu_s": 151.5},
                                                "range off": {"wall_s": 160.0, "cpu_s": 110.0}},
                                     "overhead": {"wall": 0.656, "range_part_s": 3.25, "range_part_share_of_on": 0.0123,
                                                  "within_run": 0.0125, "within_budget": True}})

    page = gen.render("bench-range-cost", gen.Context(repo))

    assert "| setting | median wall s | median CPU s | each run, wall s | range part s | test AUC |" in page
    assert "| range on | 265 | 152 | 290, 240 | 3.2 | 0.625 |" in page
    assert "| range off | 160 | 110 | 160 | - | 0.625 |" in page
    assert "The range part: 3.2 s, 1% of the median run with it; +1.2% over the rest of the same run" in page
    assert "judged on the within-run figure: **within**" in page


def test_costs_table_comes_from_the_costs_file(repo: Path):
    folder = repo / "sensex" / "backtest"
    folder.mkdir(parents=True)
    (folder / "costs.yaml").write_text("""
capital_rupees: 10000000
instruments:
  futures:
    name: SENSEX index futures (BSE)
    kind: futures
    short_selling: true
    lot_size:
      - {from: 2000-06-09, value: 15, source: "contract specification"}
    stt_sell_pct:
      - {from: 2013-06-01, value: 0.01, source: "Finance Act 2013 | cut to 0.01%"}
  etf:
    name: SENSEX index ETF
    kind: etf
    delivery:
      brokerage_rupees:
        - {from: 2000-01-01, value: 0, source: "zero on delivery"}
default_instrument: futures
""", encoding="utf-8")

    page = gen.render("backtest-costs", gen.Context(repo))

    assert "starting capital ₹10,000,000 (₹1 crore); default instrument `futures`" in page
    assert "**`futures`**: SENSEX index futures (BSE) (futures; can be sold short)." in page
    assert "| `lot_size` | - | 2000-06-09 | 15 units | contract specification |" in page
    assert "| `stt_sell_pct` | - | 2013-06-01 | 0.01% | Finance Act 2013 \\| cut to 0.01% |" in page
    assert "| `brokerage_rupees` | delivery | 2000-01-01 | ₹0 | zero on delivery |" in page
    assert "(etf; cannot be sold short)" in page


def test_readme_table_is_replaced_between_its_markers(repo: Path):
    readme = repo / "README.md"
    readme.write_text(f"intro\n{gen.README_START}\nold table\n{gen.README_END}\noutro\n", encoding="utf-8")
    assert not gen.update_readme(readme, gen.Context(repo))  # no results yet: left as it is

    _write(repo, "model_quality.json", _model_quality())
    assert gen.update_readme(readme, gen.Context(repo))

    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and text.startswith("intro\n") and text.endswith(f"{gen.README_END}\noutro\n")
    assert "| ensemble (3 ConvLSTM seeds + logreg + gbm) | 0.562 [0.533, 0.599] | 0.2453 | - | - |" in text


def test_a_section_that_cannot_be_made_is_a_warning_and_says_so(repo: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="mkdocs.hooks.gen_results"):
        page = gen.expand("before\n<!-- generated: no-such-section -->\nafter\n", gen.Context(repo))

    assert "could not be generated" in page and page.startswith("before\n") and page.endswith("after\n")
    assert "no-such-section" in caplog.text


def test_every_marker_in_the_docs_names_a_section():
    used = {match.group(1) for page in (REPO / "docs").rglob("*.md")
            for match in gen.MARKER.finditer(page.read_text(encoding="utf-8"))}

    assert used and used <= set(gen.SECTIONS)


def test_every_setting_is_documented():
    from sensex.core.settings import Settings

    page = (REPO / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")
    variables = {field.validation_alias for field in Settings.model_fields.values()}

    assert variables and not {v for v in variables if f"`{v}`" not in page}


def test_load_table_compares_the_heavy_loops_run_with_the_load_alone(repo: Path):
    def run(heavy: int, cached_p99: float, rss: float) -> dict:
        group = {"count": 100, "5xx": 0, "timeouts": 0, "errors": 0, "other_status": 0, "p50_ms": 5.0}
        return {"heavy_loops": heavy, "wall_seconds": 10.0, "throughput_rps": 240.0, "rss_mb_after": [rss],
                "groups": [{"name": "predict, cached", **group, "p99_ms": cached_p99},
                           {"name": "GET /health", **group, "p99_ms": 4.0}]}
    _write(repo, "load.json", {"requests_per_run": 2400, "concurrency": 48, "heavy_loops": 6, "replicas": 1,
                               "uncached_share_of_forecasts": 0.1, "other_share": 0.1, "cpus": 2,
                               "rss_mb_before": [250.0], "runs": [run(0, 20.0, 300.0), run(6, 45.0, 400.0), run(6, 44.0, 404.0)],
                               "comparison": {"predict, cached": {"p99_ms_alone": 20.0, "p99_ms_with_heavy": 45.0, "target_ms": 50.0},
                                              "GET /health": {"p99_ms_alone": 4.0, "p99_ms_with_heavy": 25.0, "target_ms": 20.0},
                                              "memory": {"first_heavy_run_mb": [400.0], "last_heavy_run_mb": [404.0],
                                                         "ratio": [1.01]}}})

    page = gen.render("bench-load", gen.Context(repo))

    assert "Run 2, with 6 heavy loops: 10.0 s, 240.0 requests/s; resident memory after it 400 MB." in page
    assert "at concurrency 48 to 1" in page
    assert "| predict, cached | 20.0 | 45.0 | 50 | yes |" in page
    assert "| GET /health | 4.0 | 25.0 | 20 | **no** |" in page
    assert "after the last 404 MB (1.010x; flat is within 1.05x)" in page
