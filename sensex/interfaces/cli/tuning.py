"""`sensex tune`: Ray Tune over a preset's hyper-parameters, scored on the validation window only."""

from __future__ import annotations

import typer

from sensex.interfaces.cli.common import (
    DateOption,
    JsonOption,
    ModeOption,
    Progress,
    RayAddressOption,
    UniverseOption,
    app,
    emit,
    use_ray_address,
    writable_home,
)
from sensex.market import dates


@app.command()
def tune(
    preset: str = typer.Option("quick", help="The preset to tune: quick | full | walkforward | path to a YAML config"),
    model: str = typer.Option("convlstm", help="convlstm | lstm | ensemble (the ensemble also tunes its number of seeds)"),
    trials: int = typer.Option(8, "--trials", help="Configurations to try; the first is the preset itself."),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Stop starting trials after this many minutes."),
    output: str = typer.Option("tuned.yaml", "--output", help="Where the best configuration is written, as a preset file."),
    seed: int | None = typer.Option(None, "--seed", help="The search's and the fits' seed (default: the preset's train.seed)."),
    train_end: str | None = DateOption("--train-end", "Last session of the training window"),
    valid_end: str | None = DateOption("--valid-end", "Last session of the validation window (the trials' score)"),
    test_end: str | None = DateOption("--test-end", "Last session of the test window (never read)"),
    universe: str | None = UniverseOption,
    mode: str = ModeOption,
    ray_address: str | None = RayAddressOption,
    as_json: bool = JsonOption,
):
    """Tune a preset with Ray Tune (Optuna TPE, ASHA early stopping) on the validation window; write the best as a preset."""
    from sensex.jobs import tuning

    dates.check_order(train_end, valid_end, "--train-end", "--valid-end")
    dates.check_order(valid_end, test_end, "--valid-end", "--test-end")
    use_ray_address(ray_address)
    with Progress(as_json) as progress:
        progress("Reading the store", None, None)
        result = tuning.tune(writable_home(universe), preset, model, mode, None, trials, time_budget, output, seed,
                             train_end, valid_end, test_end, progress=progress)
    lines = [f"Tuned {result['preset']} for {result['model']} ({result['universe']}, {result['mode']} mode) on"
             f" {result['where']} in {result['seconds']:.0f} s; MLflow run {result['run_id']} (a child run per trial).",
             f"Scored on validation {result['validation'][0]}..{result['validation'][1]} (n={result['validation_n']}):"
             " cross-fitted log-loss (lower is better); the test window was never read.",
             "| trial | parameters | log-loss | AUC | status |", "|---|---|---|---|---|"]
    for row in result["trials"]:
        params = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items())
        score = "-" if row["valid_log_loss"] is None else f"{row['valid_log_loss']:.4f}"
        auc = "-" if row["valid_auc"] is None else f"{row['valid_auc']:.3f}"
        lines.append(f"| {row['trial']}{' (preset)' if row['preset'] else ''} | {params} | {score} | {auc} | {row['status']} |")
    best = result["best"]
    lines.append(f"Best: trial {best['trial']} (log-loss {best['valid_log_loss']:.4f}), written to {result['output']}.")
    lines.append(f"Next: `sensex train --preset {result['output']}` trains it.")
    emit(result, as_json, "\n".join(lines))
