"""Data contract of the quality report: every finding kind, exclusions, readiness, staleness."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from bench_scripts import REAL_SENSEX

from sensex.data.quality import find_issues, validate_data_quality
from sensex.data.quality_checks import EXCLUDES, REPAIRED, WARNS
from sensex.data.sources.csvfiles import load_directory
from sensex.data.sources.synthetic import generate
from sensex.features.dataset import repair
from sensex.market import calendar
from sensex.market.schema import canonicalize
from sensex.market.universe import load_universe

REAL_DATA = REAL_SENSEX
START, END = "2023-01-02", "2024-06-28"  # END is a Friday session
AFTER_END = datetime(2024, 6, 28, 18, 0, tzinfo=calendar.IST)  # END's bar is settled
SYMBOL = "INFY"


@pytest.fixture(scope="module")
def universe():
    return load_universe("sensex")


@pytest.fixture(scope="module")
def market(universe):
    return generate(universe, START, END, seed=3)


@pytest.fixture
def frame(market):
    return market.copy()


def findings(frame, universe, symbol=SYMBOL) -> dict[str, dict]:
    return {f["kind"]: f for f in find_issues(frame, universe)[symbol]}


def rows_at(frame: pd.DataFrame, symbol: str, positions) -> pd.Index:
    """Frame labels of a symbol's rows at the given positions (in date order)."""
    own = frame.index[frame["symbol"] == symbol]
    return own[np.asarray(positions)]


def iso(frame: pd.DataFrame, label) -> str:
    return frame.loc[label, "date"].strftime("%Y-%m-%d")


# --- clean data ----------------------------------------------------------------------------


def test_synthetic_market_is_valid(frame, universe):
    report = validate_data_quality(frame, universe, now=AFTER_END, source="synthetic")
    assert report["status"] == "valid"
    assert report["readiness"] is True
    assert report["source"] == "synthetic"
    assert report["last_date"] == END and report["stale"] is False
    stats = report["statistics"]
    assert (stats["valid_symbols"], stats["total_symbols"], stats["data_coverage"]) == (
        30,
        30,
        100.0,
    )
    assert set(report["symbols"]) == set(universe.all_symbols)
    for entry in report["symbols"].values():
        assert entry["valid"] is True and entry["issues"] == []
        assert entry["first"] == "2023-01-02" and entry["last"] == END
        assert entry["rows"] == entry["usable_rows"] >= 30
    assert report["calendar"]["fallback"] is False
    assert report["thresholds"]["min_sessions"] == 30
    assert report["warnings"] == []


def test_validation_does_not_mutate_its_input(frame, universe):
    shuffled = frame.sample(frac=1.0, random_state=0)
    before = shuffled.copy()
    validate_data_quality(shuffled, universe, now=AFTER_END)
    repair(shuffled)
    pd.testing.assert_frame_equal(shuffled, before)


# --- staleness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now, stale",
    [
        (datetime(2024, 6, 28, 18, 0, tzinfo=calendar.IST), False),  # END's bar is in
        (datetime(2024, 7, 1, 10, 0, tzinfo=calendar.IST), False),  # Monday, before the close
        (datetime(2024, 6, 30, 12, 0, tzinfo=calendar.IST), False),  # Sunday
        (datetime(2024, 7, 1, 17, 0, tzinfo=calendar.IST), True),  # Monday's bar is due
        (datetime(2024, 7, 8, 12, 0, tzinfo=calendar.IST), True),
    ],
)
def test_staleness_follows_the_bse_calendar(frame, universe, now, stale):
    report = validate_data_quality(frame, universe, now=now)
    assert report["stale"] is stale
    assert report["status"] == ("degraded" if stale else "valid")
    assert report["readiness"] is True
    if stale:
        assert any("sensex data update" in w for w in report["warnings"])


