"""The live track record: which forecasts count, one row per session, outcomes, always-UP."""

import numpy as np
import pandas as pd
import pytest

from sensex.monitoring.track_record import BACK_DATED, LATE, always_up_probability, split_live, track_record

# Index closes on five sessions: up, down, up, up.
CLOSES = pd.Series([100.0, 101.0, 100.5, 102.0, 103.0],
                   index=pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09"]))


def record(as_of, target, probability, logged, direction=None, **extra):
    direction = direction or ("UP" if probability >= 0.5 else "DOWN")
    return {"timestamp": logged, "as_of": as_of, "target_date": target, "model_version": "3",
            "prediction": {"direction": direction, "probability": probability, "confidence": "Low"}, **extra}


def test_one_row_per_session_with_the_first_forecast_logged():
    records = [record("2026-01-05", "2026-01-06", 0.61, f"2026-01-05T1{h}:00:00+00:00") for h in range(7)]
    records.append(record("2026-01-05", "2026-01-06", 0.30, "2026-01-05T18:00:00+00:00"))  # a later re-run
    rows = track_record(records, CLOSES)["rows"]
    assert len(rows) == 1
    assert rows[0]["probability"] == 0.61 and rows[0]["times_logged"] == 8
    assert rows[0]["realized"] == "UP" and rows[0]["correct"] is True


def test_back_dated_queries_are_kept_apart():
    live = record("2026-01-07", "2026-01-08", 0.55, "2026-01-07T11:00:00+00:00")
    flagged = record("2026-01-05", "2026-01-06", 0.40, "2026-01-07T11:05:00+00:00", back_dated=True)
    # An old record without the flag: an earlier log line already had a later session.
    inferred = record("2026-01-06", "2026-01-07", 0.45, "2026-01-07T11:10:00+00:00")
    result = track_record([live, flagged, inferred], CLOSES)
    assert [r["as_of"] for r in result["rows"]] == ["2026-01-07"]
    assert {(r["as_of"], r["reason"]) for r in result["not_live"]} == {("2026-01-05", BACK_DATED),
                                                                      ("2026-01-06", BACK_DATED)}


def test_a_forecast_made_after_its_target_closed_is_not_live():
    # Each from the latest stored session when made (back_dated False), but the store was old.
    stale = record("2026-01-05", "2026-01-06", 0.6, "2026-01-09T12:00:00+00:00", back_dated=False)
    same_day_after_close = record("2026-01-07", "2026-01-08", 0.6, "2026-01-08T10:30:00+00:00", back_dated=False)  # 16:00 IST
    same_day_before_close = record("2026-01-08", "2026-01-09", 0.6, "2026-01-09T09:00:00+00:00", back_dated=False)  # 14:30 IST
    result = track_record([stale, same_day_after_close, same_day_before_close], CLOSES)
    assert [r["as_of"] for r in result["rows"]] == ["2026-01-08"]
    assert {r["reason"] for r in result["not_live"]} == {LATE}


@pytest.mark.parametrize("flag", [None, False])
def test_a_forecast_from_the_latest_session_is_live(flag):
    extra = {} if flag is None else {"back_dated": flag}
    live, apart = split_live([record("2026-01-05", "2026-01-06", 0.5, "2026-01-05T11:00:00+00:00", **extra)])
    assert len(live) == 1 and not apart


def test_pending_until_the_target_close_is_stored_and_never_none_counted():
    records = [record("2026-01-08", "2026-01-09", 0.7, "2026-01-08T11:00:00+00:00"),
               record("2026-01-09", "2026-01-12", 0.7, "2026-01-09T11:00:00+00:00")]
    result = track_record(records, CLOSES)
    newest = result["rows"][0]
    assert newest["as_of"] == "2026-01-09" and newest["realized"] is None and newest["correct"] is None
    summary = result["summary"]
    assert (summary["n"], summary["resolved"], summary["pending"]) == (2, 1, 1)


def test_hit_rate_and_brier_beside_always_up_on_the_same_sessions():
    records = [record("2026-01-05", "2026-01-06", 0.8, "2026-01-05T11:00:00+00:00"),  # UP happened: right
               record("2026-01-06", "2026-01-07", 0.7, "2026-01-06T11:00:00+00:00"),  # DOWN happened: wrong
               record("2026-01-07", "2026-01-08", 0.4, "2026-01-07T11:00:00+00:00"),  # UP happened: wrong
               record("2026-01-08", "2026-01-09", 0.9, "2026-01-08T11:00:00+00:00")]  # UP happened: right
    summary = track_record(records, CLOSES)["summary"]
    y, p = np.array([1, 0, 1, 1]), np.array([0.8, 0.7, 0.4, 0.9])
    assert summary["model"]["hit_rate"] == pytest.approx(0.5)
    assert summary["model"]["brier"] == pytest.approx(np.mean((p - y) ** 2))
    # Always UP: right 3 times of 4; its P(UP) is the UP share known at each as-of session.
    base = np.array([0.5, 1.0, 0.5, 2 / 3])  # 2026-01-05 has no history: 0.5
    assert summary["always_up"]["hit_rate"] == pytest.approx(0.75)
    assert summary["always_up"]["brier"] == pytest.approx(np.mean((base - y) ** 2))
    assert [r["sessions"] for r in summary["rolling"]] == [1, 2, 3, 4]
    assert summary["rolling"][-1]["hit_rate"] == pytest.approx(0.5)
    assert sum(b["n"] for b in summary["reliability"]) == 4


def test_always_up_probability_uses_only_the_past():
    base = always_up_probability(CLOSES)
    assert np.isnan(base.iloc[0])
    assert list(base.iloc[1:]) == pytest.approx([1.0, 0.5, 2 / 3, 0.75])
    changed = CLOSES.copy()
    changed.iloc[-1] = 1.0  # a later close changes nothing before it
    assert list(always_up_probability(changed).iloc[1:-1]) == pytest.approx([1.0, 0.5, 2 / 3])


def test_an_empty_or_torn_log_gives_an_empty_record():
    result = track_record([{}, {"as_of": "2026-01-05"}, {"prediction": None}], CLOSES)
    assert result["rows"] == [] and result["not_live"] == []
    assert result["summary"]["n"] == 0 and result["summary"]["model"] is None
    assert track_record([], pd.Series(dtype=float))["summary"]["resolved"] == 0


def test_a_repeated_probability_is_one_reliability_point():
    days = pd.bdate_range("2026-02-02", periods=41)
    closes = pd.Series(np.linspace(100, 140, 41) + np.where(np.arange(41) % 3 == 0, -5, 0), index=days)
    records = [record(str(d.date()), str(n.date()), 0.617, f"{d.date()}T11:00:00+00:00")
               for d, n in zip(days[:-1], days[1:], strict=True)]
    reliability = track_record(records, closes)["summary"]["reliability"]
    assert len(reliability) == 1 and reliability[0]["n"] == 40
    realized_up = np.mean(np.diff(closes.to_numpy()) > 0)
    assert reliability[0]["observed_up_rate"] == pytest.approx(realized_up)


def test_reliability_bins_match_the_training_reliability_table():
    from sensex.models.reliability import reliability_table
    from sensex.monitoring.track_record import reliability

    rng = np.random.default_rng(3)
    p = rng.uniform(0.3, 0.7, 200)
    y = (rng.uniform(size=200) < p).astype(float)
    assert reliability(y, p, 10) == reliability_table(y, p, 10)


def test_the_model_card_says_how_the_probabilities_were_calibrated():
    from sensex.interfaces.app.views.track_record import calibration_caption

    platt = {"method": "platt", "fit_start": "2018-01-01", "fit_end": "2018-12-31", "prior_offset": 0.0374}
    assert calibration_caption(platt, {}) == ("Calibration: platt, fit on 2018-01-01 to 2018-12-31; base rate moved from"
                                             " the validation window's share of UP days to the long-run share (logit +0.037).")
    old_bundle = {k: v for k, v in platt.items() if k != "prior_offset"}
    assert calibration_caption(old_bundle, {}) == "Calibration: platt, fit on 2018-01-01 to 2018-12-31."
    combiner = {"rule": "voting", "fit_start": "2018-01-01", "fit_end": "2018-12-31", "prior_offset": -0.01}
    assert calibration_caption(platt, combiner).startswith("Combiner: voting, fit on 2018-01-01 to 2018-12-31; base rate")
    assert "(logit -0.010)" in calibration_caption(platt, combiner)


def test_a_no_call_is_shown_as_one_and_left_out_of_the_hit_rate():
    records = [record("2026-01-05", "2026-01-06", 0.8, "2026-01-05T11:00:00+00:00"),  # UP happened: right
               record("2026-01-06", "2026-01-07", 0.51, "2026-01-06T11:00:00+00:00"),
               record("2026-01-07", "2026-01-08", 0.4, "2026-01-07T11:00:00+00:00")]  # UP happened: wrong
    records[1]["prediction"]["no_call"] = True  # DOWN happened: a miss, were it a call
    result = track_record(records, CLOSES)
    no_call = next(r for r in result["rows"] if r["as_of"] == "2026-01-06")
    assert no_call["direction"] == "NO CALL" and no_call["leaning"] == "UP" and no_call["correct"] is None
    summary = result["summary"]
    assert summary["abstentions"] == 1 and summary["model"]["calls"] == 2
    assert summary["model"]["hit_rate"] == pytest.approx(0.5)  # one right, one wrong; the no call is neither
    y, p = np.array([1, 0, 1]), np.array([0.8, 0.51, 0.4])
    assert summary["model"]["brier"] == pytest.approx(np.mean((p - y) ** 2))  # every forecast is in the Brier score


def test_only_no_calls_give_no_hit_rate_not_zero():
    records = [record("2026-01-05", "2026-01-06", 0.502, "2026-01-05T11:00:00+00:00")]
    records[0]["prediction"]["no_call"] = True
    summary = track_record(records, CLOSES)["summary"]
    assert summary["model"]["hit_rate"] is None and summary["abstentions"] == 1
