"""A model's inputs computed from the store: the one place serving builds features (pandas,
pyarrow, TA-Lib, imported only when called). The latest session's inputs are then kept in
`window_cache`, so most forecasts never come here."""

from __future__ import annotations

import dataclasses

import numpy as np

from sensex.core.errors import DataError
from sensex.core.settings import Settings
from sensex.market.universe import Universe
from sensex.models.bundle import Bundle
from sensex.serving.window_cache import LatestInputs


def computed_inputs(settings: Settings, universe: Universe, bundle: Bundle, as_of: str | None) -> LatestInputs:
    """The model's inputs from the stored session `as_of` (default: the latest), computed from the
    store: the features of the window's tail only, plus the indicators' warm-up."""
    import pandas as pd

    from sensex.features.dataset import load_panel, load_range
    from sensex.features.overnight import sp500_gap_reason
    from sensex.features.windows import model_input
    from sensex.models.designs import index_design, latest_session_design, realized_volatility
    from sensex.models.range_portable import CALIBRATION_SESSIONS, has_range, recent_scores, warmup

    as_of = pd.Timestamp(as_of) if as_of is not None else None
    # Only the tail the window needs, plus the indicators' warm-up (the range features' 22
    # sessions fit inside it).
    sessions = bundle.window + bundle.meta.warmup
    ranges = None
    if has_range(bundle.meta):
        # The range band is calibrated on the last 250 settled sessions (their features need 22
        # more before them, and the last session has no outcome yet).
        sessions = max(sessions, CALIBRATION_SESSIONS + warmup(bundle.meta.range) + 1)
        panel, ranges = load_range(settings, universe, end=as_of, sessions=sessions, mode=bundle.meta.mode)
    else:
        panel = load_panel(settings, universe, end=as_of, sessions=sessions, mode=bundle.meta.mode)
    if len(panel.dates) < bundle.window:
        if as_of is not None:  # the store may be fine: the date is too close to its start
            raise DataError(f"Only {len(panel.dates)} index sessions are stored up to {as_of.date()} and the"
                            f" model needs {bundle.window}: pick a later as-of date.")
        raise DataError(
            f"Insufficient data for prediction: {len(panel.dates)} index sessions stored, {bundle.window} needed; run `sensex data update`."
        )
    if panel.available[-1].sum() == 0:
        raise DataError("No member has usable data on the last stored session: run `sensex data status`.")
    last_sp500 = None
    if panel.overnight is not None:  # pre-open: refuse, saying why, without the S&P 500 it needs
        latest = panel.overnight.iloc[-1]
        reason = sp500_gap_reason(latest)
        if reason is not None:
            raise DataError(reason)
        last_sp500 = str(pd.Timestamp(latest["sp500_last_date"]).date())
    # Scaling and the member averages are row by row: only the window's rows are computed.
    window = dataclasses.replace(panel, stock=panel.stock[-bundle.window:], market=panel.market[-bundle.window:],
                                 available=panel.available[-bundle.window:])
    tensor = model_input(window, bundle.scaler)  # (T, S, C)
    range_row = range_scores = None
    if ranges is not None and list(ranges.feature_names) == list(bundle.meta.range["feature_names"]):
        range_row = ranges.features[-1].astype(np.float64)
        range_scores = recent_scores(bundle.meta.range, ranges.features, ranges.next_abs_move,
                                     [str(day.date()) for day in ranges.dates])
    member_rows = None
    if (bundle.meta.members or {}).get("range"):
        from sensex.models.member_ranges import member_har

        member_rows = member_har(panel)[-1]
    return LatestInputs(tensor[None],
                        {"index": index_design(panel)[-1:], "latest": latest_session_design(window)[-1:]},
                        str(panel.dates[-1].date()), float(realized_volatility(panel)[-1]), last_sp500,
                        range_row, float(panel.index_close[-1]), member_rows, range_scores)
