"""The canonical OHLCV frame every source returns and the store keeps.

One row per (date, symbol); `date` is a tz-naive midnight Timestamp of the BSE session,
prices are floats in the listing currency, `volume` is a float (index volume is in odd units).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensex.core.errors import DataError

if TYPE_CHECKING:  # the names below are read on the forecast path, which never imports pandas
    import pandas as pd

COLUMNS = ["date", "symbol", "open", "high", "low", "close", "adj_close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]
INDEX_SYMBOL = "SENSEX"


def empty_frame() -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
    frame["date"] = pd.Series(dtype="datetime64[ns]")
    frame["symbol"] = pd.Series(dtype="object")
    return frame[COLUMNS]


def canonicalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce types, order columns, sort by (symbol, date); raises DataError on missing columns."""
    import numpy as np
    import pandas as pd

    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"OHLCV frame lacks columns {missing}: sources must return {COLUMNS}.")
    out = frame[COLUMNS].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.tz_localize(None).dt.normalize()
    out["symbol"] = out["symbol"].astype(str)
    for column in PRICE_COLUMNS + ["volume"]:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(np.float64)
    return out.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


def pivot(frame: pd.DataFrame, field: str, symbols: list[str] | None = None) -> pd.DataFrame:
    """Wide panel (date x symbol) of one field; absent (date, symbol) pairs are NaN."""
    wide = frame.pivot_table(index="date", columns="symbol", values=field, aggfunc="last")
    if symbols is not None:
        wide = wide.reindex(columns=symbols)
    return wide.sort_index()
