"""Ingestion (`sensex data update`): fetch from the chosen source and merge into the store, incrementally."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd

from sensex.core.settings import Settings
from sensex.data import store
from sensex.data.sources.auto import KEEP_STORE, choose_source
from sensex.market import context, exchanges
from sensex.market.universe import Universe

log = logging.getLogger(__name__)

DEFAULT_HISTORY_START = "2010-01-01"
OVERLAP_DAYS = 10  # refetch the last ~week so revised rows (late corrections) are caught
REAL_SOURCES = {"yfinance", "csv"}
CONTEXT_SYMBOLS = [series.symbol for series in context.CONTEXT_SERIES]  # stored beside the universe


def _backfill_context(source: str, universe: Universe, base: pd.DataFrame, end, exchange: str) -> tuple[pd.DataFrame, dict]:
    """Whole history of context series a store made before they existed lacks; the incremental
    fetch would only bring their last few days. Problems are reported, never fatal."""
    missing = [s for s in CONTEXT_SYMBOLS if s not in set(base["symbol"].unique())]
    if not missing or base.empty or source not in ("yfinance", "synthetic"):
        return store.empty_frame(), {}
    first = base["date"].min()
    if source == "synthetic":
        from sensex.data.sources import synthetic

        rows = synthetic.generate(universe, first, end, with_context=True)
        return rows[rows["symbol"].isin(missing)], {}
    from sensex.core.errors import DataSourceError
    from sensex.data.sources import yahoo

    try:
        result = yahoo.fetch(universe, first, end, exchange=exchange, symbols=missing)
    except DataSourceError as exc:
        return store.empty_frame(), {symbol: str(exc) for symbol in missing}
    return result.frame, result.failed


def _fetch(source: str, universe: Universe, start, end, csv_dir, exchange: str = "BO",
           progress: Callable[[str, int | None, int | None], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Rows from one source plus a dict of per-symbol problems."""
    if source == "synthetic":
        from sensex.data.sources import synthetic

        return synthetic.generate(universe, start, end, with_context=True), {}
    if source == "yfinance":
        from sensex.data.sources import yahoo

        result = yahoo.fetch(universe, start, end, exchange=exchange, symbols=[*universe.all_symbols, *CONTEXT_SYMBOLS])
        return result.frame, result.failed
    from sensex.data.sources import csvfiles

    # CSV files hold the whole history: they are imported whole and merged.
    imported = csvfiles.load_directory(Path(csv_dir), universe, progress=progress)
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
    exchange: str | None = None,
    progress: Callable[[str, int | None, int | None], None] | None = None,
    replace: bool = False,
) -> dict:
    """`progress(description, done, total)` hears each stage and, for CSV files, each file.
    `replace`: allow synthetic prices to replace stored real ones (refused otherwise).
    `exchange`: the members' Yahoo listing, BO or NS (default: the universe's, NS for an NSE index)."""
    from sensex.data import quality
    from sensex.market import dates

    # No prices exist after the last completed session: a future --end would make the
    # synthetic market invent them and the store then call itself fresh.
    dates.check_order(start, end)
    if start:
        dates.check_not_future(start, "--start", now)
    if end:
        dates.check_not_future(end, "--end", now)
    progress = progress or (lambda description, done, total: None)
    exchange = exchange or universe.yahoo_exchange

    source = source or settings.data_source
    csv_dir = csv_dir or settings.csv_dir
    if yahoo_reachable is None:
        from sensex.data.sources import yahoo

        yahoo_reachable = yahoo.is_reachable
    meta = store.read_meta(settings.store_dir)
    stored_source = meta.get("source") if meta else None
    choice = choose_source(source, stored_source, yahoo_reachable, str(csv_dir) if csv_dir else None)
    log.debug(choice.message)  # the CLI prints it; JSON output carries it as "message"

    existing = store.read_or_empty(settings.store_dir)
    end_ts = pd.Timestamp(end) if end else exchanges.last_completed_session(universe.exchange, now)
    # Whatever `now` a caller passes (the daily job's --date, a test's clock), never a session
    # after the last one completed by the real clock: no prices exist for it.
    end_ts = min(end_ts, exchanges.last_completed_session(universe.exchange))
    rows_added = rows_revised = symbols_updated = 0
    problems: dict = {}
    replaced = False
    written_source = stored_source

    if choice.source != KEEP_STORE:
        # Synthetic and real prices never mix: switching kinds replaces the store.
        switching = stored_source is not None and (
            (stored_source == "synthetic") != (choice.source == "synthetic")
        )
        if switching and choice.source == "synthetic" and not replace:
            from sensex.core.errors import ConfigError

            span = f", {meta.get('first_date')} to {meta.get('last_date')}" if meta else ""
            raise ConfigError(
                f"The store holds real prices ({stored_source}{span}): the synthetic market would replace them"
                " with invented ones; pass --replace to do so, or import newer real prices with --source csv.")
        base = store.empty_frame() if switching else existing
        if start:
            fetch_start = pd.Timestamp(start)
        elif len(ours := base[base["symbol"].isin(universe.all_symbols)]) and choice.source != "csv":
            # Incremental from this universe's own rows: another universe's newer rows (one home holds
            # several) must not make a universe whose members are new fetch only the last week.
            newest = ours.groupby("symbol")["date"].max()
            complete = set(universe.all_symbols) <= set(newest.index)
            fetch_start = (newest.min() - pd.Timedelta(days=OVERLAP_DAYS) if complete
                           else pd.Timestamp(DEFAULT_HISTORY_START))
        else:
            fetch_start = pd.Timestamp(DEFAULT_HISTORY_START)
        progress({"csv": "Importing CSV files", "yfinance": "Downloading from Yahoo Finance"}.get(
            choice.source, "Generating the SYNTHETIC market"), None, None)
        fetched, problems = _fetch(choice.source, universe, fetch_start, end_ts, csv_dir, exchange, progress)
        if not start:
            backfill, backfill_problems = _backfill_context(choice.source, universe, base, end_ts, exchange)
            fetched = pd.concat([fetched, backfill], ignore_index=True) if len(backfill) else fetched
            problems = {**problems, **backfill_problems}
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
        from sensex.core.errors import DataSourceError

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
        "last_date": store.last_session(existing),
        "problems": problems,
        "quality": report,
    }
