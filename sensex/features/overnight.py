"""Pre-open features: what the S&P 500 says before BSE opens.

A pre-open forecast for the BSE session t + 1 (dated D) is issued before 09:15 IST on D. The
S&P 500 session of New York date d closes at 01:30 or 02:30 IST on d + 1, so the closes known
then are exactly those dated strictly before D (`sensex.market.context.last_known_before`); at BSE's
close on t (dated t) the known ones were those dated strictly before t. Dates are each
exchange's local calendar dates; nothing here converts to UTC.

Features of BSE session t (the row the forecast is issued from), all S&P 500 log returns:

- `sp500_overnight_ret`: from the last close known at BSE's close on t to the last close known
  before BSE opens on D, i.e. the US sessions dated in [t, D). A US holiday leaves it 0 (no new
  information); a BSE holiday makes it accumulate every US session BSE missed.
- `sp500_overnight_z`: the same over the S&P's 20-session realized volatility (a surprise size).
- `sp500_last_ret`: the last session known before the open (its own close-to-close return).
- `sp500_ret_5`: the last five sessions known before the open.
- `sp500_realized_vol_20`: standard deviation of the last 20 known sessions' returns.

Beside them, `sp500_last_date` (the last S&P session used) and `sp500_complete`: True when the
data holds both NYSE sessions the rule needs (the last one dated before D and the last one dated
before t, on exchange_calendars' XNYS). An incomplete row's features use whatever closes the data
has, so they may be stale; callers that forecast must refuse such a row and say why
(`sp500_gap_reason`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from sensex.core.advice import update_advice
from sensex.core.errors import DataError
from sensex.features.build import Panel
from sensex.market import calendar, context

OVERNIGHT_FEATURE_NAMES = [
    "sp500_overnight_ret", "sp500_overnight_z", "sp500_last_ret", "sp500_ret_5", "sp500_realized_vol_20",
]
VOL_SESSIONS = 20


def target_sessions(bse_dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The session each row forecasts: the next stored session, and for the last row the next
    BSE calendar session (the label of `features.build` uses the same next stored session)."""
    bse_dates = pd.DatetimeIndex(bse_dates)
    if len(bse_dates) == 0:
        return bse_dates
    return bse_dates[1:].append(pd.DatetimeIndex([calendar.next_session(bse_dates[-1])]))


def clean_closes(sp500: pd.DataFrame) -> pd.Series:
    """Usable S&P 500 closes indexed by date: sorted, one per date (the last), positive."""
    rows = sp500[["date", "close"]].dropna()
    rows = rows[rows["close"] > 0]
    rows = rows.assign(date=pd.to_datetime(rows["date"]).dt.normalize())
    rows = rows.sort_values("date", kind="stable").drop_duplicates("date", keep="last")
    return pd.Series(rows["close"].to_numpy(np.float64), index=pd.DatetimeIndex(rows["date"]), name="close")


