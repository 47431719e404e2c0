"""`sensex train` and `sensex evaluate`: fitting and scoring models beside the baselines."""

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
    command_settings,
    date_option,
    emit,
    use_ray_address,
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
    universe: str | None = typer.Option(None, "--universe", help="sensex (default) | nifty50 | path to a universe CSV;"
                                        " several, comma-separated (sensex,nifty50), train one model each at once"),
    mode: str = typer.Option("close", "--mode", help="close | preopen; close,preopen trains one model of each at once"),
    ray_address: str | None = RayAddressOption,
    as_json: bool = JsonOption,
):
    """Train and evaluate a model (or several at once); log each run to MLflow."""
    from sensex.jobs import commands

    dates.check_order(train_end, valid_end, "--train-end", "--valid-end")
    dates.check_order(valid_end, test_end, "--valid-end", "--test-end")
    use_ray_address(ray_address)
    universes = [spec.strip() for spec in (universe or "").split(",") if spec.strip()]
    modes = [name.strip() for name in mode.split(",") if name.strip()] or ["close"]
    if len(universes) > 1 or len(modes) > 1:
        settings = writable_home(universes[0] if universes else None)
        for spec in universes[1:]:
            command_settings(spec)  # a bad universe fails now, not after the others trained
        with Progress(as_json) as progress:
            progress("Reading the store", None, None)
            result = commands.train_many(settings, preset, model, universes or None, modes, train_end, valid_end,
                                         test_end, progress=progress)
        emit(result, as_json, _many_lines(result))
        return
    universe, mode = (universes[0] if universes else None), modes[0]
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
    lines.extend(_range_lines(result.get("range")))
    member_range = (result.get("members") or {}).get("range")
    if member_range:
        lines.append(f"  members' range forecast (pooled HAR): test QLIKE {member_range['qlike']:.4f} against each member's"
                     f" 22-session mean {member_range['qlike_mean22']:.4f}, 80% coverage {member_range['coverage_80']:.3f}"
                     f" on {member_range['rows']:,} member-sessions")
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
    ray_address: str | None = RayAddressOption,
    as_json: bool = JsonOption,
):
    """Score a trained model on any stored range, or walk forward over it, beside the baselines."""
    from sensex.jobs import commands

    dates.check_order(start, end)
    use_ray_address(ray_address)

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
    lines.extend(_range_lines(result.get("range")))
    emit(result, as_json, "\n".join(lines))


def _many_lines(result: dict) -> str:
    """`sensex train` of several models: one table, a row per universe and mode."""
    lines = [f"Trained {len(result['runs'])} {result['model']} models ({result['preset']}) on {result['where']} in"
             f" {result['seconds']:.0f} s{' on SYNTHETIC data' if result['synthetic'] else ''}:",
             "| universe | mode | run | registered model | test n | accuracy | AUC | Brier | best baseline AUC |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        m = run["metrics"]
        best = max(run["baselines"].items(), key=lambda item: item[1]["auc"], default=None)
        baseline = f"{best[1]['auc']:.3f} ({best[0]})" if best else "-"
        lines.append(f"| {run['universe']} | {run['mode']} | {run['run_id']} | {run['registered_model']} | {m['test_n']} |"
                     f" {m['test_accuracy']:.3f} | {m['test_auc']:.3f} | {m['test_brier']:.4f} | {baseline} |")
    lines.append("Next: `sensex registry setup --universe U --mode M` for a row registers its run under that registered"
                 " model and promotes the best version that passes the gate.")
    return "\n".join(lines)


def _range_lines(scored: dict | None) -> list[str]:
    """The range forecast's QLIKE beside its baselines and its interval coverage (none when absent)."""
    if not scored:
        return []
    if "metrics" not in scored:
        return [f"  range forecast: none ({scored.get('skipped') or 'no sessions to score'})"]
    baselines = "  ".join(f"{name} {b['qlike']:.3f}" for name, b in scored["baselines"].items())
    return [f"  range forecast (n={scored.get('n')}): QLIKE {scored['metrics']['qlike']:.3f} (lower is better;"
            f" {baselines}); 80% interval coverage {scored['coverage_80']:.3f}, 90% {scored['coverage_90']:.3f}"]


def _after_open_line(m: dict) -> str:
    return (f"  after the open (close > open of the target session): accuracy {m['accuracy']:.3f}"
            f"  AUC {m['auc']:.3f}  Brier {m['brier']:.4f}")
