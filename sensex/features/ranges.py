"""How much the SENSEX moves: a daily variance proxy from OHLC, its next-session label and the
features a range forecast may use, all causal (the value at session t uses rows up to t only).

The variance proxy of session t is Parkinson's range estimator plus the squared opening gap:

    v_t = ln(H_t / L_t)^2 / (4 ln 2) + ln(O_t / C_{t-1})^2

Parkinson (1980) reads only the high and the low: about five times as efficient as a squared
close-to-close return, and the two prices of a Yahoo index row that are most reliable (its open
is the previous close on a few sessions a year before 2010, which leaves Garman-Klass' open-to-
close term wrong there). The range covers the session from open to close; the gap term adds the
overnight move, so v_t is a proxy of the whole close-to-close variance. `garman_klass` is here
for comparison; the label uses Parkinson.

A session with no range (high equal to low: a stale or filler quote) gives no proxy: it is
excluded from the label and counted (`RangeData.counts`); the features carry the last session
that had one forward.

The label of row t is ln v_{t+1}, the log variance of the next stored session, NaN on the last
row. Features of row t (`RANGE_FEATURE_NAMES`, plus `PREOPEN_FEATURE_NAMES` in the pre-open mode):

- `log_var_1`, `log_var_5`, `log_var_22`: ln of v over the last 1, 5 and 22 sessions (HAR, Corsi 2009);
- `neg_ret_1`, `neg_ret_5`: the index's 1- and 5-session log return when negative, else 0 (leverage);
- `log_member_var`: ln of the members' median (range^2 / (4 ln 2) + gap^2), the same proxy per
  member from the panel's `range` and `gap` indicators, over the members available that day;
- `log_dispersion`: ln of the squared cross-sectional dispersion of member returns (`build_panel`);
- `log_days_ahead`: ln of the calendar days from t to the session forecast (a weekend or a
  holiday lets more news into the gap; the calendar is known in advance).

Pre-open only, from the S&P 500 sessions dated strictly before the session forecast (the same
rule as `features.overnight`; dates are each exchange's local dates):

- `sp500_log_abs_overnight`: ln(r^2 + floor) of the S&P's overnight return (`sp500_overnight_ret`:
  the US sessions between BSE's close on t and its next open);
- `sp500_log_var_last`: ln of the Parkinson variance of the last S&P session known before the open;
- `sp500_log_abs_last`: ln(r^2 + floor) of that session's close-to-close return.

Rows whose S&P 500 closes are incomplete lose their label, as in `features.overnight.add_overnight`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sensex.core.errors import DataError
from sensex.features.build import Panel
from sensex.features.overnight import clean_closes, target_sessions
from sensex.market import context
from sensex.market.modes import PREOPEN

ESTIMATOR = "parkinson+gap"
HAR_FEATURE_NAMES = ["log_var_1", "log_var_5", "log_var_22"]
RANGE_FEATURE_NAMES = [
    *HAR_FEATURE_NAMES, "neg_ret_1", "neg_ret_5", "log_member_var", "log_dispersion", "log_days_ahead",
]
PREOPEN_FEATURE_NAMES = ["sp500_log_abs_overnight", "sp500_log_var_last", "sp500_log_abs_last"]
HAR_WINDOWS = (1, 5, 22)
# A squared return of (0.1%)^2: the floor under ln(r^2), so a US holiday (overnight return 0, no
# news) is a small number, not minus infinity. Fixed in advance, not fit.
SQUARED_RETURN_FLOOR = 1e-6
FOUR_LN2 = 4.0 * np.log(2.0)


def parkinson(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """ln(H/L)^2 / (4 ln 2) per session; NaN where high <= low or a price is missing or not positive."""
    high, low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_range = np.log(high / low)
    usable = np.isfinite(log_range) & (high > low) & (low > 0)
    return np.where(usable, log_range**2 / FOUR_LN2, np.nan)


def garman_klass(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2 per session (Garman and Klass 1980); NaN where high <= low."""
    open_, close = np.asarray(open_, dtype=np.float64), np.asarray(close, dtype=np.float64)
    high, low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_range, log_body = np.log(high / low), np.log(close / open_)
    usable = np.isfinite(log_range) & np.isfinite(log_body) & (high > low) & (low > 0)
    return np.where(usable, 0.5 * log_range**2 - (2.0 * np.log(2.0) - 1.0) * log_body**2, np.nan)


