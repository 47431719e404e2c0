"""Ingestion (`sensex data update`): fetch from the chosen source and merge into the store, incrementally."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd

from sensex import calendar, store
from sensex.settings import Settings
from sensex.sources.auto import KEEP_STORE, choose_source
from sensex.universe import Universe

log = logging.getLogger(__name__)

DEFAULT_HISTORY_START = "2010-01-01"
OVERLAP_DAYS = 10  # refetch the last ~week so revised rows (late corrections) are caught
REAL_SOURCES = {"yfinance", "csv"}


def _fetch(source: str, universe: Universe, start, end, csv_dir, exchange: str = "BO",
           progress: Callable[[str, int | None, int | None], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Rows from one source plus a dict of per-symbol problems."""
    if source == "synthetic":
        from sensex.sources import synthetic

        return synthetic.generate(universe, start, end), {}
    if source == "yfinance":
        from sensex.sources import yahoo

        result = yahoo.fetch(universe, start, end, exchange=exchange)
        return result.frame, result.failed
    from sensex.sources import csv as csv_source

    # CSV files hold the whole history: they are imported whole and merged.
    imported = csv_source.load_directory(Path(csv_dir), universe, progress=progress)
    problems: dict[str, list] = {}
    for problem in imported.problems:
        problems.setdefault(problem["file"], []).append(problem)
    return imported.frame, problems


def update_store(
    settings: Settings,
    universe: Universe,
    source: str | None = None,
    csv_dir: str | Path | None = None,
    start: str | None = None,
    end: str | None = None,
    now: datetime | None = None,
    yahoo_reachable: Callable[[], bool] | None = None,
    exchange: str = "BO",
    progress: Callable[[str, int | None, int | None], None] | None = None,
) -> dict:
    """`progress(description, done, total)` hears each stage and, for CSV files, each file."""
    from sensex import dates, quality

    # No prices exist after the last completed session: a future --end would make the
    # synthetic market invent them and the store then call itself fresh.
    dates.check_order(start, end)
    if start:
        dates.check_not_future(start, "--start", now)
    if end:
        dates.check_not_future(end, "--end", now)
    progress = progress or (lambda description, done, total: None)

    source = source or settings.data_source
    csv_dir = csv_dir or settings.csv_dir
    if yahoo_reachable is None:
        from sensex.sources import yahoo

        yahoo_reachable = yahoo.is_reachable
    meta = store.read_meta(settings.store_dir)
    stored_source = meta.get("source") if meta else None
    choice = choose_source(source, stored_source, yahoo_reachable, str(csv_dir) if csv_dir else None)
    log.debug(choice.message)  # the CLI prints it; JSON output carries it as "message"

    existing = store.read_or_empty(settings.store_dir)
    end_ts = pd.Timestamp(end) if end else calendar.last_completed_session(now)
    rows_added = rows_revised = symbols_updated = 0
    problems: dict = {}
    replaced = False
    written_source = stored_source

    if choice.source != KEEP_STORE:
        # Synthetic and real prices never mix: switching kinds replaces the store.
        switching = stored_source is not None and (
            (stored_source == "synthetic") != (choice.source == "synthetic")
        )
        base = store.empty_frame() if switching else existing
        if start:
            fetch_start = pd.Timestamp(start)
        elif len(base) and choice.source != "csv":
            fetch_start = base["date"].max() - pd.Timedelta(days=OVERLAP_DAYS)
        else:
            fetch_start = pd.Timestamp(DEFAULT_HISTORY_START)
        progress({"csv": "Importing CSV files", "yfinance": "Downloading from Yahoo Finance"}.get(
            choice.source, "Generating the SYNTHETIC market"), None, None)
        fetched, problems = _fetch(choice.source, universe, fetch_start, end_ts, csv_dir, exchange, progress)
        if fetched.empty and len(existing):
            log.warning("The source returned nothing: the store is kept as it was.")
        else:
            merged, rows_added, rows_revised = store.merge(base, fetched)
            if rows_added or rows_revised:
                symbols_updated = int(fetched["symbol"].nunique())
            replaced = switching
            if rows_added or rows_revised or switching or not store.exists(settings.store_dir):
                progress("Writing the store", None, None)
                store.write(settings.store_dir, merged, choice.source)
                existing = merged
                written_source = choice.source
            else:
                store.touch_meta(settings.store_dir, checked_at=datetime.now().isoformat(timespec="seconds"))
    if existing.empty:
        from sensex.errors import DataSourceError

        raise DataSourceError("No data could be stored: check the source, or use --source synthetic.")

    progress("Checking data quality", None, None)
    report = quality.validate_data_quality(existing, universe, now=now, source=written_source)
    return {
        "source": written_source,
        "requested_source": source,
        "synthetic": written_source == "synthetic",
        "message": choice.message,
        "symbols_updated": symbols_updated,
        "rows_added": rows_added,
        "rows_revised": rows_revised,
        "replaced_store": replaced,
        "last_date": str(existing["date"].max().date()),
        "problems": problems,
        "quality": report,
    }
