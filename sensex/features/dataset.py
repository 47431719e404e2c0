"""The one data-preparation entry point: stored rows -> repaired rows -> panel.

Training, evaluation, walk-forward, serving and the benchmarks all call `load_panel`, so the
model sees the same preparation when it learns and when it forecasts (as Qlib's DataHandlerLP
does for both). `quality.py` judges the data and reports; `repair` here decides which rows the
features may use, with the same masks the report uses.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from sensex.core.settings import Settings
from sensex.data import store
from sensex.data.quality_checks import filler_rows, unusable_rows
from sensex.features.build import Panel, build_panel
from sensex.features.overnight import add_overnight
from sensex.features.ranges import RangeData, range_data
from sensex.market import calendar, context
from sensex.market.modes import DEFAULT_MODE, PREOPEN, check_mode
from sensex.market.schema import COLUMNS, INDEX_SYMBOL
from sensex.market.universe import Universe


def repair(frame: pd.DataFrame, index_symbol: str = INDEX_SYMBOL) -> pd.DataFrame:
    """The rows features may use: sorted, one per (symbol, date), no filler or priceless rows.

    Drops member filler rows (volume 0 and O = H = L = C; the index keeps its own), rows with a
    missing or non-positive price, and all but the last row of a duplicated (symbol, date).
    Never mutates `frame`.
    """
    out = frame[COLUMNS].sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    out = out[~out.duplicated(["symbol", "date"], keep="last")]
    missing, non_positive = unusable_rows(out)
    filler = filler_rows(out) & (out["symbol"] != index_symbol)
    return out[~(filler | missing | non_positive)].reset_index(drop=True)


def prepare(frame: pd.DataFrame, universe: Universe, mode: str = DEFAULT_MODE) -> Panel:
    """Repair, then build the panel: for callers that already hold the rows (tests, the benchmark).

    Mode `preopen` adds the overnight S&P 500 features (`features.overnight.add_overnight`).
    """
    mode = check_mode(mode)
    rows = repair(frame, universe.index_symbol)
    panel = build_panel(rows, universe)
    return add_overnight(panel, rows) if mode == PREOPEN else panel


def load_panel(settings: Settings, universe: Universe, end: str | pd.Timestamp | None = None,
               sessions: int | None = None, mode: str = DEFAULT_MODE) -> Panel:
    """The panel of the stored data up to `end` (default: everything), for forecasts of `mode`.

    `sessions` keeps only the last N index sessions (plus nothing older), which is what a
    forecast needs: its window plus the indicators' warm-up. A pre-open panel ending at `end`
    also reads the context series' closes dated before the BSE session after `end` (a US
    session on a BSE holiday is known at that open); the features never read a later one.
    """
    mode = check_mode(mode)
    frame = _selected_rows(settings, universe, end, sessions, mode)
    panel = build_panel(frame, universe)  # rows already repaired: selecting by date and symbol keeps them so
    return add_overnight(panel, frame) if mode == PREOPEN else panel


def load_range(settings: Settings, universe: Universe, end: str | pd.Timestamp | None = None,
               sessions: int | None = None, mode: str = DEFAULT_MODE) -> tuple[Panel, RangeData]:
    """`load_panel`'s panel and the range forecast's data (`features.ranges.range_data`) from the
    same repaired, date-selected rows. A forecast needs the last 22 sessions plus the indicators'
    warm-up (`sessions` counts as in `load_panel`)."""
    mode = check_mode(mode)
    frame = _selected_rows(settings, universe, end, sessions, mode)
    panel = build_panel(frame, universe)
    panel = add_overnight(panel, frame) if mode == PREOPEN else panel
    return panel, range_data(frame, panel)


def _selected_rows(settings: Settings, universe: Universe, end: str | pd.Timestamp | None, sessions: int | None,
                   mode: str) -> pd.DataFrame:
    """The repaired stored rows `load_panel` builds from (see its docstring)."""
    frame = _repaired_store(settings, universe.index_symbol)
    # One boolean selection in numpy: a forecast's tail is cut from the whole store per request.
    row_dates = frame["date"].to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    if end is not None:
        end = pd.Timestamp(end).normalize()
        keep = row_dates <= end.to_datetime64()
        if mode == PREOPEN:
            context_rows = frame["symbol"].isin([series.symbol for series in context.CONTEXT_SERIES]).to_numpy()
            keep |= context_rows & (row_dates < calendar.next_session(end).to_datetime64())
    if sessions is not None and keep.any():
        index_dates = np.unique(row_dates[keep & (frame["symbol"].to_numpy() == universe.index_symbol)])
        if len(index_dates) > sessions:
            keep &= row_dates >= index_dates[-sessions]
    if not keep.all():
        frame = frame[keep]
    return frame


_repaired: tuple[tuple, pd.DataFrame] | None = None  # (store content, repaired rows): the last one read
_repaired_lock = threading.Lock()


def _repaired_store(settings: Settings, index_symbol: str) -> pd.DataFrame:
    """All stored rows, repaired, kept per store content: a forecast for an earlier session
    would otherwise decode and repair the store again for every request. Callers select rows
    and never modify the frame."""
    global _repaired
    content = (str(settings.store_dir), (store.read_meta(settings.store_dir) or {}).get("content_hash"), index_symbol)
    with _repaired_lock:
        held = _repaired
    if held is not None and content[1] is not None and held[0] == content:
        return held[1]
    rows = repair(store.read(settings.store_dir), index_symbol)
    with _repaired_lock:
        _repaired = (content, rows)
    return rows
