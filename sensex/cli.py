"""`sensex`: a thin shell over `sensex.commands`, the registry and the model server.

Every command takes `--json` and then prints exactly one JSON object on stdout; logs go to
stderr; an error is one line on stderr (`error: ...`) and a non-zero exit, never a traceback:
exit 2 for a usage error or a SensexError, 1 for an unwritable SENSEX_HOME, 130 on Ctrl-C.
Long commands show progress on stderr when it is a terminal and `--json` is off.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer

from sensex import dates
from sensex.errors import ConfigError, SensexError, storage_error
from sensex.redaction import install_log_redaction


def get_settings():
    # pydantic-settings costs ~0.15 s to import: `sensex --help` must not pay it (target < 0.3 s).
    from sensex.settings import get_settings as settings

    return settings()

app = typer.Typer(add_completion=False, no_args_is_help=True, help="SENSEX next-session direction forecaster.")
data_app = typer.Typer(no_args_is_help=True, help="Fetch, import and check market data.")
registry_app = typer.Typer(no_args_is_help=True, help="MLflow Model Registry: versions, promotion, drift.")
app.add_typer(data_app, name="data")
app.add_typer(registry_app, name="registry")

JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout.")
UniverseOption = typer.Option(None, "--universe", help="sensex (default) | nifty50 | path to a universe CSV (default: SENSEX_UNIVERSE or sensex).")
ModeOption = typer.Option("close", "--mode", help="close (after BSE's close) | preopen (before BSE opens, with the overnight S&P 500)")


def _package_version() -> str:
    try:
        return version("sensex")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        print(f"sensex {_package_version()}")
        raise typer.Exit()


@app.callback()
def _root(_version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                        help="Print the package version and exit.")) -> None:
    """SENSEX next-session direction forecaster."""


def _date_option(name: str):
    """A typer callback that accepts only YYYY-MM-DD and hands the ISO text on."""
    return lambda value: dates.parse_optional(value, name)


def DateOption(name: str, help: str):  # noqa: N802 - reads like typer.Option at the call site
    return typer.Option(None, name, help=f"{help} (YYYY-MM-DD).", callback=_date_option(name))


def _settings(universe: str | None = None):
    """The process settings, with `--universe` (when given) in place of SENSEX_UNIVERSE. The universe
    is loaded once here so a bad name or file fails in a moment with its own sentence."""
    from sensex.universe import load_universe

    settings = get_settings()
    if universe is not None:
        settings = settings.model_copy(update={"universe": universe})
    load_universe(settings.universe)
    return settings


def _use_universe(universe: str | None) -> None:
    """For commands that start other processes (API, dashboard, daily job): the option becomes
    their SENSEX_UNIVERSE."""
    if universe is not None:
        _settings(universe)
        os.environ["SENSEX_UNIVERSE"] = universe
        get_settings.cache_clear()


def _writable_home(universe: str | None = None):
    """Settings, after checking that the commands that write can: fail in a second, not after
    minutes of training or downloading."""
    from sensex.errors import StorageError

    settings = _settings(universe)
    home = settings.home
    existing = home if home.exists() else next((p for p in home.parents if p.exists()), home)
    database = Path(settings.tracking_uri.removeprefix("sqlite:///")) if settings.tracking_uri.startswith("sqlite:///") else None
    for path in (existing, database):
        if path is not None and path.exists() and not os.access(path, os.W_OK):
            raise StorageError(f"Cannot write {path}: make SENSEX_HOME ({home}) writable, or set SENSEX_HOME to a"
                               " writable directory.")
    return settings


def _emit(payload: dict, as_json: bool, human: str) -> None:
    if as_json:
        print(json.dumps(payload, default=str))
    else:
        print(human)


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


class _Progress:
    """Progress of long work on stderr (rich): one line per stage, a bar with elapsed and remaining
    time when the work is counted (epochs, files). Silent with --json or when stderr is not a
    terminal, so scripts and logs see only their one JSON object and the log lines."""

    def __init__(self, as_json: bool, console=None):
        self.enabled = console is not None or (not as_json and sys.stderr.isatty())
        self._console = console
        self._progress = None
        self._task = None
        self._total = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("remaining"), TimeRemainingColumn(),
                console=self._console or Console(stderr=True), transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, description: str, done: int | None, total: int | None) -> None:
        """The library's `progress(description, done, total)` callback."""
        if self._progress is None:
            return
        if self._task is not None and total is not None and self._total is not None:
            # The same count goes on (the next epoch or file; an early stop shortens the total).
            self._progress.update(self._task, description=description, completed=done or 0, total=total)
            self._total = total
            return
        # A new stage starts a new line; the line before it is marked done.
        if self._task is not None:
            finished = self._progress.tasks[-1]
            self._progress.update(self._task, total=finished.total or 1, completed=finished.total or 1)
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(description, total=total, completed=done or 0)
        self._total = total


