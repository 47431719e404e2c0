"""`sensex`: a thin shell over `sensex.commands`, the registry and the model server.

Every command takes `--json` and then prints exactly one JSON object on stdout; logs go to
stderr; a SensexError becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

import typer

from sensex.errors import SensexError
from sensex.settings import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="SENSEX next-session direction forecaster.")
data_app = typer.Typer(no_args_is_help=True, help="Fetch, import and check market data.")
registry_app = typer.Typer(no_args_is_help=True, help="MLflow Model Registry: versions, promotion, drift.")
app.add_typer(data_app, name="data")
app.add_typer(registry_app, name="registry")

JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout.")


def _emit(payload: dict, as_json: bool, human: str) -> None:
    if as_json:
        print(json.dumps(payload, default=str))
    else:
        print(human)


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


@data_app.command("update")
def data_update(
    source: str | None = typer.Option(None, help="auto | yfinance | csv | synthetic (default: SENSEX_DATA_SOURCE or auto)"),
    csv_dir: str | None = typer.Option(None, "--csv-dir", help="Directory of per-symbol CSV files (csv source)."),
    start: str | None = typer.Option(None, help="First date to fetch (default: incremental)."),
    end: str | None = typer.Option(None, help="Last date to fetch (default: last completed session)."),
    universe: str | None = typer.Option(None, help="Universe CSV (default: SENSEX members)."),
    exchange: str = typer.Option("BO", help="Yahoo listing: BO (BSE, default) or NS (NSE)."),
    as_json: bool = JsonOption,
):
    """Fetch or import prices into the store, incrementally."""
    from sensex.errors import ConfigError

    if exchange.upper() not in ("BO", "NS"):
        raise ConfigError(f"Unknown exchange {exchange!r}: use BO (BSE) or NS (NSE).")
    from sensex.ingest import update_store
    from sensex.universe import load_universe

    result = update_store(get_settings(), load_universe(universe), source, csv_dir, start, end, exchange=exchange.upper())
    quality = result["quality"]
    human = (
        f"{result['message']}\nStore: {result['rows_added']} rows added, {result['rows_revised']} revised,"
        f" last session {result['last_date']}, source {result['source']}"
        f"{' (SYNTHETIC prices, not real)' if result['synthetic'] else ''}; quality {quality['status']}"
        f" ({quality['statistics']['valid_symbols']}/{quality['statistics']['total_symbols']} members valid)."
    )
    _emit(result, as_json, human)


@data_app.command("status")
def data_status(universe: str | None = typer.Option(None), as_json: bool = JsonOption):
    """Data-quality report of the store."""
    from sensex import commands

    report = commands.data_status(get_settings(), universe)
    stats = report["statistics"]
    lines = [
        f"Status {report['status']} (ready: {report['readiness']}), source {report['source']}"
        f"{' SYNTHETIC' if report.get('synthetic') else ''}, last session {report['last_date']}, stale: {report['stale']}",
        f"Valid members {stats['valid_symbols']}/{stats['total_symbols']} ({stats['data_coverage']}% coverage)",
    ]
    if report.get("calendar", {}).get("message"):
        lines.append(report["calendar"]["message"])
    for symbol, detail in report["symbols"].items():
        for issue in detail.get("issues", []):
            lines.append(f"  {symbol}: {issue['kind']} x{issue['count']} ({issue['first']} .. {issue['last']})")
    _emit(report, as_json, "\n".join(lines))


@app.command()
def train(
    preset: str = typer.Option("quick", help="quick | full | path to a YAML config"),
    model: str = typer.Option("convlstm", help="convlstm | lstm | ensemble (ConvLSTM seeds + baselines, combined on validation)"),
    train_end: str | None = typer.Option(None, "--train-end"),
    valid_end: str | None = typer.Option(None, "--valid-end"),
    test_end: str | None = typer.Option(None, "--test-end"),
    universe: str | None = typer.Option(None),
    as_json: bool = JsonOption,
):
    """Train and evaluate a model; log the run to MLflow."""
    from sensex import commands

    result = commands.train(get_settings(), preset, model, train_end, valid_end, test_end, universe)
    m = result["metrics"]
    lines = [
        f"Run {result['run_id']} ({result['model']}, {result['preset']}, {result['seconds']} s)"
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
    lines.append("Next: `sensex registry setup` registers it and promotes the best version that passes the gate.")
    _emit(result, as_json, "\n".join(lines))


@app.command()
def evaluate(
    start: str = typer.Option(..., help="First session to score."),
    end: str = typer.Option(..., help="Last session to score."),
    run_id: str | None = typer.Option(None, "--run-id"),
    version: str | None = typer.Option(None, "--version"),
    walk_forward: bool = typer.Option(False, "--walk-forward", help="Refit every N months before each block instead of scoring one model."),
    preset: str = typer.Option("walkforward", help="Config for --walk-forward (quick, full, walkforward or a YAML file)."),
    model: str = typer.Option("convlstm", help="Model for --walk-forward: convlstm | lstm | ensemble"),
    refit_months: int | None = typer.Option(None, "--refit-months", help="Block length for --walk-forward (default from the preset)."),
    as_json: bool = JsonOption,
):
    """Score a trained model on any stored range, or walk forward over it, beside the baselines."""
    from sensex import commands

    if walk_forward:
        result = commands.walk_forward(get_settings(), start, end, preset, model, refit_months)
        head = (f"Walk-forward {result['model']} ({result['preset']}, refit every {result['refit_months']} months)"
                f" on {result['start']}..{result['end']} (n={result['n']}){' on SYNTHETIC data' if result['synthetic'] else ''}, run {result['run_id']}")
    else:
        result = commands.evaluate(get_settings(), start, end, run_id, version)
        head = (f"Run {result['run_id']} on {result['start']}..{result['end']} (n={result['n']},"
                f" {result['overlaps_training_rows']} rows inside its training window)")
    m = result["metrics"]
    lines = [head, f"  {'model':<10} accuracy {m['accuracy']:.3f}  AUC {m['auc']:.3f}  Brier {m['brier']:.4f}"]
    for name, b in result["baselines"].items():
        lines.append(f"  {name:<10} accuracy {b['accuracy']:.3f}  AUC {b['auc']:.3f}  Brier {b['brier']:.4f}")
    _emit(result, as_json, "\n".join(lines))


GateOption = typer.Option("quick", "--preset", help="Config whose `promotion` section is the gate (quick, full or a YAML file).")


def _registry(preset: str = "quick"):
    from sensex.config import load_config
    from sensex.serving.model_registry import ModelRegistry

    return ModelRegistry(get_settings(), promotion=load_config(preset).promotion)


def _version_line(v: dict) -> str:
    m = v.get("metrics", {})
    return (f"v{v['version']} {v['stage']:<10} aliases={','.join(v['aliases']) or '-'} "
            f"test_accuracy={_pct(m.get('test_accuracy'))} test_auc={_pct(m.get('test_auc'))} run={v['run_id']}")


@registry_app.command("setup")
def registry_setup(preset: str = GateOption, as_json: bool = JsonOption):
    """Register new runs and promote the best version that passes the gate."""
    result = _registry(preset).setup_automated_promotion()
    _emit(result, as_json, f"{'Promoted' if result['promoted'] else 'Kept'}: {_version_line(result)} ({result['reason']})")


@registry_app.command("list")
def registry_list(as_json: bool = JsonOption):
    """All registered versions with stage and metrics."""
    versions = _registry().list_all_versions()
    _emit({"versions": versions}, as_json, "\n".join(_version_line(v) for v in versions) or "No versions registered.")


@registry_app.command("production")
def registry_production(as_json: bool = JsonOption):
    """The version serving forecasts."""
    production = _registry().require_production_model()
    _emit(production, as_json, _version_line(production))


@registry_app.command("promote")
def registry_promote(version: str, min_accuracy: float | None = typer.Option(None, "--min-accuracy"),
                     preset: str = GateOption, as_json: bool = JsonOption):
    """Promote a version to Production if it passes the gate."""
    result = _registry(preset).promote_model_to_production(version, min_accuracy)
    _emit(result, as_json, f"Promoted: {_version_line(result)}")


@registry_app.command("rollback")
def registry_rollback(as_json: bool = JsonOption):
    """Put the previous production version back."""
    result = _registry().rollback()
    _emit(result, as_json, f"Rolled back: {_version_line(result)}")


@registry_app.command("drift")
def registry_drift(start: str | None = typer.Option(None, help="First session to score (default: the day after the model's test window)."),
                   end: str | None = typer.Option(None, help="Last session to score (default: the last stored one)."),
                   as_json: bool = JsonOption):
    """Score production on sessions it has not seen and compare with its test metrics."""
    from sensex import commands

    result = commands.drift(get_settings(), start, end)
    changes = ", ".join(f"{k} {v['reference']:.3f} -> {v['current']:.3f}" for k, v in result["metrics"].items())
    _emit(result, as_json, f"Drift {'DETECTED in ' + ', '.join(result['drifted_metrics']) if result['drift_detected'] else 'not detected'}"
                           f" for v{result['version']} on {result['window'][0]}..{result['window'][1]} (n={result['n']}): {changes}")


@app.command()
def predict(as_of: str | None = typer.Option(None, "--as-of", help="Forecast from this stored session instead of the latest."),
            as_json: bool = JsonOption):
    """Next-session forecast from the production model."""
    from sensex.serving.model_server import ModelServer

    forecast = ModelServer(get_settings()).predict(as_of)
    version = forecast["model_version"]
    source = f"BASELINE {version.split(':', 1)[1]}, no model passed the gate" if version.startswith("baseline:") else f"model v{version}"
    human = (
        f"{'[SYNTHETIC DATA] ' if forecast['synthetic'] else ''}SENSEX {forecast['target_date']}: {forecast['direction']}"
        f" P(UP)={forecast['probability']:.3f} interval {forecast['interval'][0]:.3f}-{forecast['interval'][1]:.3f}"
        f"{' (no call)' if forecast['no_call'] else ''} skill {forecast['skill']}, confidence {forecast['confidence']},"
        f" risk {forecast['risk']}"
        f" ({source}, data to {forecast['as_of']}{', STALE' if forecast['stale'] else ''})\n{forecast['note']}"
    )
    _emit(forecast, as_json, human)


@app.command()
def serve(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000), workers: int = typer.Option(1)):
    """Run the REST API (FastAPI on uvicorn)."""
    import uvicorn

    uvicorn.run("sensex.serving.api:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@app.command("app")
def run_app(port: int | None = typer.Option(None, help="Default: STREAMLIT_SERVER_PORT or 8501"),
            address: str | None = typer.Option(None, help="Default: STREAMLIT_SERVER_ADDRESS or 127.0.0.1")):
    """Run the Streamlit dashboard."""
    from pathlib import Path

    script = Path(__file__).resolve().parent / "app" / "main.py"
    port = port or int(os.environ.get("STREAMLIT_SERVER_PORT", "8501"))
    address = address or os.environ.get("STREAMLIT_SERVER_ADDRESS", "127.0.0.1")
    print(f"Dashboard: http://{address}:{port}  (Ctrl-C stops it)", flush=True)
    args = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]
    os.execv(sys.executable, args)


def _quiet_libraries() -> None:
    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic", "urllib3", "yfinance", "httpx", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    logging.basicConfig(level=os.environ.get("SENSEX_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    try:
        app(standalone_mode=False)
    except SensexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
