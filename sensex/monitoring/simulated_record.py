"""The simulated track record: what the production recipe would have said, session by session,
had it run over history, scored the way the live record is (`track_record`, `live_record`).

The forecasts are the walk-forward's (`sensex evaluate --walk-forward`, stored for backtests):
each session forecast by a model fit on windows ending before its block, so every row is out of
sample. It is a simulation and says so: the live record counts forecasts that were issued, this
one counts forecasts a refit schedule would have issued. Scored like the live record: no calls
are abstentions (out of the hit rate, in the Brier score), beside always-UP with P(UP) = the
share of UP sessions in the index history up to each session (no look-ahead).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sensex.monitoring.live_record import mean_interval, wilson
from sensex.monitoring.track_record import always_up_probability, reliability

MIN_ROWS = 20  # fewer labelled forecasts than this: nothing to say


def _scores(y: np.ndarray, p: np.ndarray, called: np.ndarray, base: np.ndarray) -> dict:
    hits = int(((p >= 0.5) == (y == 1))[called].sum())
    calls = int(called.sum())
    brier, base_brier = (p - y) ** 2, (base - y) ** 2
    return {"n": int(len(y)), "calls": calls, "abstentions": int(len(y) - calls),
            "hit_rate": hits / calls if calls else None, "hit_rate_interval": wilson(hits, calls) if calls else None,
            "brier": float(brier.mean()), "always_up_hit_rate": float(y.mean()),
            "always_up_brier": float(base_brier.mean()),
            "brier_minus_always_up": float((brier - base_brier).mean()),
            "brier_minus_always_up_interval": mean_interval(brier - base_brier)}


def simulated_record(forecasts: pd.DataFrame, closes: pd.Series) -> dict:
    """Hit rate, Brier, always-UP on the same sessions, per year, and reliability, of the stored
    walk-forward forecasts (columns date, probability, no_call, label) against the index `closes`
    (a Series by session date). {"n": 0, "reason": ...} when too few are labelled."""
    frame = forecasts.loc[np.isfinite(forecasts["label"].to_numpy(float))].sort_values("date")
    if len(frame) < MIN_ROWS:
        return {"n": int(len(frame)), "reason": f"Only {len(frame)} labelled walk-forward forecasts: the simulated"
                                                  f" record needs {MIN_ROWS}."}
    dates = pd.DatetimeIndex(frame["date"])
    base = always_up_probability(closes.dropna()).reindex(dates).to_numpy(float)
    base = np.where(np.isfinite(base), base, 0.5)  # only the first stored session lacks a history
    y, p = frame["label"].to_numpy(float), frame["probability"].to_numpy(float)
    called = ~frame["no_call"].fillna(False).to_numpy(bool)
    years = [{"year": int(year), **_scores(y[mask], p[mask], called[mask], base[mask])}
             for year in sorted(set(dates.year)) for mask in [np.asarray(dates.year == year)]]
    return {**_scores(y, p, called, base), "first": str(dates[0].date()), "last": str(dates[-1].date()),
            "years": years, "reliability": reliability(y, p, bins=10 if len(y) >= 200 else 5)}
