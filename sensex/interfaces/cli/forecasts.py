"""`sensex predict`, `sensex market` and `sensex daily`: forecasts and the day's job."""

from __future__ import annotations

import typer

from sensex.interfaces.cli.common import (
    DateOption,
    JsonOption,
    ModeOption,
    UniverseOption,
    app,
    command_settings,
    emit,
    get_settings,
    writable_home,
)
from sensex.market import dates


@app.command()
def predict(as_of: str | None = DateOption("--as-of", "Forecast from this stored session instead of the latest"),
            mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Next-session forecast from the production model of the mode."""
    from sensex.data import store
    from sensex.serving.model_server import ModelServer

    settings = command_settings(universe)
    if as_of is not None:
        meta = store.read_meta(settings.store_dir) or {}
        dates.check_as_of(as_of, meta.get("first_date"), meta.get("last_date"))
    server = ModelServer(settings, mode=mode)
    forecast = server.predict(as_of)
    version = forecast["model_version"]
    source = f"BASELINE {version.split(':', 1)[1]}, no model passed the gate" if version.startswith("baseline:") else f"model v{version}"
    human = (
        f"{'[SYNTHETIC DATA] ' if forecast['synthetic'] else ''}{server.universe.name} {forecast['target_date']}: {call_text(forecast)}"
        f" P(UP)={forecast['probability']:.3f} interval {forecast['interval'][0]:.3f}-{forecast['interval'][1]:.3f}"
        f" skill {forecast['skill']}, confidence {forecast['confidence']},"
        f" risk {forecast['risk']}"
        f" ({source}, {forecast['mode']} mode, data to {forecast['as_of']}"
        f"{', S&P 500 to ' + forecast['last_sp500_session'] if forecast['last_sp500_session'] else ''}"
        f"{', STALE' if forecast['stale'] else ''})\n{forecast['note']}"
    )
    if forecast.get("as_of_notice"):
        human = f"{forecast['as_of_notice']}\n{human}"
    if forecast.get("data_warning"):  # first: it says what every figure below is worth
        human = f"{forecast['data_warning']}\n{human}"
    move = forecast.get("expected_move")
    if move:
        human += (f"\nExpected move ±{move['pct']:.2f}% (about {move['points']:,.0f} points); 80% band for the"
                  f" {forecast['target_date']} close {move['range_low']:,.0f}-{move['range_high']:,.0f}; risk"
                  f" {forecast['risk']} (percentile {forecast['risk_percentile']:.0f} of its training window, realized"
                  f" {forecast['realized_risk']}). How far, never which way.")
    if forecast.get("logged") is False and not forecast.get("cached"):
        human += "\nThis forecast was not written to the prediction log (see the warning above)."
    emit(forecast, as_json, human)


@app.command()
def market(universe: str | None = typer.Option(None, help="Universe CSV (default: SENSEX members)."),
           as_json: bool = JsonOption):
    """Is BSE open now? The market clock, the live SENSEX when online, the last stored close."""
    from sensex.data.market_status import market_status, render
    from sensex.market.universe import load_universe

    status = market_status(get_settings(), load_universe(universe))
    emit(status, as_json, render(status))


@app.command()
def daily(alerts: str | None = typer.Option(None, "--alerts", help="Alerts file (default: $SENSEX_HOME/alerts.yaml when it exists)."),
          date: str | None = typer.Option(None, "--date", help="Run for this date as if after its close (default: now, IST)."),
          universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """The cron job for one trading day: update, outcomes, drift, retrain when due, forecast, alerts."""
    from sensex.core.errors import DailyJobFailed
    from sensex.jobs.daily import render, run_daily

    summary = run_daily(writable_home(universe), alerts_path=alerts, day=date)  # it writes its record
    emit(summary, as_json, render(summary))
    if summary["status"] == "failed":
        raise DailyJobFailed(summary["message"])


def call_text(forecast: dict) -> str:
    """UP, DOWN, or NO CALL with the side it leans to: a no call is never printed as a direction."""
    return f"NO CALL (leans {forecast['direction']})" if forecast.get("no_call") else forecast["direction"]
