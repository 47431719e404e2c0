"""`sensex train` and `sensex evaluate`: fitting and scoring models beside the baselines."""

from __future__ import annotations

import typer

from sensex.interfaces.cli.common import (
    DateOption,
    JsonOption,
    ModeOption,
    Progress,
    UniverseOption,
    app,
    command_settings,
    date_option,
    emit,
    writable_home,
)
from sensex.market import dates


@app.command()
def train(
    preset: str = typer.Option("quick", help="quick | full | path to a YAML config"),
    model: str = typer.Option("convlstm", help="convlstm | lstm | ensemble (ConvLSTM seeds + baselines, combined on validation)"),
    train_end: str | None = DateOption("--train-end", "Last session of the training window"),
    valid_end: str | None = DateOption("--valid-end", "Last session of the validation window"),
    test_end: str | None = DateOption("--test-end", "Last session of the test window"),
    universe: str | None = UniverseOption,
    mode: str = ModeOption,
    as_json: bool = JsonOption,
):
    """Train and evaluate a model; log the run to MLflow."""
    from sensex.jobs import commands

    dates.check_order(train_end, valid_end, "--train-end", "--valid-end")
    dates.check_order(valid_end, test_end, "--valid-end", "--test-end")
    with Progress(as_json) as progress:
        progress("Reading the store", None, None)
        result = commands.train(writable_home(universe), preset, model, train_end, valid_end, test_end, None, mode,
                                progress=progress)
    m = result["metrics"]
    lines = [
        f"Run {result['run_id']} ({result['model']}, {result['mode']} mode, {result['preset']}, {result['seconds']} s)"
        f"{' on SYNTHETIC data' if result['synthetic'] else ''}; test {result['segments']['test'][0]}..{result['segments']['test'][1]} (n={m['test_n']}, UP share {m['test_up_share']:.3f})",
        f"  {'model':<10} accuracy {m['test_accuracy']:.3f}  AUC {m['test_auc']:.3f}  Brier {m['test_brier']:.4f}",
    ]
    for name, b in result["baselines"].items():
        lines.append(f"  {name:<10} accuracy {b['accuracy']:.3f}  AUC {b['auc']:.3f}  Brier {b['brier']:.4f}")
    uncertainty = result.get("uncertainty") or {}
    if uncertainty:
        lines.append(f"  skill {uncertainty['skill']['skill']} ({uncertainty['skill']['reason']}); 90% interval"
                     f" half-width {uncertainty['half_width']:.3f}, test coverage {uncertainty['test_coverage']:.3f},"
                     f" no calls {uncertainty['test_no_call_share']:.0%}")
    lines.append(_after_open_line(result["metrics_after_open"]))
    flag = "" if result["mode"] == "close" else f" --mode {result['mode']}"
    lines.append(f"Next: `sensex registry setup{flag}` registers it and promotes the best version that passes the gate.")
    emit(result, as_json, "\n".join(lines))


@app.command()
def evaluate(
    start: str = typer.Option(..., help="First session to score (YYYY-MM-DD).", callback=date_option("--start")),
    end: str = typer.Option(..., help="Last session to score (YYYY-MM-DD).", callback=date_option("--end")),
    run_id: str | None = typer.Option(None, "--run-id"),
    version: str | None = typer.Option(None, "--version"),
    walk_forward: bool = typer.Option(False, "--walk-forward", help="Refit every N months before each block instead of scoring one model."),
    preset: str = typer.Option("walkforward", help="Config for --walk-forward (quick, full, walkforward or a YAML file)."),
    model: str = typer.Option("convlstm", help="Model for --walk-forward: convlstm | lstm | ensemble"),
    refit_months: int | None = typer.Option(None, "--refit-months", help="Block length for --walk-forward (default from the preset)."),
    universe: str | None = UniverseOption,
    mode: str = ModeOption,
    as_json: bool = JsonOption,
):
    """Score a trained model on any stored range, or walk forward over it, beside the baselines."""
    from sensex.jobs import commands

    dates.check_order(start, end)

    if walk_forward:
        result = commands.walk_forward(command_settings(universe), start, end, preset, model, refit_months, mode=mode)
        head = (f"Walk-forward {result['model']} ({result['preset']}, refit every {result['refit_months']} months)"
                f" on {result['start']}..{result['end']} (n={result['n']}){' on SYNTHETIC data' if result['synthetic'] else ''}, run {result['run_id']}")
    else:
        result = commands.evaluate(command_settings(universe), start, end, run_id, version, mode)
        head = (f"Run {result['run_id']} ({result['mode']} mode) on {result['start']}..{result['end']} (n={result['n']},"
                f" {result['overlaps_training_rows']} rows inside its training window)")
    m = result["metrics"]
    lines = [head, f"  {'model':<10} accuracy {m['accuracy']:.3f}  AUC {m['auc']:.3f}  Brier {m['brier']:.4f}"]
    for name, b in result["baselines"].items():
        lines.append(f"  {name:<10} accuracy {b['accuracy']:.3f}  AUC {b['auc']:.3f}  Brier {b['brier']:.4f}")
    if "metrics_after_open" in result:
        lines.append(_after_open_line(result["metrics_after_open"]))
    emit(result, as_json, "\n".join(lines))


def _after_open_line(m: dict) -> str:
    return (f"  after the open (close > open of the target session): accuracy {m['accuracy']:.3f}"
            f"  AUC {m['auc']:.3f}  Brier {m['brier']:.4f}")