def test_calendar_fallback_degrades_fresh_data(universe, monkeypatch, tmp_path):
    monkeypatch.setattr(calendar, "_holiday_dirs", lambda: [tmp_path / "holidays"])
    # A Friday past the range exchange_calendars records (2026 in 4.13, so January 2027).
    day = calendar.recorded_end() + pd.Timedelta(days=8)
    friday = day + pd.Timedelta(days=(4 - day.weekday()) % 7)
    fresh = generate(universe, friday - pd.Timedelta(days=100), friday, seed=3)
    now = datetime(friday.year, friday.month, friday.day, 18, 0, tzinfo=calendar.IST)
    report = validate_data_quality(fresh, universe, now=now)
    assert report["stale"] is False and report["readiness"] is True
    assert report["calendar"]["fallback"] is True
    assert report["status"] == "degraded"
    assert any("recorded only through" in w for w in report["warnings"])


# --- each finding kind ---------------------------------------------------------------------


def test_duplicates_are_found_and_repaired_keeping_the_last(frame, universe):
    labels = rows_at(frame, SYMBOL, [10, 20])
    copies = frame.loc[labels].assign(close=frame.loc[labels, "close"] * 1.01)
    data = pd.concat([frame, copies], ignore_index=True)
    found = findings(data, universe)["duplicates"]
    assert (found["count"], found["first"], found["last"], found["action"]) == (
        2,
        iso(frame, labels[0]),
        iso(frame, labels[1]),
        REPAIRED,
    )
    fixed = repair(data)
    own = fixed[fixed["symbol"] == SYMBOL].set_index("date")
    assert not fixed.duplicated(["symbol", "date"]).any()
    assert own.loc[frame.loc[labels[0], "date"], "close"] == copies["close"].iloc[0]


def test_non_monotonic_dates_are_found_and_sorted_by_repair(frame, universe):
    labels = rows_at(frame, SYMBOL, [30, 31])
    order = list(frame.index)
    i, j = order.index(labels[0]), order.index(labels[1])
    order[i], order[j] = order[j], order[i]
    data = frame.loc[order]
    found = findings(data, universe)["non_monotonic_dates"]
    assert found["count"] == 1 and found["first"] == found["last"] == iso(frame, labels[0])
    fixed = repair(data)
    assert fixed["date"].is_monotonic_increasing is False  # several symbols
    assert fixed.groupby("symbol")["date"].apply(lambda d: d.is_monotonic_increasing).all()
    assert "non_monotonic_dates" not in findings(fixed, universe)


def test_non_positive_and_missing_prices(frame, universe):
    negative = rows_at(frame, SYMBOL, [5, 40])
    missing = rows_at(frame, SYMBOL, [60])
    frame.loc[negative[0], "close"] = -1.0
    frame.loc[negative[1], "low"] = 0.0
    frame.loc[missing, "open"] = np.nan
    found = findings(frame, universe)
    assert found["non_positive_prices"]["count"] == 2
    assert found["non_positive_prices"]["first"] == iso(frame, negative[0])
    assert found["non_positive_prices"]["last"] == iso(frame, negative[1])
    assert found["missing_values"]["count"] == 1
    assert found["missing_values"]["first"] == iso(frame, missing[0])
    assert len(repair(frame)) == len(frame) - 3


def test_high_low_inconsistencies(frame, universe):
    labels = rows_at(frame, SYMBOL, [3, 7, 90])
    frame.loc[labels[0], "high"] = frame.loc[labels[0], "low"] * 0.9  # High below everything
    frame.loc[labels[1], "low"] = frame.loc[labels[1], "high"] * 1.1  # Low above everything
    frame.loc[labels[2], "high"] = min(frame.loc[labels[2], ["open", "close"]]) * 0.999
    found = findings(frame, universe)["high_low_inconsistent"]
    assert (found["count"], found["first"], found["last"], found["action"]) == (
        3,
        iso(frame, labels[0]),
        iso(frame, labels[2]),
        WARNS,
    )


