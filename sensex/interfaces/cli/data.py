"""`sensex data update` and `sensex data status`: the store."""

from __future__ import annotations

import typer

from sensex.core.errors import ConfigError
from sensex.interfaces.cli.common import (
    DateOption,
    JsonOption,
    Progress,
    UniverseOption,
    command_settings,
    data_app,
    emit,
    writable_home,
)
from sensex.market import dates


@data_app.command("update")
def data_update(
    source: str | None = typer.Option(None, help="auto | yfinance | csv | synthetic (default: SENSEX_DATA_SOURCE or auto)"),
    csv_dir: str | None = typer.Option(None, "--csv-dir", help="Directory of per-symbol CSV files (csv source)."),
    start: str | None = DateOption("--start", "First date to fetch (default: incremental)"),
    end: str | None = DateOption("--end", "Last date to fetch (default: last completed session)"),
    universe: str | None = UniverseOption,
    exchange: str | None = typer.Option(None, help="Yahoo listing: BO (BSE) or NS (NSE); default: the universe's exchange."),
    replace: bool = typer.Option(False, "--replace", help="Let synthetic prices replace stored real ones."),
    as_json: bool = JsonOption,
):
    """Fetch or import prices into the store, incrementally."""
    if exchange is not None and exchange.upper() not in ("BO", "NS"):
        raise ConfigError(f"Unknown exchange {exchange!r}: use BO (BSE) or NS (NSE).")
    dates.check_order(start, end)
    from sensex.data.ingest import update_store
    from sensex.market.universe import load_universe
    from sensex.serving.data_match import production_warning

    with Progress(as_json) as progress:
        settings = writable_home(universe)
        chosen = load_universe(settings.universe)
        result = update_store(settings, chosen, source, csv_dir, start, end,
                              exchange=exchange.upper() if exchange else None, progress=progress, replace=replace)
    # After a --replace the store may hold another kind of prices than the production models learnt from.
    result["model_warning"] = production_warning(settings, chosen)
    if result["rows_added"] or result["rows_revised"] or result["replaced_store"]:
        from sensex.serving.latest_windows import prepare_latest_windows

        # Running servers then read the new session's inputs instead of computing them.
        prepare_latest_windows(settings)
    quality = result["quality"]
    human = (
        f"{result['message']}\nStore: {result['rows_added']} rows added, {result['rows_revised']} revised,"
        f" last session {result['last_date']}, source {result['source']}"
        f"{' (SYNTHETIC prices, not real)' if result['synthetic'] else ''}; quality {quality['status']}"
        f" ({quality['statistics']['valid_symbols']}/{quality['statistics']['total_symbols']} members valid)."
    )
    if result["model_warning"]:
        human += f"\n{result['model_warning']}"
    emit(result, as_json, human)


@data_app.command("status")
def data_status(universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Data-quality report of the store."""
    from sensex.jobs import commands

    report = commands.data_status(command_settings(universe))
    stats = report["statistics"]
    lines = [
        f"Status {report['status']} (ready: {report['readiness']}), source {report['source']}"
        f"{' SYNTHETIC' if report.get('synthetic') else ''}, last session {report['last_date']}, stale: {report['stale']}",
        f"Valid members {stats['valid_symbols']}/{stats['total_symbols']} ({stats['data_coverage']}% coverage)",
    ]
    if report.get("calendar", {}).get("message"):
        lines.append(report["calendar"]["message"])
    for entry in report.get("context", {}).values():
        lines.append(f"{entry['name']} ({entry['yahoo']}, {entry['calendar']}): last {entry['last'] or 'none'};"
                     f" {'pre-open forecasts ready' if entry['pre_open_ready'] else entry['reason']}")
    for symbol, detail in report["symbols"].items():
        for issue in detail.get("issues", []):
            lines.append(f"  {symbol}: {issue['kind']} x{issue['count']} ({issue['first']} .. {issue['last']})")
    emit(report, as_json, "\n".join(lines))
