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