def test_filler_rows_are_dropped_for_members_and_kept_for_the_index(frame, universe):
    for symbol in (SYMBOL, "SENSEX"):
        labels = rows_at(frame, symbol, [100, 101, 150])
        price = frame.loc[labels, "close"]
        frame.loc[labels, ["open", "high", "low", "close", "adj_close"]] = np.column_stack(
            [price] * 5
        )
        frame.loc[labels, "volume"] = 0.0
    member = findings(frame, universe)["filler_rows"]
    assert (member["count"], member["first"], member["last"], member["action"]) == (
        3,
        iso(frame, rows_at(frame, SYMBOL, [100])[0]),
        iso(frame, rows_at(frame, SYMBOL, [150])[0]),
        REPAIRED,
    )
    index = findings(frame, universe, "SENSEX")
    assert index["filler_rows"]["action"] == WARNS
    assert index["zero_volume_index"]["count"] == 3
    fixed = repair(frame)
    assert (fixed["symbol"] == SYMBOL).sum() == (frame["symbol"] == SYMBOL).sum() - 3
    assert (fixed["symbol"] == "SENSEX").sum() == (frame["symbol"] == "SENSEX").sum()


def test_stale_stretch_of_five_or_more_unchanged_closes(frame, universe):
    frozen = rows_at(frame, SYMBOL, range(200, 206))  # 6 rows
    short = rows_at(frame, SYMBOL, range(250, 254))  # 4 rows: below the threshold
    for labels in (frozen, short):
        frame.loc[labels, "close"] = frame.loc[labels[0], "close"]
    found = findings(frame, universe)["stale_stretch"]
    assert (found["count"], found["first"], found["last"], found["action"]) == (
        6,
        iso(frame, frozen[0]),
        iso(frame, frozen[-1]),
        WARNS,
    )
    assert "1 stretch of" in found["detail"] and "lasts 6 rows" in found["detail"]


def test_extreme_move_spike_that_reverts_is_not_a_split(frame, universe):
    spike = rows_at(frame, SYMBOL, [120, 121])
    frame.loc[spike[0], ["close", "high"]] *= 2.0  # exactly a 2:1 ratio, but it reverts
    found = findings(frame, universe)
    assert "split_like_move" not in found
    move = found["extreme_move"]
    assert (move["count"], move["first"], move["last"]) == (
        2,
        iso(frame, spike[0]),
        iso(frame, spike[1]),
    )


def test_split_like_level_change_is_not_an_extreme_move(frame, universe):
    own = frame.index[frame["symbol"] == SYMBOL]
    after = own[own >= rows_at(frame, SYMBOL, [150])[0]]
    frame.loc[after, ["open", "high", "low", "close", "adj_close"]] /= (
        5.0  # an unadjusted 1:5 split
    )
    found = findings(frame, universe)
    assert "extreme_move" not in found
    assert found["split_like_move"]["count"] == 1
    assert found["split_like_move"]["first"] == iso(frame, after[0])


def test_large_move_to_a_new_level_without_split_ratio_is_extreme(frame, universe):
    own = frame.index[frame["symbol"] == SYMBOL]
    after = own[own >= rows_at(frame, SYMBOL, [150])[0]]
    frame.loc[after, ["open", "high", "low", "close", "adj_close"]] *= 0.45  # -55%, no split
    move = findings(frame, universe)["extreme_move"]
    assert move["count"] == 1 and move["first"] == iso(frame, after[0])


def test_missing_sessions_against_the_calendar(frame, universe):
    gap = rows_at(frame, SYMBOL, [50, 51, 52])
    lone = rows_at(frame, SYMBOL, [300])
    data = frame.drop(index=gap.append(lone))
    found = findings(data, universe)["missing_sessions"]
    assert (found["count"], found["first"], found["last"], found["action"]) == (
        4,
        iso(frame, gap[0]),
        iso(frame, lone[0]),
        WARNS,
    )
    assert "2 gaps" in found["detail"] and "the longest is 3 sessions" in found["detail"]


