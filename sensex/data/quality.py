"""Data-quality report of an OHLCV frame: `validate_data_quality` (the original design's name), with detail.

Every finding is `{kind, count, first, last, action, detail}`: `count` is the number of rows
(sessions) concerned, `first`/`last` their earliest and latest dates (ISO), `action` what the
project does about it. Findings describe the frame as given; validity is judged on the frame
after `sensex.features.dataset.repair`, which is what features and models read.

Repaired (`repair` drops the rows; the gap they leave is a missing session, which the feature
builder masks rather than fills):
- `duplicates`: several rows for one (symbol, date); the last one wins (Yahoo appends revisions).
- `non_monotonic_dates`: a row dated before the row above it; sorting fixes it.
- `filler_rows`: member rows with volume 0 and Open = High = Low = Close. Yahoo writes them on
  holidays and stale days, often with a wrong (unadjusted) price that fakes a one-day spike.
  For the index they are only a warning and kept (its volume is 0 for years before mid-2003).
- `missing_values`, `non_positive_prices`: a row without a usable price carries no information.

Exclude a symbol (it is not `valid`, and readiness counts only valid members):
- `no_data`: the symbol is in the universe but has no row;
- `insufficient_history`: fewer than `MIN_SESSIONS` (30) usable rows after repair;
- `lagging`: its last usable row is more than `LAG_SESSIONS` (30) sessions before the index's
  last row (delisted, suspended or no longer updated).

Warn only (the rows stay; they are real prices or cannot be told from real prices):
- `high_low_inconsistent`: High below max(Open, Close, Low) or Low above min(Open, Close, High)
  (relative tolerance `HIGH_LOW_TOLERANCE`); common in Yahoo's data before 2002.
- `stale_stretch`: the close unchanged for at least `STALE_STRETCH_SESSIONS` (5) rows in a row
  (moves and stretches are judged on rows with usable prices, filler rows included).
- `extreme_move`: |close / previous close - 1| > `EXTREME_MOVE` (40%) that no split explains.
  A move is split-like when the ratio (or its inverse) is within `SPLIT_TOLERANCE` (3%) of a
  simple split or bonus factor (2, 3, 4, 5, 10, 3/2, 5/2: 1/2, 1/5, 1/10, 2/3, ...) AND the
  price holds both levels: each of the `SPLIT_HOLD_SESSIONS` (10) closes before the jump stays
  within `SPLIT_HOLD_BAND` (25%) of the old close, and each of the 10 after it within 25% of
  the new close. A spike that reverts, and the reversal of such a spike, are never splits.
- `split_like_move`: a move beyond 40% that the split rule explains. Prices are meant to be
  split-adjusted, so it is still shown: it may be an unadjusted split (a fake return for the
  model) or a level change a split cannot be told from without corporate-action data.
- `missing_sessions`: BSE sessions (`sensex.market.calendar`) between a symbol's first and last row
  with no row in the frame as given (rows that `repair` drops leave further gaps). Rows on
  dates the calendar does not list (muhurat sessions on Diwali, other special sessions) are
  not errors and are not reported. Before 1997 the calendar is weekdays, so holidays of that
  era show up here. A context series (`sensex.market.context`, e.g. the S&P 500) is checked against
  its own exchange's calendar (XNYS), on its own local dates.
- `zero_volume_index`: index rows with volume 0.

Status: `invalid` when not ready (the index is not valid, or fewer than 25 of 30 members are:
the original design's rule, scaled as ceil(n * 25 / 30) for a universe of n members); `degraded` when ready
but stale, or some members are invalid, or the calendar is past its recorded range; `valid`
otherwise. Stale means the index's last usable session is older than the last completed BSE
session (`calendar.last_completed_session(now)`).
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from sensex.core.advice import update_advice
from sensex.data.quality_checks import (
    ACTIONS,
    EXCLUDES,
    HIGH_LOW_TOLERANCE,
    LAG_SESSIONS,
    MIN_SESSIONS,
    VALID_FRACTION,
    WARNS,
    extreme_moves,
    filler_rows,
    iso,
    make_finding,
    missing_sessions,
    per_symbol,
    sorted_rows,
    stale_stretches,
    thresholds,
    unusable_rows,
)
from sensex.market import calendar, context, exchanges
from sensex.market.schema import COLUMNS
from sensex.market.universe import Universe


def _analyse(frame: pd.DataFrame, universe: Universe) -> tuple[dict[str, list[dict]], pd.DataFrame]:
    """Findings per symbol, and the repaired frame they were judged on."""
    issues: dict[str, list[dict]] = {}
    given = frame[COLUMNS]

    previous = given.groupby("symbol", sort=False)["date"].shift()
    backwards = given["date"] < previous
    per_symbol(issues, "non_monotonic_dates", given["date"][backwards], given["symbol"][backwards])

    ordered = sorted_rows(given)
    duplicated = ordered.duplicated(["symbol", "date"], keep="last")
    per_symbol(issues, "duplicates", ordered["date"][duplicated], ordered["symbol"][duplicated])
    data = ordered[~duplicated].reset_index(drop=True)

    is_index = data["symbol"] == universe.index_symbol
    missing, non_positive = unusable_rows(data)
    filler = filler_rows(data)
    low_side = data[["open", "close", "high"]].min(axis=1)
    high_side = data[["open", "close", "low"]].max(axis=1)
    inconsistent = (data["high"] < high_side * (1 - HIGH_LOW_TOLERANCE)) | (
        data["low"] > low_side * (1 + HIGH_LOW_TOLERANCE)
    )
    for kind, mask in (
        ("missing_values", missing),
        ("non_positive_prices", non_positive),
        ("filler_rows", filler),
        ("high_low_inconsistent", inconsistent),
        ("zero_volume_index", is_index & (data["volume"] == 0)),
    ):
        per_symbol(issues, kind, data["date"][mask], data["symbol"][mask])
    for finding in issues.get(universe.index_symbol, []):
        if finding["kind"] == "filler_rows":
            finding["action"] = WARNS  # the index keeps them: see the module docstring

    # Moves and stretches are judged on priced rows: a missing or zero price is its own finding.
    priced = data[~(missing | non_positive)]
    stale_stretches(priced, issues)
    extreme_moves(priced, issues)
    days = missing_sessions(data, issues, universe.exchange)

    usable = data[~((filler & ~is_index) | missing | non_positive)]
    _exclusions(usable, universe, days, issues)
    for findings in issues.values():
        findings.sort(key=lambda f: list(ACTIONS).index(f["kind"]))
    return issues, usable.reset_index(drop=True)


def _exclusions(
    usable: pd.DataFrame, universe: Universe, days: np.ndarray, issues: dict[str, list[dict]]
) -> None:
    spans = usable.groupby("symbol")["date"].agg(["size", "min", "max"])
    index_last = (
        spans.loc[universe.index_symbol, "max"]
        if universe.index_symbol in spans.index
        else (usable["date"].max() if not usable.empty else None)
    )
    for name in dict.fromkeys([*universe.all_symbols, *spans.index]):
        if name not in spans.index:
            detail = "no usable row: fetch or import this symbol."
            issues.setdefault(name, []).append(make_finding("no_data", 0, None, None, detail))
            continue
        size, first, last = spans.loc[name]
        if size < MIN_SESSIONS:
            detail = f"only {size} usable rows; at least {MIN_SESSIONS} are needed."
            issues.setdefault(name, []).append(
                make_finding("insufficient_history", size, first, last, detail)
            )
        if index_last is not None and last < index_last:
            behind_from, behind_to = np.searchsorted(
                days, [pd.Timestamp(last).value, pd.Timestamp(index_last).value], side="right"
            )
            behind = int(behind_to - behind_from)
            if behind > LAG_SESSIONS:
                detail = (
                    f"last usable row {iso(last)} is {behind} sessions before the index's"
                    f" {iso(index_last)}; update or drop this symbol."
                )
                issues.setdefault(name, []).append(
                    make_finding("lagging", behind, pd.Timestamp(days[behind_from]), index_last, detail)
                )


def find_issues(frame: pd.DataFrame, universe: Universe) -> dict[str, list[dict]]:
    """Findings per symbol (universe symbols and any other symbol in `frame`).

    Each finding is `{kind, count, first, last, action, detail}`; symbols without findings
    map to an empty list.
    """
    issues, _ = _analyse(frame, universe)
    names = dict.fromkeys([*universe.all_symbols, *frame["symbol"].unique()])
    return {name: issues.get(name, []) for name in names}


def _context_entry(series: context.ContextSeries, entry: dict, usable_last: object, bse_last: object) -> dict:
    """A context series' report: its rows and findings, and whether a pre-open forecast of the
    BSE session after the store's last one has the close it needs. It never changes `status`:
    the close mode does not read it."""
    needed = None
    if bse_last is not None and not pd.isna(bse_last):
        needed = context.last_session_before(series, calendar.next_session(bse_last))
    reason = None
    if not entry["rows"]:
        reason = (
            f"No {series.name} ({series.yahoo}) rows are stored: pre-open forecasts need them;"
            f" {update_advice()} with {series.file_names[0]} in DIR."
        )
    elif not entry["valid"]:
        reason = f"The {series.name} rows are not usable ({', '.join(entry['excluded_by'])}): fetch or import {series.yahoo} again."
    elif needed is not None and pd.Timestamp(usable_last) < needed:
        reason = (
            f"The {series.name} data ends on {iso(usable_last)} but the pre-open forecast of the next BSE"
            f" session needs its close of {iso(needed)}: {update_advice()} with a newer {series.file_names[0]} in DIR."
        )
    return {
        **entry,
        "name": series.name,
        "yahoo": series.yahoo,
        "calendar": series.calendar,
        "needed_last_date": iso(needed),
        "pre_open_ready": reason is None,
        "reason": reason,
    }


def validate_data_quality(
    frame: pd.DataFrame,
    universe: Universe,
    now: datetime | None = None,
    source: str | None = None,
) -> dict:
    """The quality report (`status`, `readiness`, `statistics`), with per-symbol detail."""
    # One home holds several universes: each report judges its own members, index and the
    # context series, never another universe's rows.
    stored_symbols = frame["symbol"].unique()
    frame = frame[frame["symbol"].isin([*universe.all_symbols, *(s.symbol for s in context.CONTEXT_SERIES)])]
    issues, usable = _analyse(frame, universe)
    given = frame.groupby("symbol")["date"].agg(["size", "min", "max"])
    kept = usable.groupby("symbol")["date"].agg(["size", "max"])

    def entry(name: str) -> dict:
        findings = issues.get(name, [])
        excluded = [f["kind"] for f in findings if f["action"] == EXCLUDES]
        return {
            "rows": int(given.loc[name, "size"]) if name in given.index else 0,
            "usable_rows": int(kept.loc[name, "size"]) if name in kept.index else 0,
            "first": iso(given.loc[name, "min"]) if name in given.index else None,
            "last": iso(given.loc[name, "max"]) if name in given.index else None,
            "valid": not excluded,
            "excluded_by": excluded,
            "issues": findings,
        }

    symbols = {name: entry(name) for name in universe.all_symbols}
    members = universe.symbols
    valid_members = [s for s in members if symbols[s]["valid"]]
    required = math.ceil(len(members) * VALID_FRACTION - 1e-9)
    index_valid = symbols[universe.index_symbol]["valid"]
    readiness = bool(index_valid and len(valid_members) >= required)

    if universe.index_symbol in kept.index:
        last_date = kept.loc[universe.index_symbol, "max"]
    else:
        last_date = usable["date"].max() if not usable.empty else None
    now = now or calendar.now_ist()
    expected = exchanges.last_completed_session(universe.exchange, now)
    stale = last_date is None or pd.Timestamp(last_date) < expected
    # The calendar answered for the stored dates too: a store reaching past the recorded range
    # (synthetic data extended ahead, or simply a later year) is judged on its own dates.
    today = pd.Timestamp(now.astimezone(calendar.IST).date())
    calendar_info = calendar.calendar_status(max(today, pd.Timestamp(last_date)) if last_date is not None else today)

    warnings: list[str] = []
    if not index_valid:
        warnings.append(
            f"The {universe.index_symbol} index is not usable"
            f" ({', '.join(symbols[universe.index_symbol]['excluded_by'])}): fetch or import it."
        )
    invalid = [s for s in members if not symbols[s]["valid"]]
    if invalid:
        reasons = ", ".join(f"{s} ({'/'.join(symbols[s]['excluded_by'])})" for s in invalid[:10])
        more = f" and {len(invalid) - 10} more" if len(invalid) > 10 else ""
        warnings.append(
            f"{len(invalid)} of {len(members)} members are not valid: {reasons}{more};"
            f" at least {required} valid members are needed."
        )
    if stale:
        warnings.append(
            f"The data ends on {iso(last_date) or 'no date'} but the last completed BSE session"
            f" is {iso(expected)}: {update_advice()}."
        )
    if calendar_info.get("fallback") and calendar_info.get("message"):
        warnings.append(calendar_info["message"])
    context_report = {
        series.symbol: _context_entry(
            series, entry(series.symbol), kept["max"].get(series.symbol), last_date
        )
        for series in context.CONTEXT_SERIES
    }
    for series_report in context_report.values():
        if series_report["rows"] and series_report["reason"]:
            warnings.append(series_report["reason"])  # stored but not usable: worth a warning

    if not readiness:
        status = "invalid"
    elif stale or invalid or calendar_info.get("fallback"):
        status = "degraded"
    else:
        status = "valid"

    issue_counts: dict[str, int] = {}
    for findings in issues.values():
        for finding in findings:
            issue_counts[finding["kind"]] = issue_counts.get(finding["kind"], 0) + finding["count"]
    known = set(universe.all_symbols)
    return {
        "status": status,
        "readiness": readiness,
        "source": source,
        "last_date": iso(last_date),
        "expected_last_date": iso(expected),
        "stale": bool(stale),
        "checked_at": now.isoformat(timespec="seconds"),
        "calendar": calendar_info,
        "warnings": warnings,
        "statistics": {
            "valid_symbols": len(valid_members),
            "total_symbols": len(members),
            "required_valid_symbols": required,
            "data_coverage": round(100.0 * len(valid_members) / len(members), 1)
            if members
            else 0.0,
            "index_valid": bool(index_valid),
            "rows": len(frame),
            "usable_rows": len(usable),
            "issue_counts": issue_counts,
        },
        "symbols": symbols,
        "context": context_report,
        # Stored but not in this universe (another universe's, or a stray import): listed, not judged.
        "unknown_symbols": sorted(s for s in stored_symbols if s not in known and not context.is_context(s)),
        "thresholds": thresholds(),
    }