@data_app.command("update")
def data_update(
    source: str | None = typer.Option(None, help="auto | yfinance | csv | synthetic (default: SENSEX_DATA_SOURCE or auto)"),
    csv_dir: str | None = typer.Option(None, "--csv-dir", help="Directory of per-symbol CSV files (csv source)."),
    start: str | None = DateOption("--start", "First date to fetch (default: incremental)"),
    end: str | None = DateOption("--end", "Last date to fetch (default: last completed session)"),
    universe: str | None = UniverseOption,
    exchange: str | None = typer.Option(None, help="Yahoo listing: BO (BSE) or NS (NSE); default: the universe's exchange."),
    as_json: bool = JsonOption,
):
    """Fetch or import prices into the store, incrementally."""
    if exchange is not None and exchange.upper() not in ("BO", "NS"):
        raise ConfigError(f"Unknown exchange {exchange!r}: use BO (BSE) or NS (NSE).")
    dates.check_order(start, end)
    from sensex.ingest import update_store
    from sensex.universe import load_universe

    with _Progress(as_json) as progress:
        settings = _writable_home(universe)
        result = update_store(settings, load_universe(settings.universe), source, csv_dir, start, end,
                              exchange=exchange.upper() if exchange else None, progress=progress)
    if result["rows_added"] or result["rows_revised"] or result["replaced_store"]:
        from sensex.serving.model_server import prepare_latest_windows

        # Running servers then read the new session's inputs instead of computing them.
        prepare_latest_windows(settings)
    quality = result["quality"]
    human = (
        f"{result['message']}\nStore: {result['rows_added']} rows added, {result['rows_revised']} revised,"
        f" last session {result['last_date']}, source {result['source']}"
        f"{' (SYNTHETIC prices, not real)' if result['synthetic'] else ''}; quality {quality['status']}"
        f" ({quality['statistics']['valid_symbols']}/{quality['statistics']['total_symbols']} members valid)."
    )
    _emit(result, as_json, human)