def test_muhurat_session_rows_are_not_errors(frame, universe):
    assert not calendar.is_session("2023-11-12")  # Diwali muhurat trading, a Sunday
    muhurat = frame[frame["date"] == pd.Timestamp("2023-11-10")].assign(
        date=pd.Timestamp("2023-11-12")
    )
    data = canonicalize(pd.concat([frame, muhurat], ignore_index=True))
    report = validate_data_quality(data, universe, now=AFTER_END)
    assert report["status"] == "valid"
    assert all(entry["issues"] == [] for entry in report["symbols"].values())


def test_zero_volume_index_only_warns(frame, universe):
    labels = rows_at(frame, "SENSEX", range(10))
    frame.loc[labels, "volume"] = 0.0
    report = validate_data_quality(frame, universe, now=AFTER_END)
    index = report["symbols"]["SENSEX"]
    (found,) = index["issues"]
    assert (found["kind"], found["count"], found["first"], found["last"]) == (
        "zero_volume_index",
        10,
        iso(frame, labels[0]),
        iso(frame, labels[-1]),
    )
    assert index["valid"] is True and report["status"] == "valid"


# --- exclusions, readiness, status ---------------------------------------------------------


def test_too_few_sessions_excludes_a_symbol(frame, universe):
    own = frame.index[frame["symbol"] == SYMBOL]
    data = frame.drop(index=own[:-29])  # 29 rows left
    report = validate_data_quality(data, universe, now=AFTER_END)
    entry = report["symbols"][SYMBOL]
    assert entry["valid"] is False and entry["excluded_by"] == ["insufficient_history"]
    found = {f["kind"]: f for f in entry["issues"]}["insufficient_history"]
    assert found["count"] == 29 and found["action"] == EXCLUDES
    assert report["statistics"]["valid_symbols"] == 29
    assert report["status"] == "degraded" and report["readiness"] is True


def test_lagging_symbol_is_excluded(frame, universe):
    own = frame.index[frame["symbol"] == SYMBOL]
    data = frame.drop(index=own[-31:])  # stops 31 sessions before the index
    entry = validate_data_quality(data, universe, now=AFTER_END)["symbols"][SYMBOL]
    found = {f["kind"]: f for f in entry["issues"]}["lagging"]
    assert entry["excluded_by"] == ["lagging"]
    assert (found["count"], found["first"], found["last"]) == (31, iso(frame, own[-31]), END)
    ok = frame.drop(index=own[-30:])  # 30 sessions behind is still accepted
    assert validate_data_quality(ok, universe, now=AFTER_END)["symbols"][SYMBOL]["valid"]


@pytest.mark.parametrize(
    "dropped, ready, coverage",
    [(5, True, 83.3), (6, False, 80.0)],
)
def test_readiness_needs_25_of_30_members(frame, universe, dropped, ready, coverage):
    gone = universe.symbols[:dropped]
    data = frame[~frame["symbol"].isin(gone)]
    report = validate_data_quality(data, universe, now=AFTER_END)
    assert report["readiness"] is ready
    assert report["status"] == ("degraded" if ready else "invalid")
    stats = report["statistics"]
    assert stats["valid_symbols"] == 30 - dropped and stats["data_coverage"] == coverage
    for symbol in gone:
        entry = report["symbols"][symbol]
        assert entry["rows"] == 0 and entry["excluded_by"] == ["no_data"]


def test_missing_index_is_invalid_and_stale(frame, universe):
    data = frame[frame["symbol"] != "SENSEX"]
    report = validate_data_quality(data, universe, now=AFTER_END)
    assert report["status"] == "invalid" and report["readiness"] is False
    assert report["statistics"]["index_valid"] is False
    assert any("SENSEX index is not usable" in w for w in report["warnings"])


