"""Pre-open features: only S&P 500 closes dated before the target session, holidays on both sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensex.data.sources import synthetic
from sensex.features.overnight import (
    OVERNIGHT_FEATURE_NAMES,
    overnight_features,
    sp500_gap_reason,
    target_sessions,
)
from sensex.market import calendar, context


def _closes(prices: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime(list(prices)), "close": list(prices.values())})


def _sp500_on_nyse(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    days = context.sessions(context.SP500, start, end)
    steps = np.random.default_rng(seed).normal(0.0, 0.01, len(days))
    return pd.DataFrame({"date": days, "close": 1000.0 * np.exp(np.cumsum(steps))})


@pytest.fixture(scope="module")
def sp500_market(universe) -> pd.DataFrame:
    return synthetic.generate(universe, "2018-06-01", "2021-12-31", with_context=True)


def test_two_sessions_by_hand():
    # BSE sessions Thu 2021-07-01 and Fri 2021-07-02; the next BSE session is Mon 2021-07-05,
    # a US holiday (Independence Day observed).
    sp500 = _closes({"2021-06-29": 100.0, "2021-06-30": 102.0, "2021-07-01": 101.0, "2021-07-02": 104.0})
    bse = pd.DatetimeIndex(["2021-07-01", "2021-07-02"])
    out = overnight_features(sp500, bse)
    assert list(out["target_date"]) == [pd.Timestamp("2021-07-02"), pd.Timestamp("2021-07-05")]
    # Row 07-01 (forecast before BSE opens 07-02): known then the close of 07-01 (101); known at
    # BSE's close on 07-01 only the close of 06-30 (102).
    assert out["sp500_overnight_ret"].iloc[0] == pytest.approx(np.log(101 / 102))
    assert out["sp500_last_ret"].iloc[0] == pytest.approx(np.log(101 / 102))
    # Row 07-02 (forecast before BSE opens 07-05): the close of 07-02 (104) against that of 07-01.
    assert out["sp500_overnight_ret"].iloc[1] == pytest.approx(np.log(104 / 101))
    assert out["sp500_last_ret"].iloc[1] == pytest.approx(np.log(104 / 101))
    assert list(out["sp500_last_date"]) == [pd.Timestamp("2021-07-01"), pd.Timestamp("2021-07-02")]
    # Four closes: too few for five-session returns or a 20-session volatility.
    assert out[["sp500_ret_5", "sp500_realized_vol_20", "sp500_overnight_z"]].isna().all().all()
    assert out["sp500_complete"].all()


@pytest.mark.parametrize(
    ("bse_day", "target", "known_at_close", "known_at_open", "case"),
    [
        # US holiday (Mon 2021-07-05) between BSE's close and the next open: nothing new.
        ("2021-07-05", "2021-07-06", "2021-07-02", "2021-07-02", "US holiday"),
        # BSE holiday (Thu 2021-03-11, NYSE open): the sessions of 03-10 and 03-11 accumulate.
        ("2021-03-10", "2021-03-12", "2021-03-09", "2021-03-11", "BSE holiday"),
        # Both closed on Good Friday 2021-04-02: only the US session of 04-01 is new.
        ("2021-04-01", "2021-04-05", "2021-03-31", "2021-04-01", "both closed"),
        # BSE closed Thu-Fri 2021-11-04/05 (Diwali), NYSE open: three US sessions accumulate.
        ("2021-11-03", "2021-11-08", "2021-11-02", "2021-11-05", "two BSE holidays"),
        # BSE closed Fri 2021-11-19, NYSE closed Thu 2021-11-25 (Thanksgiving), different weeks:
        # the Thanksgiving overnight is empty.
        ("2021-11-25", "2021-11-26", "2021-11-24", "2021-11-24", "US Thanksgiving"),
    ],
)
def test_holidays_give_the_return_since_the_close_known_at_bse_previous_close(
    bse_day, target, known_at_close, known_at_open, case
):
    sp500 = _sp500_on_nyse("2021-01-01", "2021-12-31")
    bse = calendar.sessions("2021-01-01", "2021-12-31")
    assert pd.Timestamp(bse_day) in bse and calendar.next_session(bse_day) == pd.Timestamp(target), case
    row = overnight_features(sp500, bse).loc[pd.Timestamp(bse_day)]
    close = sp500.set_index("date")["close"]
    expected = np.log(close[known_at_open] / close[known_at_close])
    assert row["target_date"] == pd.Timestamp(target)
    assert row["sp500_overnight_ret"] == pytest.approx(expected, abs=1e-15), case
    assert row["sp500_last_date"] == pd.Timestamp(known_at_open)
    assert row["sp500_complete"]
    if known_at_close == known_at_open:
        assert row["sp500_overnight_ret"] == 0.0


def test_matches_a_plain_loop_over_every_session():
    """The vectorised rule equals its definition, row by row, over three years of both calendars."""
    sp500 = _sp500_on_nyse("2019-01-01", "2021-12-31", seed=3)
    bse = calendar.sessions("2019-02-01", "2021-12-31")
    out = overnight_features(sp500, bse)
    dates, log_close = list(sp500["date"]), np.log(sp500["close"].to_numpy())
    for t, target in zip(bse, target_sessions(bse), strict=True):
        at_open = max(i for i, d in enumerate(dates) if d < target)
        at_close = max(i for i, d in enumerate(dates) if d < t)
        assert out.at[t, "sp500_overnight_ret"] == pytest.approx(log_close[at_open] - log_close[at_close], abs=1e-12)
        assert out.at[t, "sp500_last_ret"] == pytest.approx(log_close[at_open] - log_close[at_open - 1], abs=1e-12)
        assert out.at[t, "sp500_ret_5"] == pytest.approx(log_close[at_open] - log_close[at_open - 5], abs=1e-12)
        returns = np.diff(log_close[at_open - 20 : at_open + 1])
        assert out.at[t, "sp500_realized_vol_20"] == pytest.approx(returns.std(), rel=1e-9)


@pytest.mark.parametrize("target", ["2019-03-05", "2020-03-23", "2021-03-12", "2021-07-06", "2021-11-08"])
def test_sp500_rows_dated_on_or_after_the_target_change_nothing(sp500_market, target):
    target = pd.Timestamp(target)
    index = sp500_market[sp500_market["symbol"] == "SENSEX"]
    bse = pd.DatetimeIndex(index["date"])
    sp500 = sp500_market[sp500_market["symbol"] == context.SP500.symbol].reset_index(drop=True)
    before = overnight_features(sp500, bse)

    changed = sp500.copy()
    later = changed["date"] >= target
    rng = np.random.default_rng(1)
    changed.loc[later, "close"] *= np.exp(rng.normal(0.0, 0.05, later.sum()))
    # ... and a later session lost, another invented: still nothing before the target moves.
    changed = changed.drop(changed.index[later][3]).reset_index(drop=True)
    after = overnight_features(changed, bse)

    covered = before["target_date"] <= target
    assert covered.sum() > 100 and before.loc[covered, "target_date"].max() == target
    pd.testing.assert_frame_equal(before[covered], after[covered])
    # The rule is not vacuous: the session after the target does see the changed closes.
    following = before.index[covered.to_numpy().sum()]
    assert before.at[following, "sp500_overnight_ret"] != after.at[following, "sp500_overnight_ret"]


def test_feature_names_and_shape(sp500_market):
    bse = pd.DatetimeIndex(sp500_market.loc[sp500_market["symbol"] == "SENSEX", "date"])
    sp500 = sp500_market[sp500_market["symbol"] == context.SP500.symbol]
    out = overnight_features(sp500, bse)
    assert list(out.columns) == OVERNIGHT_FEATURE_NAMES + ["target_date", "sp500_last_date", "sp500_complete"]
    assert out.index.equals(bse)
    # The synthetic S&P 500 starts with the SENSEX, so only the first 20 sessions lack a volatility.
    assert out[OVERNIGHT_FEATURE_NAMES].iloc[25:].notna().all().all()


def test_missing_sp500_sessions_make_rows_incomplete_with_a_reason():
    sp500 = _sp500_on_nyse("2021-01-01", "2021-06-30")
    bse = calendar.sessions("2021-02-01", "2021-07-09")
    out = overnight_features(sp500.drop(index=sp500.index[sp500["date"] == "2021-03-03"]), bse)
    # The close of 03-03 is needed before BSE opens on 03-04 (row 03-03) and as the close known at
    # BSE's close on 03-04 (row 03-04, forecasting 03-05); no other row before July needs it.
    incomplete = out.index[~out["sp500_complete"]]
    assert list(incomplete[incomplete < "2021-07-01"]) == [pd.Timestamp("2021-03-03"), pd.Timestamp("2021-03-04")]
    # After the stored S&P 500 ends (06-30), forecasts for 07-02 onwards cannot be made.
    assert not out.loc["2021-07-01":, "sp500_complete"].any()
    assert out.loc["2021-06-30", "sp500_complete"]  # targets 07-01: the close of 06-30 is stored
    reason = sp500_gap_reason(out.loc[pd.Timestamp("2021-07-09")])
    assert reason is not None and "2021-07-09" in reason and "2021-06-30" in reason and "sensex data update" in reason
    assert "offline, import newer CSV files with `sensex data update --source csv --csv-dir DIR`" in reason
    assert "a newer GSPC.csv in DIR" in reason
    assert sp500_gap_reason(out.loc[pd.Timestamp("2021-06-30")]) is None


def test_no_sp500_at_all_gives_nan_and_a_reason():
    bse = calendar.sessions("2021-02-01", "2021-02-10")
    out = overnight_features(pd.DataFrame({"date": pd.to_datetime([]), "close": []}), bse)
    assert out[OVERNIGHT_FEATURE_NAMES].isna().all().all() and not out["sp500_complete"].any()
    assert "no S&P 500 close at all" in sp500_gap_reason(out.iloc[-1])


def test_the_preopen_panel_adds_the_features_as_market_context(sp500_market, universe):
    from sensex.core.errors import DataError
    from sensex.features.build import build_panel
    from sensex.features.overnight import add_overnight

    panel = build_panel(sp500_market, universe)
    pre = add_overnight(panel, sp500_market)
    n = len(panel.market_feature_names)
    assert pre.market_feature_names == panel.market_feature_names + OVERNIGHT_FEATURE_NAMES
    np.testing.assert_array_equal(pre.market[:, :n], panel.market)
    expected = overnight_features(sp500_market[sp500_market["symbol"] == context.SP500.symbol], panel.dates)
    np.testing.assert_array_equal(pre.market[:, n:], expected[OVERNIGHT_FEATURE_NAMES].to_numpy())
    assert pre.overnight is not None and pre.overnight.index.equals(panel.dates)
    np.testing.assert_array_equal(pre.stock, panel.stock)
    with pytest.raises(DataError, match="sensex data update"):
        add_overnight(panel, sp500_market[sp500_market["symbol"] != context.SP500.symbol])


def test_rows_without_their_sp500_closes_lose_their_label(sp500_market, universe):
    from sensex.features.build import build_panel
    from sensex.features.overnight import add_overnight

    gap = (sp500_market["symbol"] == context.SP500.symbol) & (sp500_market["date"] == "2020-06-10")
    panel = build_panel(sp500_market, universe)
    full = add_overnight(panel, sp500_market)
    # The first session: no S&P 500 close was known at BSE's close (the data starts that day).
    assert np.isfinite(panel.label[0]) and np.isnan(full.label[0]) and np.isfinite(full.label[1:-1]).all()
    pre = add_overnight(panel, sp500_market[~gap])
    lost = panel.dates[np.isfinite(full.label) & ~np.isfinite(pre.label)]
    # The close of 06-10 is known before BSE opens on 06-11 and at BSE's close on 06-11.
    assert list(lost) == [pd.Timestamp("2020-06-10"), pd.Timestamp("2020-06-11")]
