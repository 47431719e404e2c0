"""`sensex backtest`: what trading the out-of-sample forecasts would have made, after costs,
beside buy-and-hold and always-long on the same sessions (`sensex.backtest.run`)."""

from __future__ import annotations

import typer

from sensex.interfaces.cli.common import DateOption, JsonOption, ModeOption, UniverseOption, app, emit, writable_home
from sensex.market import dates


@app.command()
def backtest(
    mode: str = ModeOption,
    start: str | None = DateOption("--start", "First forecast session to trade (default: the first stored)"),
    end: str | None = DateOption("--end", "Last forecast session to trade (default: the last stored)"),
    rule: str = typer.Option("long_flat", "--rule", help="long_flat | long_short | threshold:X | skip_no_call |"
                             " vol_target[:V], modifiers joined by '+' (e.g. long_short+skip_no_call)."),
    costs: str | None = typer.Option(None, "--costs", help="YAML file of dated costs (default: the shipped"
                                     " sensex/backtest/costs.yaml)."),
    instrument: str | None = typer.Option(None, "--instrument", help="futures (SENSEX index futures, default) | etf"
                                          " (index ETF held for delivery), or another key of the costs file."),
    walk_forward: bool = typer.Option(False, "--walk-forward", help="Trade the walk-forward's stored forecasts (the"
                                      " default source; `sensex evaluate --walk-forward` stores them)."),
    refit_months: int | None = typer.Option(None, "--refit-months", help="With --walk-forward: the walk-forward refit"
                                            " every N months (default: the one stored last)."),
    version: str | None = typer.Option(None, "--version", help="Trade a registered version's forecasts on sessions"
                                       " after its validation window instead."),
    zero_costs: bool = typer.Option(False, "--zero-costs", help="Every charge and the slippage at zero (lots kept)."),
    universe: str | None = UniverseOption,
    as_json: bool = JsonOption,
):
    """Trade a rule on out-of-sample forecasts, after costs, beside buy-and-hold; log the run to MLflow."""
    from sensex.backtest.run import backtest as run_backtest
    from sensex.backtest.run import text_report

    dates.check_order(start, end)
    result = run_backtest(writable_home(universe), mode, start, end, rule, costs, walk_forward, refit_months, version,
                          instrument, zero_costs)
    emit(result, as_json, f"{text_report(result)}\nRun {result['run_id']} logged to MLflow (evaluation=backtest).")