def test_unknown_symbols_are_listed_not_counted(frame, universe):
    extra = frame[frame["symbol"] == SYMBOL].assign(symbol="NOTAMEMBER")
    report = validate_data_quality(pd.concat([frame, extra]), universe, now=AFTER_END)
    assert report["unknown_symbols"] == ["NOTAMEMBER"]
    assert report["statistics"]["total_symbols"] == 30 and report["status"] == "valid"
    assert find_issues(pd.concat([frame, extra]), universe)["NOTAMEMBER"] == []


# --- the real files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(universe):
    if not REAL_DATA.is_dir():
        pytest.skip(f"real SENSEX data not found at {REAL_DATA.resolve()} (set SENSEX_REAL_DATA)")
    return load_directory(REAL_DATA, universe).frame


def test_real_data_defect_classes_are_found(real, universe):
    report = validate_data_quality(
        real, universe, now=datetime(2021, 12, 31, 18, 0, tzinfo=calendar.IST), source="csv"
    )
    by_symbol = {s: {f["kind"]: f for f in e["issues"]} for s, e in report["symbols"].items()}

    def with_kind(kind):
        return {s for s, kinds in by_symbol.items() if kind in kinds}

    # Yahoo filler rows in (nearly) every member file, from a handful to hundreds.
    assert len(with_kind("filler_rows")) >= 25
    assert by_symbol["NESTLEIND"]["filler_rows"]["count"] > 1000
    # Junk before listing and long stale stretches: NESTLEIND's close is frozen for years.
    stale = by_symbol["NESTLEIND"]["stale_stretch"]
    assert stale["count"] > 1000 and stale["first"] == "2003-03-24"
    assert {"TCS", "JSWSTEEL", "LT"} <= with_kind("stale_stretch")
    # One-day moves beyond 40% that no split explains (filler rows with unadjusted prices).
    assert len(with_kind("extreme_move")) >= 5
    assert by_symbol["TATASTEEL"]["extreme_move"]["count"] >= 10
    # High/Low inconsistencies, mostly before 2002.
    inconsistent = with_kind("high_low_inconsistent")
    assert len(inconsistent) >= 5
    assert all(by_symbol[s]["high_low_inconsistent"]["first"] < "2002" for s in inconsistent)
    # Index volume is 0 until mid-2003.
    zero = by_symbol["SENSEX"]["zero_volume_index"]
    assert zero["first"] == "2000-01-03" and zero["last"].startswith("2003")
    assert all(
        f["action"] in (REPAIRED, EXCLUDES, WARNS) for k in by_symbol.values() for f in k.values()
    )

    # Defects are warnings or repaired: the data set is usable, and fresh as of its last day.
    assert report["readiness"] is True and report["statistics"]["valid_symbols"] == 30
    assert report["last_date"] == "2021-12-31" and report["stale"] is False
    assert report["status"] == "valid"
    stale_report = validate_data_quality(real, universe, now=datetime(2022, 1, 5, 18, 0))
    assert stale_report["stale"] is True and stale_report["status"] == "degraded"


def test_real_data_repair_removes_the_fake_spikes(real, universe):
    fixed = repair(real)
    assert len(fixed) < len(real)
    after = find_issues(fixed, universe)
    assert all(not any(f["kind"] == "filler_rows" for f in after[s]) for s in universe.symbols)
    before_moves = sum(
        f["count"]
        for fs in find_issues(real, universe).values()
        for f in fs
        if f["kind"] == "extreme_move"
    )
    after_moves = sum(
        f["count"] for fs in after.values() for f in fs if f["kind"] == "extreme_move"
    )
    assert after_moves < before_moves / 2


def test_stale_data_says_how_to_bring_it_up_to_date_offline_too(market, universe):
    report = validate_data_quality(market, universe)  # the fixture market ends in 2021: stale now
    stale = [w for w in report["warnings"] if "the last completed BSE session" in w]
    assert stale and "sensex data update" in stale[0] and "--source csv --csv-dir DIR" in stale[0]