def opening_gap(open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    """ln(O_t / C_{t-1}) per session, NaN on the first and where a price is missing."""
    open_, close = np.asarray(open_, dtype=np.float64), np.asarray(close, dtype=np.float64)
    out = np.full(len(open_), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = np.log(open_[1:] / close[:-1])
    return np.where(np.isfinite(out), out, np.nan)


def session_variance(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """v_t = Parkinson + squared opening gap (module docstring); NaN without a range or a gap."""
    return parkinson(high, low) + opening_gap(open_, close) ** 2


def _log_squared(r: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(r, dtype=np.float64) ** 2 + SQUARED_RETURN_FLOOR)


def _trailing_mean(values: np.ndarray, sessions: int) -> np.ndarray:
    """Mean of the known values among the last `sessions` (at least half of them known)."""
    if sessions == 1:
        return values.copy()
    return pd.Series(values).rolling(sessions, min_periods=(sessions + 1) // 2).mean().to_numpy()


def har_features(variance: np.ndarray) -> np.ndarray:
    """(D, 3) `HAR_FEATURE_NAMES` of a series of session variances: ln v_t (the last session
    that had a range, carried forward) and ln of the mean over the last 5 and 22 sessions."""
    variance = np.asarray(variance, dtype=np.float64)
    carried = pd.Series(variance).ffill().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.column_stack([np.log(carried) if w == 1 else np.log(_trailing_mean(variance, w)) for w in HAR_WINDOWS])
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass
class RangeData:
    """Per index session t of a panel: the proxy, the label, the features and the moves."""

    dates: pd.DatetimeIndex  # (D,) the panel's sessions
    target_dates: pd.DatetimeIndex  # (D,) the session each row forecasts
    variance: np.ndarray  # (D,) v_t, NaN where the session has no range
    label: np.ndarray  # (D,) ln v_{t+1}; NaN on the last row, without a range, pre-open rows incomplete
    ret: np.ndarray  # (D,) close-to-close log return of session t (EWMA, GARCH)
    next_abs_move: np.ndarray  # (D,) |ln(C_{t+1}/C_t)| in percent: what the intervals are about
    features: np.ndarray  # (D, K)
    feature_names: list[str]
    mode: str = "close"
    counts: dict = field(default_factory=dict)  # sessions without a range, labels excluded for it

    def usable(self) -> np.ndarray:
        """(D,) rows with a label and every feature known."""
        return np.isfinite(self.label) & np.isfinite(self.features).all(axis=1)

    def column(self, name: str) -> np.ndarray:
        return self.features[:, self.feature_names.index(name)]


def _index_ohlc(rows: pd.DataFrame, panel: Panel) -> dict[str, np.ndarray]:
    """The index's open, high, low, close on the panel's sessions (as `build_panel` picks them)."""
    index_rows = rows[rows["symbol"] == panel.index_symbol].sort_values("date", kind="stable")
    index_rows = index_rows.dropna(subset=["close"]).drop_duplicates("date", keep="last")
    index_rows = index_rows.set_index(pd.DatetimeIndex(index_rows["date"]).normalize())
    aligned = index_rows.reindex(panel.dates)
    if aligned["close"].isna().any():
        raise DataError("The rows given do not hold the panel's index sessions: build both from the same store rows.")
    return {c: aligned[c].to_numpy(np.float64) for c in ("open", "high", "low", "close")}


def _member_variance(panel: Panel) -> np.ndarray:
    """(D,) the members' median range + gap variance proxy, over the members available on t."""
    names = panel.stock_feature_names
    span, gap = panel.stock[:, :, names.index("range")], panel.stock[:, :, names.index("gap")]
    per_member = np.where(panel.available, span**2 / FOUR_LN2 + gap**2, np.nan)  # (D, S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a session with no member: NaN on purpose
        return np.nanmedian(per_member, axis=1)


def sp500_range_features(sp500: pd.DataFrame, target_dates: pd.DatetimeIndex) -> pd.DataFrame:
    """The last S&P 500 session dated strictly before each target session: its Parkinson
    variance and close-to-close return (`context.last_known_before`, the pre-open rule).

    `sp500`: rows with `date` (New York dates), `high`, `low`, `close`. Returns a frame indexed
    like `target_dates` with `sp500_var_last`, `sp500_ret_last` and `sp500_last_date`.
    """
    target_dates = pd.DatetimeIndex(target_dates).normalize()
    closes = clean_closes(sp500)
    rows = sp500.assign(date=pd.to_datetime(sp500["date"]).dt.normalize())
    rows = rows.sort_values("date", kind="stable").drop_duplicates("date", keep="last").set_index("date")
    rows = rows.reindex(closes.index)
    variance = parkinson(rows["high"].to_numpy(np.float64), rows["low"].to_numpy(np.float64))
    log_close = np.log(closes.to_numpy())
    ret = np.concatenate([[np.nan], np.diff(log_close)])
    position = context.last_known_before(closes.index, target_dates)  # (T,) -1: nothing known yet

    def pick(values: np.ndarray) -> np.ndarray:
        padded = np.concatenate([values, [np.nan]])  # position -1 reads the trailing NaN
        return padded[np.where(position >= 0, position, len(values))]

    last_dates = np.concatenate([closes.index.values, [np.datetime64("NaT")]])
    return pd.DataFrame({
        "sp500_var_last": pick(variance),
        "sp500_ret_last": pick(ret),
        "sp500_last_date": pd.DatetimeIndex(last_dates[np.where(position >= 0, position, len(closes))]),
    }, index=target_dates)


def range_data(rows: pd.DataFrame, panel: Panel) -> RangeData:
    """The range forecast's data for `panel` (close or pre-open), from the same repaired rows the
    panel was built from (`features.dataset.repair`): the index's OHLC and, pre-open, the S&P 500's."""
    ohlc = _index_ohlc(rows, panel)
    n = len(panel.dates)
    has_range = ohlc["high"] > ohlc["low"]
    no_range = ~has_range & np.isfinite(ohlc["high"]) & np.isfinite(ohlc["low"])
    variance = session_variance(ohlc["open"], ohlc["high"], ohlc["low"], ohlc["close"])
    variance[0] = parkinson(ohlc["high"][:1], ohlc["low"][:1])[0]  # no gap known on the first session
    log_close = np.log(ohlc["close"])
    ret = np.concatenate([[np.nan], np.diff(log_close)])
    label = np.full(n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        label[:-1] = np.log(variance[1:])
    label[~np.isfinite(label)] = np.nan
    next_abs_move = np.full(n, np.nan)
    next_abs_move[:-1] = 100.0 * np.abs(ret[1:])

    har = list(har_features(variance).T)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret_5 = np.full(n, np.nan)
        ret_5[5:] = log_close[5:] - log_close[:-5]
        member = np.log(_member_variance(panel))
        dispersion = panel.market[:, panel.market_feature_names.index("dispersion")]
        log_dispersion = np.log(dispersion**2)
    targets = (pd.DatetimeIndex(panel.overnight["target_date"]) if panel.overnight is not None
               else target_sessions(panel.dates))
    days_ahead = np.log(np.asarray((targets - panel.dates).days, dtype=np.float64))
    columns = [*har, np.minimum(ret, 0.0), np.minimum(ret_5, 0.0), member, log_dispersion, days_ahead]
    names = list(RANGE_FEATURE_NAMES)
    if panel.mode == PREOPEN:
        if panel.overnight is None:
            raise DataError("A pre-open panel without its overnight features: build it with `features.dataset.prepare`.")
        sp500 = rows[rows["symbol"] == context.SP500.symbol]
        last = sp500_range_features(sp500, targets)
        with np.errstate(divide="ignore", invalid="ignore"):
            columns += [_log_squared(panel.overnight["sp500_overnight_ret"].to_numpy(np.float64)),
                        np.log(last["sp500_var_last"].to_numpy()), _log_squared(last["sp500_ret_last"].to_numpy())]
        names += PREOPEN_FEATURE_NAMES
        label = np.where(panel.overnight["sp500_complete"].to_numpy(bool), label, np.nan)
    features = np.column_stack(columns)
    features[~np.isfinite(features)] = np.nan
    counts = {
        "sessions": int(n),
        "no_range_sessions": int(no_range.sum()),  # high equal to low
        "no_range_labels_excluded": int(no_range[1:].sum()),
        "missing_range_sessions": int((~np.isfinite(ohlc["high"]) | ~np.isfinite(ohlc["low"])).sum()),
        "first_no_range": str(panel.dates[no_range][0].date()) if no_range.any() else None,
        "last_no_range": str(panel.dates[no_range][-1].date()) if no_range.any() else None,
    }
    return RangeData(
        dates=panel.dates, target_dates=targets, variance=variance, label=label, ret=ret,
        next_abs_move=next_abs_move, features=features, feature_names=names, mode=panel.mode, counts=counts,
    )
