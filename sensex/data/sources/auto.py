"""Choosing a source: `auto` prefers live data, then what is stored, then the synthetic market."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sensex.core.errors import ConfigError, DataSourceError
from sensex.core.settings import SOURCES

KEEP_STORE = "store"  # no fetch: the stored rows are used as they are


@dataclass(frozen=True)
class SourceChoice:
    source: str  # yfinance | csv | synthetic | store
    message: str


def choose_source(
    requested: str,
    stored_source: str | None,
    yahoo_reachable: Callable[[], bool],
    csv_dir: str | None = None,
) -> SourceChoice:
    if requested not in SOURCES:
        raise ConfigError(f"Unknown source {requested!r}: use one of {', '.join(SOURCES)}.")
    if requested == "csv":
        if not csv_dir:
            raise ConfigError("The csv source needs a directory: pass --csv-dir DIR or set SENSEX_CSV_DIR.")
        return SourceChoice("csv", f"Importing CSV files from {csv_dir}.")
    if requested == "synthetic":
        return SourceChoice("synthetic", "Using the built-in SYNTHETIC market (not real prices).")
    online = yahoo_reachable()
    if requested == "yfinance":
        if not online:
            raise DataSourceError(
                "Yahoo Finance is unreachable (no network?): retry later, or use --source csv or synthetic."
            )
        return SourceChoice("yfinance", "Fetching from Yahoo Finance.")
    # auto
    if online:
        return SourceChoice("yfinance", "Online: fetching from Yahoo Finance.")
    if stored_source == "synthetic":
        return SourceChoice(
            "synthetic", "Offline: extending the stored SYNTHETIC market (not real prices)."
        )
    if stored_source is not None:
        return SourceChoice(
            KEEP_STORE, f"Offline: Yahoo Finance is unreachable, using the stored {stored_source} data as it is."
        )
    return SourceChoice(
        "synthetic",
        "Offline: Yahoo Finance is unreachable and nothing is stored, so using the built-in"
        " SYNTHETIC market (not real prices).",
    )
