"""The gate that refuses a coin: each refusal names its condition with the figures, on rows
scored alike for the candidate, production and the baselines.

The candidates here are stand-ins whose P(UP) on each row is set by the test (the gate scores a
model through `predict_rows`, replaced below); the panel, the rows and the baselines are real.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from sensex.features.build import build_panel
from sensex.models.baselines import fit_baselines
from sensex.models.config import PromotionConfig
from sensex.registry import gate

STRICT = PromotionConfig()  # the shipped gate


@pytest.fixture(scope="module")
def panel(market, universe):
    return build_panel(market, universe)


def _segments(panel, train, valid, test):
    day = lambda i: str(panel.dates[i].date())  # noqa: E731
    return {"train": [day(train[0]), day(train[-1])], "valid": [day(valid[0]), day(valid[-1])],
            "test": [day(test[0]), day(test[-1])]}


@pytest.fixture(scope="module")
def layout(panel):
    labelled = np.flatnonzero(np.isfinite(panel.label))
    train, valid, test = labelled[300:600], labelled[600:700], labelled[700:]
    return {"train": train, "valid": valid, "test": test,
            "baselines": fit_baselines(panel, train), "segments": _segments(panel, train, valid, test)}


def _stand_in(panel, layout, rule, segments=None):
    """A candidate whose P(UP) for row r is rule(label of r, r)."""
    meta = SimpleNamespace(segments=segments or layout["segments"], baselines=layout["baselines"])
    return SimpleNamespace(meta=meta, window=60, symbols=panel.symbols, rule=rule)


@pytest.fixture(autouse=True)
def _scored_by_rule(monkeypatch, panel):
    def predict_rows(bundle, panel_, rows, chunk=256):
        return np.array([bundle.rule(panel_.label[r], r) for r in rows], dtype=float), None

    monkeypatch.setattr(gate, "predict_rows", predict_rows)


def _noise(r: int) -> float:
    return float(np.random.default_rng(int(r)).normal(0, 0.05))


def test_a_model_with_skill_passes_on_its_test_window(panel, layout):
    candidate = _stand_in(panel, layout, lambda y, r: 0.53 + 0.12 * (y - 0.5) + _noise(r))
    report = gate.judge(candidate, panel, STRICT)
    assert report.passed, report.failures
    assert report.rows["n"] == len(layout["test"]) and report.rows["start"] == layout["segments"]["test"][0]
    assert set(report.baselines) == {"always_up", "prev_day", "logreg", "gbm"}
    assert report.production is None and report.beats_production is None


def test_a_collapsed_model_is_refused_with_its_standard_deviation(panel, layout):
    candidate = _stand_in(panel, layout, lambda y, r: 0.576 + 1e-6 * _noise(r))
    report = gate.judge(candidate, panel, STRICT)
    collapsed = [f for f in report.failures if "collapsed" in f]
    assert collapsed and "standard deviation 0.0000" in collapsed[0] and "(at least 0.01 needed)" in collapsed[0]
    assert f"{report.rows['n']} sessions {report.rows['start']}..{report.rows['end']}" in collapsed[0]


def test_a_model_no_better_than_always_up_on_brier_is_refused_with_both_scores(panel, layout):
    candidate = _stand_in(panel, layout, lambda y, r: float(np.clip(0.55 + 4 * _noise(r), 0.05, 0.95)))
    report = gate.judge(candidate, panel, STRICT)
    brier = [f for f in report.failures if "Brier" in f]
    assert brier, report.failures
    assert f"{report.candidate['brier']:.4f} is not below always-UP's {report.baselines['always_up']['brier']:.4f}" in brier[0]


def test_an_auc_interval_at_or_below_the_best_naive_baseline_is_refused(panel, layout):
    candidate = _stand_in(panel, layout, lambda y, r: 0.55 - 0.05 * (y - 0.5) + 0.2 * _noise(r))  # ranks upside down
    report = gate.judge(candidate, panel, STRICT)
    auc = [f for f in report.failures if "best naive baseline" in f]
    assert auc, report.failures
    low, high = report.candidate["auc_interval"]
    assert high <= max(report.baselines["always_up"]["auc"], report.baselines["prev_day"]["auc"])
    assert f"90% interval {low:.3f}-{high:.3f}" in auc[0]


def test_production_is_scored_on_the_same_rows_when_it_did_not_see_them(panel, layout):
    good = _stand_in(panel, layout, lambda y, r: 0.53 + 0.12 * (y - 0.5) + _noise(r))
    weaker = _stand_in(panel, layout, lambda y, r: 0.53 + 0.04 * (y - 0.5) + _noise(r))
    report = gate.judge(good, panel, STRICT, production=weaker)
    assert report.passed and report.beats_production is True
    assert report.production["brier"] > report.candidate["brier"]
    # A production model that trained on the candidate's test window is not compared on it.
    test = layout["test"]
    overlapping = _segments(panel, layout["train"], test[: len(test) - 10], test[-10:])
    seen = _stand_in(panel, layout, weaker.rule, overlapping)
    report = gate.judge(good, panel, STRICT, production=seen)
    assert report.production is None and report.beats_production is None and "not compared" in report.rows["basis"]


def test_a_candidate_a_learned_baseline_beats_beyond_chance_is_refused_naming_it(panel, layout, monkeypatch):
    """The candidate has skill (it passes every other rule), but gbm, scored on the same sessions,
    is much better: the paired interval of the difference lies below 0 for AUC, above 0 for Brier."""
    from sensex.models import baselines  # the gate imports predict_baselines when it judges

    original = baselines.predict_baselines

    def with_a_sharp_gbm(portable, panel_, rows):
        scored = original(portable, panel_, rows)
        sharp = np.array([0.5 + 0.35 * (panel_.label[r] - 0.5) + _noise(r) for r in rows])
        scored["gbm"] = (sharp, (sharp >= 0.5).astype(int))
        return scored

    monkeypatch.setattr(baselines, "predict_baselines", with_a_sharp_gbm)
    candidate = _stand_in(panel, layout, lambda y, r: 0.53 + 0.12 * (y - 0.5) + _noise(r))
    report = gate.judge(candidate, panel, STRICT)
    worse = [f for f in report.failures if "beyond chance" in f]
    assert len(worse) == 2, report.failures
    compared = report.candidate["against_best_baseline"]
    assert compared["auc"]["baseline"] == "gbm" and compared["auc"]["interval"][1] < 0
    assert compared["brier"]["baseline"] == "gbm" and compared["brier"]["interval"][0] > 0
    low, high = compared["auc"]["interval"]
    assert f"its AUC {report.candidate['auc']:.4f} is worse than gbm's {report.baselines['gbm']['auc']:.4f}" in worse[0]
    assert f"(90% interval of the difference {low:+.4f} to {high:+.4f})" in worse[0]
    assert [f for f in report.failures if "beyond chance" not in f] == []  # nothing else refused it
    relaxed = gate.judge(candidate, panel, STRICT.model_copy(update={"not_worse_than_baselines": False}))
    assert relaxed.passed, relaxed.failures


def test_a_candidate_within_chance_of_the_best_baseline_passes_with_the_comparison_reported(panel, layout):
    candidate = _stand_in(panel, layout, lambda y, r: 0.53 + 0.12 * (y - 0.5) + _noise(r))
    report = gate.judge(candidate, panel, STRICT)
    assert report.passed, report.failures
    compared = report.candidate["against_best_baseline"]
    assert compared["auc"]["baseline"] in {"logreg", "gbm"} and compared["brier"]["baseline"] in {"logreg", "gbm"}
    assert compared["auc"]["interval"][1] >= 0 and compared["brier"]["interval"][0] <= 0


def test_another_member_list_is_refused(panel, layout):
    candidate = _stand_in(panel, layout, lambda y, r: 0.5)
    candidate.symbols = panel.symbols[:-1]
    assert "another member list" in gate.judge(candidate, panel, STRICT).failures[0]


# --- the range forecast: its QLIKE must be below EWMA's on the gate's sessions -------------------

@pytest.fixture(scope="module")
def ranges(market, panel):
    from sensex.features.ranges import range_data

    return range_data(market, panel)


@pytest.fixture(scope="module")
def range_record(ranges, layout):
    from sensex.models import range_fit
    from sensex.models import volatility as vol
    from sensex.models.segments import Segments

    segments = Segments(layout["train"], layout["valid"], layout["test"])
    train, valid, _ = range_fit.training_rows(ranges, segments)
    return range_fit.serving_record(ranges, vol.fit_range(ranges, train, valid), train, valid)


def _skilled(panel, layout, record=None):
    candidate = _stand_in(panel, layout, lambda y, r: 0.53 + 0.12 * (y - 0.5) + _noise(r))
    candidate.meta.range = record or {}
    return candidate


def test_a_range_forecast_worse_than_ewma_is_refused_naming_both_qlikes(panel, layout, ranges, range_record):
    import copy

    worse = copy.deepcopy(range_record)
    worse["forecasters"]["model"]["intercept"] += 3.0  # twenty times the variance, every session
    report = gate.judge(_skilled(panel, layout, worse), panel, STRICT, ranges=ranges)
    assert report.range["model"] > report.range["ewma"]
    assert report.failures == [
        f"its range forecast's QLIKE {report.range['model']:.4f} is not below EWMA's {report.range['ewma']:.4f} on the"
        f" {report.range['n']} sessions {report.range['start']}..{report.range['end']}"]  # its direction passes
    assert report.range["n"] >= len(layout["test"]) - 1 and report.range["start"] >= layout["segments"]["test"][0]
    # The same candidate passes a gate without the range rule, and is still reported.
    relaxed = gate.judge(_skilled(panel, layout, worse), panel, STRICT.model_copy(update={"range_beats_ewma": False}),
                         ranges=ranges)
    assert relaxed.passed and relaxed.range["judged"] is False and relaxed.range["model"] == report.range["model"]


def test_a_range_forecast_below_ewma_passes_and_the_figures_are_the_saved_records(panel, layout, ranges, range_record):
    import copy

    from sensex.models import volatility as vol

    weak_ewma = copy.deepcopy(range_record)
    weak_ewma["forecasters"]["ewma"]["log_scale"] += 3.0  # the saved EWMA is what the model must beat
    report = gate.judge(_skilled(panel, layout, weak_ewma), panel, STRICT, ranges=ranges)
    assert report.passed, report.failures
    rows = np.flatnonzero(ranges.dates.isin(panel.dates[layout["test"]]) & vol.forecastable(ranges))
    saved = vol.predict(weak_ewma, ranges)
    assert report.range["model"] == pytest.approx(vol.qlike(ranges.label[rows], saved["model"][rows]))
    assert report.range["ewma"] == pytest.approx(vol.qlike(ranges.label[rows], saved["ewma"][rows]))


def test_a_bundle_without_a_range_part_is_judged_on_its_direction_alone(panel, layout, ranges):
    report = gate.judge(_skilled(panel, layout), panel, STRICT, ranges=ranges)
    assert report.passed and report.range is None


# --- pre-open mode: the S&P 500 rule is a learned baseline the candidate must not lose to ----------

@pytest.fixture(scope="module")
def preopen(universe):
    from conftest import FIXTURE_END, FIXTURE_START

    from sensex.data.sources import synthetic
    from sensex.features.overnight import add_overnight

    market = synthetic.generate(universe, FIXTURE_START, FIXTURE_END, with_context=True)
    panel = add_overnight(build_panel(market, universe), market)
    labelled = np.flatnonzero(np.isfinite(panel.label))
    train, valid, test = labelled[300:600], labelled[600:700], labelled[700:]
    layout = {"train": train, "valid": valid, "test": test, "baselines": fit_baselines(panel, train),
              "segments": _segments(panel, train, valid, test)}
    return panel, layout


def test_a_preopen_candidate_the_sp500_rule_beats_beyond_chance_is_refused_naming_it(preopen, monkeypatch):
    """The pre-open gate scores the S&P 500 rule on the same sessions (a close panel has no such
    rule) and refuses a candidate it beats beyond the paired interval, as it does for gbm."""
    from sensex.models import baselines  # the gate imports sp500_rule_predictions when it judges

    panel, layout = preopen

    def a_sharp_rule(last_ret, label, train_rows, eval_rows):
        sharp = {name: np.array([0.5 + 0.35 * (label[r] - 0.5) + _noise(r) for r in rows]) for name, rows in eval_rows.items()}
        return {name: (p, (p >= 0.5).astype(int)) for name, p in sharp.items()}

    monkeypatch.setattr(baselines, "sp500_rule_predictions", a_sharp_rule)
    candidate = _stand_in(panel, layout, lambda y, r: 0.53 + 0.12 * (y - 0.5) + _noise(r))
    report = gate.judge(candidate, panel, STRICT)
    assert set(report.baselines) == {"always_up", "prev_day", "logreg", "gbm", "sp500_rule"}
    worse = [f for f in report.failures if "beyond chance" in f]
    assert len(worse) == 2 and all("than sp500_rule's" in f for f in worse), report.failures
    compared = report.candidate["against_best_baseline"]
    assert compared["auc"]["baseline"] == "sp500_rule" and compared["auc"]["interval"][1] < 0
    assert compared["brier"]["baseline"] == "sp500_rule" and compared["brier"]["interval"][0] > 0
    assert [f for f in report.failures if "beyond chance" not in f] == []  # nothing else refused it
    relaxed = gate.judge(candidate, panel, STRICT.model_copy(update={"not_worse_than_baselines": False}))
    assert relaxed.passed, relaxed.failures