@data_app.command("status")
def data_status(universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Data-quality report of the store."""
    from sensex import commands

    report = commands.data_status(_settings(universe))
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
    _emit(report, as_json, "\n".join(lines))


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
    from sensex import commands

    dates.check_order(train_end, valid_end, "--train-end", "--valid-end")
    dates.check_order(valid_end, test_end, "--valid-end", "--test-end")
    with _Progress(as_json) as progress:
        progress("Reading the store", None, None)
        result = commands.train(_writable_home(universe), preset, model, train_end, valid_end, test_end, None, mode,
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
    _emit(result, as_json, "\n".join(lines))


@app.command()
def evaluate(
    start: str = typer.Option(..., help="First session to score (YYYY-MM-DD).", callback=_date_option("--start")),
    end: str = typer.Option(..., help="Last session to score (YYYY-MM-DD).", callback=_date_option("--end")),
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
    from sensex import commands

    dates.check_order(start, end)

    if walk_forward:
        result = commands.walk_forward(_settings(universe), start, end, preset, model, refit_months, mode=mode)
        head = (f"Walk-forward {result['model']} ({result['preset']}, refit every {result['refit_months']} months)"
                f" on {result['start']}..{result['end']} (n={result['n']}){' on SYNTHETIC data' if result['synthetic'] else ''}, run {result['run_id']}")
    else:
        result = commands.evaluate(_settings(universe), start, end, run_id, version, mode)
        head = (f"Run {result['run_id']} ({result['mode']} mode) on {result['start']}..{result['end']} (n={result['n']},"
                f" {result['overlaps_training_rows']} rows inside its training window)")
    m = result["metrics"]
    lines = [head, f"  {'model':<10} accuracy {m['accuracy']:.3f}  AUC {m['auc']:.3f}  Brier {m['brier']:.4f}"]
    for name, b in result["baselines"].items():
        lines.append(f"  {name:<10} accuracy {b['accuracy']:.3f}  AUC {b['auc']:.3f}  Brier {b['brier']:.4f}")
    if "metrics_after_open" in result:
        lines.append(_after_open_line(result["metrics_after_open"]))
    _emit(result, as_json, "\n".join(lines))


def _after_open_line(m: dict) -> str:
    return (f"  after the open (close > open of the target session): accuracy {m['accuracy']:.3f}"
            f"  AUC {m['auc']:.3f}  Brier {m['brier']:.4f}")


GateOption = typer.Option("quick", "--preset", help="Config whose `promotion` section is the gate (quick, full or a YAML file).")


def _registry(preset: str = "quick", mode: str = "close", writes: bool = False, universe: str | None = None):
    from sensex.config import load_config
    from sensex.serving.model_registry import ModelRegistry

    return ModelRegistry(_writable_home(universe) if writes else _settings(universe), promotion=load_config(preset).promotion,
                         mode=mode)


def _version_line(v: dict) -> str:
    m = v.get("metrics", {})
    return (f"v{v['version']} {v['stage']:<10} aliases={','.join(v['aliases']) or '-'} "
            f"test_accuracy={_pct(m.get('test_accuracy'))} test_auc={_pct(m.get('test_auc'))} run={v['run_id']}")


@registry_app.command("setup")
def registry_setup(preset: str = GateOption, mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Register new runs and promote the best version that passes the gate."""
    result = _registry(preset, mode, writes=True, universe=universe).setup_automated_promotion()
    _emit(result, as_json, f"{'Promoted' if result['promoted'] else 'Kept'}: {_version_line(result)} ({result['reason']})")


@registry_app.command("list")
def registry_list(mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """All registered versions with stage and metrics."""
    versions = _registry(mode=mode, universe=universe).list_all_versions()
    _emit({"versions": versions}, as_json, "\n".join(_version_line(v) for v in versions) or "No versions registered.")


@registry_app.command("production")
def registry_production(mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """The version serving forecasts."""
    production = _registry(mode=mode, universe=universe).require_production_model()
    _emit(production, as_json, _version_line(production))


@registry_app.command("promote")
def registry_promote(version: str, min_accuracy: float | None = typer.Option(None, "--min-accuracy"),
                     preset: str = GateOption, mode: str = ModeOption, universe: str | None = UniverseOption,
                     as_json: bool = JsonOption):
    """Promote a version to Production if it passes the gate."""
    from sensex.config import check_threshold

    check_threshold(min_accuracy)  # before the registry is opened: a bad number fails in a moment
    result = _registry(preset, mode, writes=True, universe=universe).promote_model_to_production(version, min_accuracy)
    _emit(result, as_json, f"Promoted: {_version_line(result)}")


@registry_app.command("rollback")
def registry_rollback(mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Put the previous production version back."""
    result = _registry(mode=mode, writes=True, universe=universe).rollback()
    _emit(result, as_json, f"Rolled back: {_version_line(result)}")


@registry_app.command("doctor")
def registry_doctor(universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Repair what a killed promotion or training left: tags, aliases, log events, runs, scratch files."""
    result = _registry(universe=universe).doctor()
    human = "\n".join([f"Production: v{result['production']}" if result["production"] else "No production version.",
                        *[f"  repaired: {c}" for c in result["repairs"]],
                        *[f"  run marked FAILED: {r}" for r in result["failed_runs"]],
                        *[f"  removed: {p}" for p in result["removed"]],
                        "Registry, log, runs and scratch files agree." if not result["changed"] else "Done."])
    _emit(result, as_json, human)


@registry_app.command("drift")
def registry_drift(start: str | None = DateOption("--start", "First session to score (default: the day after the model's test window)"),
                   end: str | None = DateOption("--end", "Last session to score (default: the last stored one)"),
                   sessions: int | None = typer.Option(None, "--sessions", min=20, max=5000,
                                                       help="Latest sessions the feature drift compares with training (default: the preset's promotion.drift_sessions, 60)."),
                   preset: str = GateOption, mode: str = ModeOption, universe: str | None = UniverseOption,
                   as_json: bool = JsonOption):
    """Drift of the production model: performance on unseen sessions, feature PSI, the live record."""
    from sensex.config import load_config
    from sensex.serving.model_server import ModelServer

    dates.check_order(start, end)
    result = ModelServer(_settings(universe), mode=mode).drift(start, end, sessions, load_config(preset).promotion)
    lines = [f"Drift of v{result['version']} ({result['mode']}): {result['severity'].upper()} - {result['recommendation']}"]
    lines += [f"  {part:<12}{result[part]['severity']:<8}{result[part]['reason']}" for part in ("performance", "features", "live")]
    _emit(result, as_json, "\n".join(lines))


@app.command()
def predict(as_of: str | None = DateOption("--as-of", "Forecast from this stored session instead of the latest"),
            mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Next-session forecast from the production model of the mode."""
    from sensex import store
    from sensex.serving.model_server import ModelServer

    settings = _settings(universe)
    if as_of is not None:
        meta = store.read_meta(settings.store_dir) or {}
        dates.check_as_of(as_of, meta.get("first_date"), meta.get("last_date"))
    server = ModelServer(settings, mode=mode)
    forecast = server.predict(as_of)
    version = forecast["model_version"]
    source = f"BASELINE {version.split(':', 1)[1]}, no model passed the gate" if version.startswith("baseline:") else f"model v{version}"
    human = (
        f"{'[SYNTHETIC DATA] ' if forecast['synthetic'] else ''}{server.universe.name} {forecast['target_date']}: {forecast['direction']}"
        f" P(UP)={forecast['probability']:.3f} interval {forecast['interval'][0]:.3f}-{forecast['interval'][1]:.3f}"
        f"{' (no call)' if forecast['no_call'] else ''} skill {forecast['skill']}, confidence {forecast['confidence']},"
        f" risk {forecast['risk']}"
        f" ({source}, {forecast['mode']} mode, data to {forecast['as_of']}"
        f"{', S&P 500 to ' + forecast['last_sp500_session'] if forecast['last_sp500_session'] else ''}"
        f"{', STALE' if forecast['stale'] else ''})\n{forecast['note']}"
    )
    if forecast.get("logged") is False and not forecast.get("cached"):
        human += "\nThis forecast was not written to the prediction log (see the warning above)."
    _emit(forecast, as_json, human)


@app.command()
def market(universe: str | None = typer.Option(None, help="Universe CSV (default: SENSEX members)."),
           as_json: bool = JsonOption):
    """Is BSE open now? The market clock, the live SENSEX when online, the last stored close."""
    from sensex.serving.market_status import market_status, render
    from sensex.universe import load_universe

    status = market_status(get_settings(), load_universe(universe))
    _emit(status, as_json, render(status))


@app.command()
def daily(alerts: str | None = typer.Option(None, "--alerts", help="Alerts file (default: $SENSEX_HOME/alerts.yaml when it exists)."),
          date: str | None = typer.Option(None, "--date", help="Run for this date as if after its close (default: now, IST)."),
          universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """The cron job for one trading day: update, outcomes, drift, retrain when due, forecast, alerts."""
    from sensex.errors import DailyJobFailed
    from sensex.operations.daily import render, run_daily

    summary = run_daily(_settings(universe), alerts_path=alerts, day=date)
    _emit(summary, as_json, render(summary))
    if summary["status"] == "failed":
        raise DailyJobFailed(summary["message"])


@app.command()
def serve(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000), workers: int = typer.Option(1),
          universe: str | None = UniverseOption):
    """Run the REST API (FastAPI on uvicorn)."""
    import uvicorn

    _use_universe(universe)  # the API's workers read it from the environment
    uvicorn.run("sensex.serving.api:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@app.command("app")
def run_app(port: int | None = typer.Option(None, help="Default: STREAMLIT_SERVER_PORT or 8501"),
            address: str | None = typer.Option(None, help="Default: STREAMLIT_SERVER_ADDRESS or 127.0.0.1"),
            universe: str | None = UniverseOption):
    """Run the Streamlit dashboard."""
    _use_universe(universe)  # the universe shown first; the sidebar selector switches to the others
    port = port or int(os.environ.get("STREAMLIT_SERVER_PORT", "8501"))
    address = address or os.environ.get("STREAMLIT_SERVER_ADDRESS", "127.0.0.1")
    print(f"Dashboard: http://{address}:{port}  (Ctrl-C stops it)", flush=True)
    # `streamlit run sensex/app/main.py`, with the first page readied while the browser loads. It
    # serves, it does not develop: no file watcher (0.3-0.4 s of CPU at start, registering every
    # imported module after the first run); `streamlit run sensex/app/main.py` reloads on edits.
    # In this process: exec'ing `python -m sensex.app.launch` started a second interpreter after
    # this one had imported the CLI (0.2 s more before the dashboard listened).
    from sensex import memory
    from sensex.app import launch

    # Every script run is a new thread with its own glibc arena; two arenas keep the dashboard
    # about 25 MB smaller (bench/app.py) at no measurable cost in speed.
    memory.limit_arenas()
    launch.main(["--server.port", str(port), "--server.address", address, "--server.headless", "true",
                 "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
                 "--server.fileWatcherType", "none"])


def mlflow_ui(host: str = typer.Option("127.0.0.1", help="Address to listen on."),
              port: int = typer.Option(5000, help="Port to listen on.")):
    """Open the MLflow UI on the project's runs and registered models."""
    from sensex import tracking

    settings = get_settings()
    experiment_id = tracking.configure(settings)
    try:
        tracking.ensure_experiment_kind(settings)
    except Exception as exc:  # noqa: BLE001 - a read-only store can still be viewed; the URL picks the view
        logging.getLogger("sensex.cli").warning("Could not tag the experiment as model training: %s", exc)
    if settings.tracking_uri.startswith(("http://", "https://")):
        base = settings.tracking_uri.rstrip("/")
        print(f"MLFLOW_TRACKING_URI is a tracking server with its own UI: open {tracking.runs_url(base, experiment_id)}")
        return
    url = tracking.runs_url(f"http://{host}:{port}", experiment_id)
    print(f"MLflow UI on {settings.tracking_uri}: {url}  (Ctrl-C stops it)", flush=True)
    args = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", settings.tracking_uri,
            "--default-artifact-root", settings.artifacts_dir.as_uri(),
            "--artifacts-destination", settings.artifacts_dir.as_uri(), "--host", host, "--port", str(port),
            "--workers", "1"]
    # One worker and no GenAI job runners (seven more processes otherwise): this is a local viewer.
    os.execve(sys.executable, args, {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})


app.command("mlflow")(mlflow_ui)
app.command("ui", help="Same as `sensex mlflow`.")(mlflow_ui)


def _quiet_libraries() -> None:
    # Only third-party noise, by category and module; every other warning still shows. torch's
    # TorchScript exporter warns that an LSTM exported with a dynamic batch may fail at another
    # batch size, but training measures ONNX-vs-torch parity on a batch of 32 and reports it
    # (`onnx_parity_max_abs`, about 4e-8 for the LSTM): the warning is noise here.
    warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1",
                            category=UserWarning, module=r"torch\.onnx\.")
    debugging = os.environ.get("SENSEX_LOG_LEVEL", "").upper() == "DEBUG"
    for name in ("mlflow", "alembic", "urllib3", "yfinance", "httpx", "onnxscript"):
        # Their errors reach the user as our one-line sentence; MLflow would also print a traceback.
        logging.getLogger(name).setLevel(logging.DEBUG if debugging else logging.CRITICAL)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, so log lines print above a live progress bar."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _click_exceptions():
    """Typer 0.2x vendors click as `typer._click`; older typers use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions
    return exceptions


def _usage_sentence(exc) -> str:
    """Click's message as one line, with where to look for the right usage."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "sensex"
    return f"{message}: see `{command} --help`."


def _unexpected_sentence(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "readonly database" in text or "read-only file system" in text.lower():
        settings = get_settings()
        return (f"The MLflow store {settings.tracking_uri} cannot be written: make SENSEX_HOME ({settings.home})"
                " writable, or set SENSEX_HOME to a writable directory.")
    first = text.split(". ")[0][:300] or type(exc).__name__
    return (f"{type(exc).__name__}: {first} (this is unexpected: rerun with SENSEX_LOG_LEVEL=DEBUG for the"
            " traceback and report it).")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Every failure becomes one `error:` line on stderr."""
    click_errors = _click_exceptions()

    def error(message: str) -> None:
        print(f"error: {message}", file=sys.stderr, flush=True)

    try:
        result = app(args=argv, prog_name="sensex", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:
        return 0  # `sensex` alone (or `sensex data`): typer has printed the help
    except click_errors.UsageError as exc:
        error(_usage_sentence(exc))
        return 2
    except click_errors.ClickException as exc:
        error(" ".join(exc.format_message().split()))
        return exc.exit_code
    except SensexError as exc:
        error(str(exc))
        return exc.exit_code
    except OSError as exc:  # a read-only, full or broken SENSEX_HOME (or a path a user gave)
        exc_error = storage_error(exc, get_settings().home)
        error(str(exc_error))
        return exc_error.exit_code
    except (typer.Abort, KeyboardInterrupt):
        error("interrupted.")
        return 130
    except Exception as exc:  # a bug or a library's own error: still one line, the traceback at DEBUG
        logging.getLogger("sensex.cli").debug("Unexpected error", exc_info=True)
        error(_unexpected_sentence(exc))
        return 1
    # Without standalone mode typer returns an Exit's code (--help, --version, Ctrl-C in a prompt).
    return result if isinstance(result, int) else 0


def main() -> None:
    logging.basicConfig(level=os.environ.get("SENSEX_LOG_LEVEL", "INFO"), handlers=[_StderrHandler()],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    install_log_redaction()
    sys.exit(run())


if __name__ == "__main__":
    main()