def overnight_features(
    sp500: pd.DataFrame,
    bse_dates: pd.DatetimeIndex,
    target_dates: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Pre-open features of each BSE session in `bse_dates` (see the module docstring).

    `sp500`: rows of the S&P 500 with at least `date` (New York dates) and `close`.
    `target_dates`: the session each row forecasts (default `target_sessions(bse_dates)`).
    Returns a frame indexed by `bse_dates` with OVERNIGHT_FEATURE_NAMES, `target_date`,
    `sp500_last_date` and `sp500_complete`; features are NaN where too few closes are known.
    """
    bse_dates = pd.DatetimeIndex(bse_dates).normalize()
    targets = target_sessions(bse_dates) if target_dates is None else pd.DatetimeIndex(target_dates).normalize()
    if len(targets) != len(bse_dates):
        raise ValueError("target_dates must give one target per BSE session")
    closes = clean_closes(sp500)
    sp_dates = closes.index
    log_close = np.log(closes.to_numpy())  # (U,)
    ret = np.concatenate([[np.nan], np.diff(log_close)])  # (U,) each session's close-to-close
    vol = pd.Series(ret).rolling(VOL_SESSIONS, min_periods=VOL_SESSIONS).std(ddof=0).to_numpy()
    ret_5 = np.full(len(log_close), np.nan)
    ret_5[5:] = log_close[5:] - log_close[:-5]

    at_open = context.last_known_before(sp_dates, targets)  # (D,) -1: nothing known yet
    at_close = context.last_known_before(sp_dates, bse_dates)  # (D,)

    def pick(values: np.ndarray, position: np.ndarray) -> np.ndarray:
        padded = np.concatenate([values, [np.nan]])  # position -1 reads the trailing NaN
        return padded[np.where(position >= 0, position, len(values))]

    overnight = pick(log_close, at_open) - pick(log_close, at_close)  # NaN unless both are known
    with np.errstate(invalid="ignore", divide="ignore"):
        overnight_z = overnight / pick(vol, at_open)
    out = pd.DataFrame(
        {
            "sp500_overnight_ret": overnight,
            "sp500_overnight_z": overnight_z,
            "sp500_last_ret": pick(ret, at_open),
            "sp500_ret_5": pick(ret_5, at_open),
            "sp500_realized_vol_20": pick(vol, at_open),
        },
        index=bse_dates,
    )
    out["target_date"] = targets
    last = np.concatenate([sp_dates.values, [np.datetime64("NaT")]])
    out["sp500_last_date"] = pd.DatetimeIndex(last[np.where(at_open >= 0, at_open, len(sp_dates))])
    out["sp500_complete"] = _complete(sp_dates, bse_dates, targets)
    return out


def _complete(sp_dates: pd.DatetimeIndex, bse_dates: pd.DatetimeIndex, targets: pd.DatetimeIndex) -> np.ndarray:
    """(D,) the data holds the last NYSE session dated before the target and before t."""
    if len(bse_dates) == 0:
        return np.zeros(0, dtype=bool)
    nyse = context.sessions(context.SP500, bse_dates.min() - pd.Timedelta(days=30), targets.max())
    have = np.isin(nyse.values, sp_dates.values)
    found = np.zeros(len(bse_dates), dtype=bool)
    found[:] = True
    for days in (targets, bse_dates):
        position = context.last_known_before(nyse, days)
        found &= (position >= 0) & have[np.maximum(position, 0)]
    return found


def sp500_gap_reason(row: pd.Series) -> str | None:
    """Why a pre-open forecast cannot be made from this feature row, or None when it can."""
    if bool(row["sp500_complete"]):
        return None
    needed = context.last_session_before(context.SP500, row["target_date"])
    last = row["sp500_last_date"]
    have = "no S&P 500 close at all" if pd.isna(last) else f"the last S&P 500 close stored is {pd.Timestamp(last).date()}"
    return (
        f"The pre-open forecast for {pd.Timestamp(row['target_date']).date()} needs the S&P 500 close of"
        f" {needed.date()} (and the one before BSE's previous close), but {have}: {update_advice()}"
        f" with a newer {context.SP500.file_names[0]} in DIR, or use the close mode."
    )


def add_overnight(panel: Panel, ohlcv: pd.DataFrame) -> Panel:
    """The pre-open panel: the market context gains OVERNIGHT_FEATURE_NAMES (the same for every
    member, like the rest of it), `panel.overnight` keeps the per-session detail, and sessions
    whose S&P 500 closes are incomplete lose their label: a pre-open model neither learns from
    nor is scored on a row it could not have been given.

    `ohlcv` is the store's frame (the S&P 500 rows are picked out of it). Raises DataError when
    it holds no S&P 500 row at all.
    """
    sp500 = ohlcv[ohlcv["symbol"] == context.SP500.symbol]
    if sp500.empty:
        raise DataError(
            f"The pre-open mode needs the {context.SP500.name} ({context.SP500.yahoo}) in the store: run"
            f" `sensex data update` (with --source csv, put {context.SP500.file_names[0]} beside the member files)."
        )
    features = overnight_features(sp500, panel.dates)
    market = np.column_stack([panel.market, features[OVERNIGHT_FEATURE_NAMES].to_numpy()])  # (D, M + K)
    label = np.where(features["sp500_complete"].to_numpy(), panel.label, np.nan)
    return dataclasses.replace(
        panel, market=market, label=label, overnight=features, mode="preopen",
        market_feature_names=[*panel.market_feature_names, *OVERNIGHT_FEATURE_NAMES],
    )
